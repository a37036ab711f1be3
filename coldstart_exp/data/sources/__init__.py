"""Data sources: each a `Source` subclass chosen by `data.source._target_` in `conf/data/<name>.yaml`.

A new source is a class here (or anywhere importable) plus a YAML file; nothing is registered.
Sources shipped: `ml100k.ML100K`, `ml1m.ML1M`, `amazon.Amazon` (2014 and 2023 dumps, any category;
the shared Beauty TSVs), `delimited.Delimited` (any CSV/TSV), `atomic.Atomic` (RecBole atomic files),
`synthetic.Synthetic` (generated, for tests).
"""

from ..loading import Source

__all__ = ["Source"]
