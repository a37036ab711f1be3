"""Serving path: cold-item embeddings in a faiss index (inner product), queried by user embeddings.

`kind="hnsw"` is the paper's approximate index; `kind="flat"` is exact search, for checking.
Built with the project's `coldstart_exp.retrieval.build_index` (ids = item ids).
"""

from __future__ import annotations

import numpy as np

from ...retrieval import FaissIndex, build_index


def topk_excluding(index: FaissIndex, queries: np.ndarray, k: int, seen: list[np.ndarray]) -> np.ndarray:
    """(Q, k) item ids, best first, skipping each query's `seen` items (padded with 0)."""
    extra = max((len(s) for s in seen), default=0)
    _, ids = index.search(queries, min(k + extra, index.ntotal))
    out = np.zeros((len(queries), k), np.int64)
    for r, row in enumerate(ids):
        keep = row[(row >= 0) & ~np.isin(row, seen[r])][:k] if len(seen[r]) else row[row >= 0][:k]
        out[r, : len(keep)] = keep
    return out


def agreement_at(vectors: np.ndarray, queries: np.ndarray, k: int, **index_kw) -> float:
    """Recall@k of the HNSW index against exact search: the share of HNSW's top-k whose exact score
    reaches the exact k-th score (tie-aware, so equal-score items count as equally right)."""
    ids = np.arange(len(vectors))
    k = min(k, len(vectors))
    _, approx = build_index(vectors, "hnsw", ids=ids, **index_kw).search(queries, k)
    exact = queries.astype(np.float32) @ vectors.astype(np.float32).T
    kth = -np.sort(-exact, axis=1)[:, k - 1: k]
    got = np.take_along_axis(exact, np.clip(approx, 0, None), 1) >= kth - 1e-5
    return float(np.mean(got & (approx >= 0)))
