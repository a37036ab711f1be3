"""Evaluation: ranking metrics (RecBole definitions), activity buckets, result reports."""
