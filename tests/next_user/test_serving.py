"""HNSW agrees with exact search; seen items are skipped; baselines behave as specified."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from coldstart_exp.methods.next_user.features import seed_users
from coldstart_exp.methods.next_user.scorers import LookalikeScorer, PopularityScorer
from coldstart_exp.methods.next_user.serving import agreement_at, topk_excluding
from coldstart_exp.retrieval import build_index


def test_hnsw_agrees_with_exact():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(2000, 32)).astype(np.float32)
    q = rng.normal(size=(100, 32)).astype(np.float32)
    assert agreement_at(v, q, 50, hnsw_m=32, ef_construction=40, ef_search=128) >= 0.95


def test_topk_excluding_skips_seen_and_maps_ids():
    v = np.eye(4, dtype=np.float32)
    ids = np.array([10, 11, 12, 13])
    idx = build_index(v, "flat", ids=ids)
    q = np.array([[0.1, 0.9, 0.5, 0.0]], np.float32)
    assert topk_excluding(idx, q, 2, [np.zeros(0, np.int64)]).tolist() == [[11, 12]]
    assert topk_excluding(idx, q, 2, [np.array([11])]).tolist() == [[12, 10]]


def _held():
    # item 5: users 0,1,2 (fast); item 6: users 3,4 (slow); item 7: user 0
    return pd.DataFrame({"item": [5, 5, 5, 6, 6, 7], "user": [0, 1, 2, 3, 4, 0],
                         "timestamp": [0, 3600, 7200, 0, 86400 * 30, 0], "user_rank": [0, 1, 2, 0, 1, 0]})


def test_seed_users_first_n():
    seeds, counts = seed_users(_held(), np.array([5, 6, 7]), 2)
    assert seeds.tolist() == [[0, 1], [3, 4], [0, -1]] and counts.tolist() == [2, 2, 1]


def test_popularity_counts_then_speed():
    held = _held()
    items = np.array([5, 6, 7])
    seeds, counts = seed_users(held, items, 2)
    pop = PopularityScorer(pd.DataFrame({"user": [0, 0, 1], "item": [1, 2, 1]}), 5, seed=0)
    s = pop.item_scores(items, seeds, counts, held)
    assert s[0] > s[1] > s[2]  # same count: the faster item wins; fewer seeds (stalled) last
    assert np.argmax(pop.user_scores()) == 0


def test_lookalike_mean_of_seeds():
    u = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    look = LookalikeScorer(u)
    v = look.vectors(np.array([5, 6]), np.array([[0, 1], [-1, -1]]), np.array([2, 0]))
    assert torch.allclose(v[0], torch.nn.functional.normalize(u[:2].mean(0), dim=0))
    assert torch.allclose(v[1], look.fallback, atol=1e-3)  # seedless: the mean user (+ tie-breaking noise)


def _old_numpy_ndcg(top: np.ndarray, targets: list) -> float:
    """The NDCG Next-User computed in numpy before it used the shared metrics (eval/evaluator.py) (kept to pin the values)."""
    disc = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
    vals = [(np.isin(top[r], t) * disc).sum() / disc[: min(len(t), len(disc))].sum() for r, t in enumerate(targets)]
    return float(np.mean(vals))


def test_validation_ndcg_is_the_shared_metric_with_unchanged_values():
    from types import SimpleNamespace

    from coldstart_exp.methods.next_user import ranking_ndcg

    rng = np.random.default_rng(0)
    items = np.arange(1, 31)
    V, U = torch.randn(30, 8, generator=torch.Generator().manual_seed(0)), torch.randn(12, 8)
    targets = [rng.choice(items, size=int(rng.integers(1, 4)), replace=False) for _ in range(12)]
    masked = [rng.choice(items, size=2, replace=False) for _ in range(12)]
    es = SimpleNamespace(candidates=items, users=np.arange(12), targets=targets, masked=lambda: masked)
    held = pd.DataFrame({"item": [1], "user": [0], "timestamp": [0], "user_rank": [0]})
    for k in (5, 20, 50):  # 50 > 30 candidates: cut at the catalogue
        got = ranking_ndcg(lambda i, s, c: V, U, es, held, 1, k)
        s = U @ V.T
        for r, m in enumerate(masked):
            s[r, m - 1] = float("-inf")
        top = items[s.topk(min(k, 30), 1).indices.numpy()]
        assert abs(got - _old_numpy_ndcg(top, targets)) < 1e-12 and got > 0
