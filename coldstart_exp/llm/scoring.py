"""Turn option log-likelihoods into a distribution (and its entropy).

Why: backends return un-normalised sums of token log-probs; ScaleToT needs a
proper distribution over a closed label set and its entropy as an uncertainty
signal. Normalising is a softmax over the option scores.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalize_logprobs(logp: Sequence[float] | np.ndarray, length: Sequence[int] | None = None) -> np.ndarray:
    """Probabilities over the options (sum to 1). ``length`` optionally divides
    each score by its token count first (length-normalised scoring)."""
    x = np.asarray(logp, dtype=np.float64)
    if length is not None:
        x = x / np.maximum(np.asarray(length, dtype=np.float64), 1.0)
    x = x - np.max(x)
    p = np.exp(x)
    return p / p.sum()


def entropy(probs: Sequence[float] | np.ndarray, normalized: bool = False) -> float:
    """Shannon entropy in nats; ``normalized`` divides by log(n) to lie in [0, 1]."""
    p = np.asarray(probs, dtype=np.float64)
    h = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    if normalized:
        return h / np.log(len(p)) if len(p) > 1 else 0.0
    return h


def choose(llm, prompt, options: Sequence[str]) -> tuple[str, np.ndarray, float]:
    """Best option, its distribution and entropy, from one scoring call."""
    p = normalize_logprobs(llm.score(prompt, list(options)))
    return options[int(np.argmax(p))], p, entropy(p)
