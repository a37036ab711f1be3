"""Ranking evaluation: the evaluator, the metrics it computes and the activity buckets it groups users by.

Full-ranking evaluation of a backbone over an `EvalSet`, correct under DDP: each process scores its shard and
keeps per-row metric values; `gather` collects every rank's rows, drops the duplicates that
DistributedSampler pads with, and returns one table on every rank, so the 2-process run and the 1-process
run report the same numbers.

Metrics: top-K, vectorised over a batch, with RecBole's definitions. For a user with target set T and
top-K list r_1..r_K (hit_i = r_i in T):
- Hit@K    = 1 if any hit_i
- Recall@K = sum(hit_i) / |T|
- MRR@K    = 1 / (first i with hit_i), 0 if none
- NDCG@K   = sum(hit_i / log2(i + 1)) / sum_{i <= min(|T|, K)} 1 / log2(i + 1)
- Precision@K = sum(hit_i) / K

Activity buckets: bins of how many training interactions a user (or item) has.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch


class RankingEvaluator:
    def __init__(self, ks: list[int], metrics: list[str], mask_seen: bool, bucket_edges: list[int]):
        self.ks, self.metrics = sorted(ks), list(metrics)
        self.mask_seen, self.bucket_edges = mask_seen, list(bucket_edges)
        self.reset()

    def clone(self) -> RankingEvaluator:
        """A fresh evaluator with the same protocol (one per test dataloader)."""
        return type(self)(self.ks, self.metrics, self.mask_seen, self.bucket_edges)

    def facts(self, split) -> dict:
        """The protocol facts metrics.json records for this task."""
        return {"mask_seen": bool(self.mask_seen),
                "protocol": {"ranking": "full" if split.kind != "cold_item" else "cold items only",
                             "mask_seen": bool(self.mask_seen), "ks": list(self.ks)}}

    def reset(self) -> None:
        self._rows: list[torch.Tensor] = []
        self._values: list[torch.Tensor] = []

    @property
    def names(self) -> list[str]:
        return [f"{m}@{k}" for k in self.ks for m in self.metrics]

    def topk_items(self, backbone, batch: dict) -> torch.Tensor:
        return backbone.topk(batch, max(self.ks), exclude=batch["seen"] if self.mask_seen else None,
                             candidates=batch.get("candidates"))

    def update(self, topk: torch.Tensor, batch: dict) -> None:
        targets = batch["targets"]
        per_user = ranking_metrics(hits_matrix(topk, targets), (targets >= 0).sum(1), self.ks, self.metrics)
        self._rows.append(batch["row"])
        self._values.append(torch.stack([per_user[n] for n in self.names], 1))

    def gather(self, all_gather=None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, values) over all ranks, deduplicated and sorted by row."""
        if not self._rows:
            return np.zeros(0, np.int64), np.zeros((0, len(self.names)))
        rows, vals = torch.cat(self._rows), torch.cat(self._values)
        if all_gather is not None:
            rows, vals = all_gather(rows).reshape(-1), all_gather(vals).reshape(-1, vals.shape[-1])
        rows, vals = rows.cpu().numpy(), vals.float().cpu().numpy()
        uniq, first = np.unique(rows, return_index=True)
        return uniq, vals[first]

    def table(self, es, rows: np.ndarray, values: np.ndarray) -> pd.DataFrame:
        """Per-user metric table for an EvalSet (one row per evaluated user)."""
        df = pd.DataFrame(values, columns=self.names)
        df.insert(0, "bucket", assign_buckets(es.activity[rows], self.bucket_edges))
        df.insert(0, "activity", es.activity[rows])
        df.insert(0, "user", es.users[rows])
        df.insert(0, "row", rows)
        return df


def summarise(per_user: pd.DataFrame, names: list[str], bucket_order: list[str]) -> pd.DataFrame:
    """Tidy table: one row per (bucket, metric) with mean and user count, plus bucket 'all'."""
    out = []
    groups = [("all", per_user)] + [(b, per_user[per_user.bucket == b]) for b in bucket_order]
    for b, g in groups:
        for n in names:
            out.append({"bucket": b, "metric": n, "value": float(g[n].mean()) if len(g) else float("nan"),
                        "users": len(g)})
    return pd.DataFrame(out)


# -- metrics --------------------------------------------------------------------------------
METRICS = ("recall", "ndcg", "mrr", "hit", "precision")


def hits_matrix(topk: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, K) bool: whether each recommended item is a target. `targets` is (B, T) padded with -1."""
    return ((topk.unsqueeze(-1) == targets.unsqueeze(1)) & (targets.unsqueeze(1) >= 0)).any(-1)


def ranking_metrics(hits: torch.Tensor, n_targets: torch.Tensor, ks: list[int], names=METRICS,
                    dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Per-user metric values {"ndcg@10": (B,), ...} from a (B, Kmax) hit matrix, computed in `dtype`."""
    hits = hits.to(dtype)
    kmax = hits.shape[1]
    pos = torch.arange(1, kmax + 1, device=hits.device, dtype=dtype)
    discount = 1.0 / torch.log2(pos + 1)
    cum_hits = hits.cumsum(1)
    dcg = (hits * discount).cumsum(1)
    idcg = discount.cumsum(0)
    first = torch.where(hits.any(1), hits.argmax(1).to(dtype) + 1, torch.full_like(n_targets, float("inf"), dtype=dtype))
    n_t = n_targets.to(dtype).clamp(min=1)
    out = {}
    for k in ks:
        if k > kmax:
            raise ValueError(f"metric cut-off {k} exceeds the top-k computed ({kmax})")
        h = cum_hits[:, k - 1]
        for name in names:
            if name == "recall":
                v = h / n_t
            elif name == "hit":
                v = (h > 0).float()
            elif name == "precision":
                v = h / k
            elif name == "mrr":
                v = torch.where(first <= k, 1.0 / first, torch.zeros_like(first))
            elif name == "ndcg":
                ideal = idcg[(n_targets.clamp(min=1, max=k) - 1).long()]
                v = dcg[:, k - 1] / ideal
            else:
                raise ValueError(f"unknown metric {name!r}; known: {METRICS}")
            out[f"{name}@{k}"] = v
    return out


# -- activity buckets ----------------------------------------------------------------------
DEFAULT_EDGES = [0, 1, 3, 6, 11, 21]  # -> 0, 1-2, 3-5, 6-10, 11-20, 21+


def bucket_labels(edges: list[int]) -> list[str]:
    labels = []
    for lo, hi in zip(edges, list(edges[1:]) + [None]):
        if hi is None:
            labels.append(f"{lo}+")
        elif hi - lo == 1:
            labels.append(str(lo))
        else:
            labels.append(f"{lo}-{hi - 1}")
    return labels


def assign_buckets(activity: np.ndarray, edges: list[int]) -> np.ndarray:
    """Label of each value's bucket; values below the first edge are an error, not a silent bin."""
    activity = np.asarray(activity)
    if len(activity) and activity.min() < edges[0]:
        raise ValueError(f"activity {activity.min()} below the first bucket edge {edges[0]}")
    if list(edges) != sorted(set(edges)):
        raise ValueError(f"eval.bucket_edges must be strictly increasing, got {list(edges)}")
    idx = np.searchsorted(np.asarray(edges), activity, side="right") - 1
    return np.asarray(bucket_labels(edges), dtype=object)[idx]
