"""Verification of chains against the user's observed *training* behaviour, and outcome scores.

Why: closed-label steps that name genres (interests, genre affinity) are checkable. A chain is
verified when its outcome-level step (the last verifiable one) names one of the genres the user
rated highly most often in the training interactions; only verified chains are distilled. The
same genre shares give OSIPO's outcome score of a sampled chain. Only `split.train` is read, so
held-out (validation/test) users' targets can never leak in.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from .chain import ChainSpec


def liked_genre_shares(train: pd.DataFrame, items: pd.DataFrame, like_rating: float | None,
                       min_liked: int) -> dict[int, dict[str, float]]:
    """user -> {genre: share of the user's liked training items carrying it} (users with >= min_liked)."""
    df = train
    if like_rating is not None and "rating" in df.columns:
        df = df[df.rating >= like_rating]
    cats = items["categories"]
    out: dict[int, dict[str, float]] = {}
    for u, its in df.groupby("user").item:
        its = its.to_numpy()
        if len(its) < min_liked:
            continue
        c = Counter(g for i in its for g in cats.iloc[i])
        out[int(u)] = {g: n / len(its) for g, n in c.items()}
    return out


def step_score(step, label: str, shares: dict[str, float]) -> float:
    """Share of liked items covered by the label's genres (0 for unverifiable steps)."""
    return float(sum(shares.get(g, 0.0) for g in step.genres.get(label, ())))


def outcome_score(spec: ChainSpec, labels: list[str], shares: dict[str, float]) -> float:
    """Weighted mean of the verifiable steps' genre coverage (OSIPO's outcome)."""
    num = den = 0.0
    for s, lab in zip(spec.steps, labels):
        if s.genres:
            num += s.weight * step_score(s, lab, shares)
            den += s.weight
    return num / den if den else 0.0


def verify(spec: ChainSpec, labels: list[str], shares: dict[str, float] | None, top_n: int) -> bool:
    """True if the last verifiable step names one of the user's top-n liked genres."""
    if not shares:
        return False
    steps = [(s, lab) for s, lab in zip(spec.steps, labels) if s.genres]
    if not steps:
        return True  # nothing checkable: every chain passes
    s, lab = steps[-1]
    top = [g for g, _ in sorted(shares.items(), key=lambda t: -t[1])[:top_n]]
    return any(g in top for g in s.genres.get(lab, ()))


def sample_pairs(spec: ChainSpec, chains: dict, shares: dict[int, dict], users: list[int], per_user: int,
                 seed: int) -> list[dict]:
    """OSIPO pairs: for each user, sample two chains from the teacher's per-step distributions and
    order them by outcome score (ties dropped). Returns {user, chosen, rejected, margin}."""
    rng = np.random.default_rng(seed)
    pairs = []
    for u in users:
        c = chains[u]
        for _ in range(per_user):
            a, b = ([s.labels[rng.choice(len(s.labels), p=_p(c.probs[i]))] for i, s in enumerate(spec.steps)]
                    for _ in range(2))
            sa, sb = outcome_score(spec, a, shares[u]), outcome_score(spec, b, shares[u])
            if abs(sa - sb) < 1e-9:
                # fall back to the committed chain vs one sample (the teacher's commit as anchor)
                a, sa = list(c.labels), outcome_score(spec, c.labels, shares[u])
                if abs(sa - sb) < 1e-9:
                    continue
            hi, lo = (a, b) if sa > sb else (b, a)
            pairs.append({"user": u, "chosen": hi, "rejected": lo, "margin": abs(sa - sb)})
    return pairs


def _p(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return p / p.sum()
