"""Lexical retrieval: one Okapi BM25 index (`rank-bm25`) over a fixed corpus, ranking any subset of it."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric tokens (what BM25 and the style features count)."""
    return _TOKEN.findall(text.lower())


class BM25Index:
    """BM25 over `docs`, addressed by `ids` (e.g. review ids); `rank` scores only the given candidates."""

    def __init__(self, docs: Sequence[str], ids: Sequence[int]):
        from rank_bm25 import BM25Okapi

        self.ids = np.asarray(ids, dtype=np.int64)
        self._pos = {int(i): p for p, i in enumerate(self.ids)}
        self.bm25 = BM25Okapi([tokenize(d) or ["<empty>"] for d in docs])

    def __contains__(self, doc_id: int) -> bool:
        return int(doc_id) in self._pos

    def rank(self, query: str, candidates: Sequence[int], k: int | None = None) -> list[int]:
        """Candidate ids ranked by BM25 against `query` (ties by id); every candidate must be indexed."""
        cand = np.sort(np.asarray(candidates, dtype=np.int64))
        if not len(cand):
            return []
        missing = [int(c) for c in cand if int(c) not in self._pos]
        if missing:
            raise ValueError(f"BM25 candidates include documents outside the indexed corpus: {missing[:5]}")
        q = tokenize(query)
        pos = [self._pos[int(c)] for c in cand]
        scores = np.asarray(self.bm25.get_batch_scores(q, pos)) if q else np.zeros(len(cand))
        order = np.lexsort((cand, -scores))
        return cand[order][: k or len(cand)].tolist()
