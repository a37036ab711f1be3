"""Paired per-user comparison of two systems: mean difference with a bootstrap CI, paired t-test,
Wilcoxon signed-rank (scipy.stats), Holm correction across activity buckets.

Inputs are per-user tables (`per_user_<set>.parquet`: one row per evaluated user, a `bucket` column and
one column per metric). Pairing is on the user (or on `row`, `user` when a user is evaluated several times);
only users present in both tables are compared, and the count of users dropped is reported.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats


def paired_stats(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95) -> dict:
    """Statistics of the per-user difference `b - a` (positive: B is better on a higher-is-better metric)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = b - a
    n = len(d)
    out = {"n": n, "mean_a": _f(a.mean()) if n else None, "mean_b": _f(b.mean()) if n else None,
           "diff": _f(d.mean()) if n else None, "ci_low": None, "ci_high": None,
           "t": None, "p_t": None, "w": None, "p_wilcoxon": None}
    if n < 2:
        return out
    if np.allclose(d, d[0], rtol=0, atol=1e-12):  # no spread: the bootstrap is the point, the tests are undefined (or trivial)
        out["ci_low"] = out["ci_high"] = _f(d[0])
    else:
        ci = stats.bootstrap((d,), np.mean, n_resamples=n_boot, confidence_level=confidence, method="percentile",
                             rng=np.random.default_rng(seed)).confidence_interval
        out["ci_low"], out["ci_high"] = _f(ci.low), _f(ci.high)
        t = stats.ttest_rel(b, a)
        out["t"], out["p_t"] = _f(t.statistic), _f(t.pvalue)
    if np.any(d != 0):
        w = stats.wilcoxon(d)  # zero differences dropped (zero_method="wilcox")
        out["w"], out["p_wilcoxon"] = _f(w.statistic), _f(w.pvalue)
    elif n:
        out["p_t"] = out["p_wilcoxon"] = 1.0  # identical on every user: no evidence of a difference
    return out


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None stays None and does not count as a test)."""
    idx = [i for i, p in enumerate(pvalues) if p is not None and not math.isnan(p)]
    m = len(idx)
    adj: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adj[i] = running
    return adj


def pair_tables(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Inner join of two per-user tables on the user key; returns (joined, dropped from a, dropped from b).
    Columns of `a` keep their names with suffix `_a`, of `b` with `_b`; `bucket` comes from `a`."""
    key = ["user"] if a["user"].is_unique and b["user"].is_unique else ["row", "user"]
    j = a.merge(b, on=key, suffixes=("_a", "_b"), how="inner", validate="one_to_one")
    j = j.rename(columns={"bucket_a": "bucket"})
    return j, len(a) - len(j), len(b) - len(j)


def compare_tables(a: pd.DataFrame, b: pd.DataFrame, metrics: list[str], bucket_order: list[str] | None = None,
                   n_boot: int = 2000, seed: int = 0) -> dict:
    """Overall and per-bucket paired statistics for each metric; per metric, Holm-adjusted bucket p-values
    (`p_t_holm`, `p_wilcoxon_holm`) over the buckets that have at least two users."""
    j, drop_a, drop_b = pair_tables(a, b)
    buckets = bucket_order or sorted(j["bucket"].dropna().unique(), key=_bucket_key)
    res = {"users": len(j), "dropped_a": drop_a, "dropped_b": drop_b, "metrics": {}}
    for m in metrics:
        if f"{m}_a" not in j or f"{m}_b" not in j:
            continue
        entry = {"overall": paired_stats(j[f"{m}_a"], j[f"{m}_b"], n_boot, seed), "buckets": {}}
        for bk in buckets:
            sel = j[j["bucket"] == bk]
            if len(sel):
                entry["buckets"][bk] = paired_stats(sel[f"{m}_a"], sel[f"{m}_b"], n_boot, seed)
        for p in ("p_t", "p_wilcoxon"):
            names = list(entry["buckets"])
            for bk, adj in zip(names, holm([entry["buckets"][bk][p] for bk in names])):
                entry["buckets"][bk][f"{p}_holm"] = adj
        res["metrics"][m] = entry
    return res


def stars(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "ns"


def _bucket_key(b: str):
    head = str(b).split("-")[0].rstrip("+")
    return (0, int(head)) if head.isdigit() else (1, str(b))


def _f(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else float(f"{x:.6g}")
