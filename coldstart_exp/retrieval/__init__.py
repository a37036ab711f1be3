"""Text encoder and faiss indexes (item texts → vectors → neighbours).

Import is cheap: sentence-transformers and faiss load on first use.
"""
from .encoder import TextEncoder, embedded_minilm
from .index import FaissIndex, build_index, gpu_available

__all__ = ["FaissIndex", "TextEncoder", "build_index", "embedded_minilm", "gpu_available"]
