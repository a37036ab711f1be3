"""GVM "Mine": step embeddings -> step types (faiss k-means) -> the best ordered pattern.

Why a pure module: the issue demands that the mined pattern be a deterministic function of its
inputs (chains, their scores, the step embeddings and the seed). Everything here is numpy/faiss
with fixed seeds and total-order tie-breaks, no global state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ...retrieval import kmeans


@dataclass
class MinedPattern:
    types: list[int]                  # ordered step types, length K
    instructions: list[str]           # one readable instruction per step (exemplar of the type)
    support: int                      # chains that contain the pattern (ordered subsequence)
    mean_score: float                 # mean validation Recall@20 of those chains
    stats: list[dict] = field(default_factory=list)  # every candidate pattern: support, mean score
    type_exemplars: dict[int, str] = field(default_factory=dict)  # type -> step text nearest its centroid
    type_sizes: dict[int, int] = field(default_factory=dict)


def kmeans_types(step_emb: np.ndarray, n_types: int, seed: int = 0, niter: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """(labels, centroids): faiss k-means on L2-normalised step embeddings (spherical), seeded."""
    x = np.ascontiguousarray(step_emb, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return kmeans(x, int(max(1, min(n_types, len(x)))), seed=int(seed), niter=niter, spherical=True)


def exemplars(steps: list[str], step_emb: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> dict[int, str]:
    """The step text nearest each centroid: a human-readable name for the step type."""
    x = step_emb / np.maximum(np.linalg.norm(step_emb, axis=1, keepdims=True), 1e-12)
    out = {}
    for t in range(len(centroids)):
        idx = np.flatnonzero(labels == t)
        if len(idx):
            sims = x[idx] @ centroids[t]
            best = idx[np.lexsort((idx, -sims))[0]]  # highest similarity, lowest index on ties
            out[t] = steps[best]
    return out


def candidate_patterns(type_seq: list[int], k: int) -> set[tuple[int, ...]]:
    """Ordered length-k subsequences of one chain's type sequence (consecutive repeats collapsed)."""
    seq = [t for i, t in enumerate(type_seq) if i == 0 or t != type_seq[i - 1]]
    if len(seq) < k:
        return set()
    return {tuple(seq[i] for i in idx) for idx in combinations(range(len(seq)), k)}


def mine_pattern(type_seqs: list[list[int]], scores: list[float], k: int, min_support: int) -> tuple[tuple[int, ...] | None, list[dict]]:
    """Best mean score among patterns with support >= min_support.

    Ties: higher support, then the lexicographically smallest pattern — a total order, so the
    choice never depends on dict or hash ordering.
    """
    sup: dict[tuple[int, ...], list[float]] = {}
    for seq, s in zip(type_seqs, scores):
        for p in candidate_patterns(seq, k):
            sup.setdefault(p, []).append(float(s))
    stats = [{"pattern": list(p), "support": len(v), "mean_score": float(np.mean(v))} for p, v in sup.items()]
    stats.sort(key=lambda r: (-r["mean_score"], -r["support"], r["pattern"]))
    eligible = [r for r in stats if r["support"] >= min_support]
    if not eligible:  # relax: the most supported pattern (documented fallback)
        eligible = sorted(stats, key=lambda r: (-r["support"], -r["mean_score"], r["pattern"]))
    best = tuple(eligible[0]["pattern"]) if eligible else None
    for r in stats:
        r["eligible"] = r["support"] >= min_support
        r["chosen"] = best is not None and tuple(r["pattern"]) == best
    return best, stats


def run_mining(chains: list[list[str]], scores: list[float], step_emb: np.ndarray, k: int, n_types: int,
               min_support: int, seed: int = 0) -> MinedPattern:
    """chains: steps per chain (text); step_emb: embeddings of all steps, chain by chain in order."""
    flat = [s for c in chains for s in c]
    if len(flat) != len(step_emb):
        raise ValueError(f"{len(flat)} steps but {len(step_emb)} embeddings")
    labels, cents = kmeans_types(step_emb, n_types, seed)
    ex = exemplars(flat, step_emb, labels, cents)
    seqs, o = [], 0
    for c in chains:
        seqs.append(labels[o:o + len(c)].tolist())
        o += len(c)
    best, stats = mine_pattern(seqs, scores, k, min_support)
    if best is None:  # no chain long enough: the K most frequent types, in type order
        counts = np.bincount(labels, minlength=len(cents))
        best = tuple(sorted(np.argsort(-counts, kind="stable")[:k].tolist()))
        support, mean = 0, float("nan")
    else:
        row = next(r for r in stats if tuple(r["pattern"]) == best)
        support, mean = row["support"], row["mean_score"]
    sizes = {int(t): int((labels == t).sum()) for t in range(len(cents))}
    return MinedPattern(list(best), [ex.get(t, "") for t in best], support, mean, stats, ex, sizes)


def random_pattern(exemplar_by_type: dict[int, str], k: int, seed: int) -> tuple[list[int], list[str]]:
    """Ablation "random pattern": K step types drawn without the validation scores."""
    types = sorted(exemplar_by_type)
    rng = np.random.default_rng(seed)
    pick = rng.choice(types, size=min(k, len(types)), replace=False).tolist()
    return pick, [exemplar_by_type[t] for t in pick]
