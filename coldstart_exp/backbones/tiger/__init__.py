"""TIGER (Rajput et al. 2023): generative retrieval over RQ-VAE semantic IDs.

retrieval.TextEncoder (item embeddings) -> rqvae.py -> semantic_ids.py (+ collision token, disk cache) ->
trie.py (valid IDs) -> seq2seq.py (encoder-decoder) -> model.py (the `Backbone`: loss, beam search).
"""

from .model import TIGER

__all__ = ["TIGER"]
