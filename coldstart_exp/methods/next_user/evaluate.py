"""Per-n evaluation: per-user Recall/NDCG@K over cold items (through the faiss index) and
next-user Recall@K per cold item (exact ranking of all users), plus the HNSW-vs-exact check.

A *scorer* gives either item vectors in the user-tower space (`vectors(items, seeds, counts)`) or,
for popularity, item scores (`item_scores`) and one user ranking (`user_scores`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...data.datamodule import left_pad
from ...data.splits import EvalSet
from ...retrieval import build_index
from .features import seed_users
from .serving import agreement_at, topk_excluding


def evaluate_set(es: EvalSet, held: pd.DataFrame, n: int, scorer, user_vecs: torch.Tensor, evaluator,
                 index_cfg, next_user_ks=(20, 50)) -> tuple[pd.DataFrame, dict]:
    items = np.asarray(es.candidates)
    seeds, counts = seed_users(held, items, n)
    k = max(evaluator.ks)
    seen = [s[np.isin(s, items)] for s in es.masked()] if evaluator.mask_seen else [np.zeros(0, np.int64)] * len(es)
    facts: dict = {"items": len(items)}
    vecs = scorer.vectors(items, seeds, counts)
    U = user_vecs.numpy()
    if vecs is not None:
        # break exact ties (e.g. every item identical at n = 0 without a prefix) at random instead of by
        # item index, which on ML-100K follows file order and so leaks popularity
        V = vecs.numpy() + 1e-5 * np.random.default_rng(n).standard_normal(vecs.shape).astype(np.float32)
        index = build_index(V, str(index_cfg.kind), ids=items, hnsw_m=int(index_cfg.hnsw_m),
                            ef_construction=int(index_cfg.ef_construction), ef_search=int(index_cfg.ef_search))
        topk = topk_excluding(index, U[es.users], k, seen)
        facts["hnsw_recall@50_vs_exact"] = round(agreement_at(
            V, U[es.users], 50, hnsw_m=int(index_cfg.hnsw_m), ef_construction=int(index_cfg.ef_construction),
            ef_search=int(index_cfg.ef_search)), 4)
        item_user = torch.from_numpy(V) @ user_vecs.T  # (items, users)
    else:
        s = torch.as_tensor(scorer.item_scores(items, seeds, counts, held), dtype=torch.float32)
        sc = s.unsqueeze(0).repeat(len(es), 1)
        col = {int(i): c for c, i in enumerate(items)}
        for r, sn in enumerate(seen):
            for i in sn:
                sc[r, col[int(i)]] = float("-inf")
        topk = torch.as_tensor(items)[sc.topk(min(k, len(items)), 1).indices].numpy()
        if topk.shape[1] < k:
            topk = np.pad(topk, ((0, 0), (0, k - topk.shape[1])))
        item_user = torch.as_tensor(scorer.user_scores(), dtype=torch.float32).unsqueeze(0).repeat(len(items), 1)
    evaluator.reset()
    targets = left_pad([np.asarray(t) for t in es.targets], value=-1)
    evaluator.update(torch.as_tensor(topk), {"targets": targets, "row": torch.arange(len(es))})
    table = evaluator.table(es, *evaluator.gather())
    evaluator.reset()
    facts.update(next_user_recall(item_user, items, seeds, counts, held, n, next_user_ks))
    return table, facts


def next_user_recall(item_user: torch.Tensor, items: np.ndarray, seeds: np.ndarray, counts: np.ndarray,
                     held: pd.DataFrame, n: int, ks=(20, 50)) -> dict:
    """Mean over cold items (with >= 1 later user) of |top-K users ∩ later users| / |later users|;
    the item's seed users are excluded from its ranking."""
    later = held[held.item.isin(items) & (held.user_rank >= n)].groupby("item").user.apply(np.unique).to_dict()
    scores = item_user.clone()
    for r in range(len(items)):
        if counts[r]:
            scores[r, torch.as_tensor(seeds[r, : counts[r]])] = float("-inf")
    top = scores.topk(min(max(ks), scores.shape[1]), 1).indices.numpy()  # fewer users than K: all of them
    rec = {k: [] for k in ks}
    for r, it in enumerate(items):
        t = later.get(int(it))
        if t is None or not len(t):
            continue
        for k in ks:
            rec[k].append(np.isin(top[r, :k], t).sum() / len(t))
    return {f"next_user_recall@{k}": round(float(np.mean(v)), 5) if v else None for k, v in rec.items()} | {
        "next_user_items": len(rec[ks[0]])}
