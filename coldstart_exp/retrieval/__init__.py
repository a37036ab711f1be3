"""The text/retrieval layer: item texts -> vectors (one encoder, one embedding cache) -> neighbours
(one faiss index builder), and `cache_key`, the key every on-disk cache uses.

Item text itself comes from `Tables.item_texts()`. Import is cheap: sentence-transformers and
faiss load on first use.
"""
from .encoder import HashEncoder, TextEncoder, build_encoder, embedded_minilm
from .index import FaissIndex, build_index, gpu_available, kmeans
from .keys import cache_key

__all__ = ["FaissIndex", "HashEncoder", "TextEncoder", "build_encoder", "build_index", "cache_key",
           "embedded_minilm", "gpu_available", "kmeans"]
