"""Full-ranking evaluation of a backbone over an `EvalSet`, correct under DDP.

Each process scores its shard and keeps per-row metric values; `gather` collects every rank's rows,
drops the duplicates that DistributedSampler pads with, and returns one table on every rank, so the
2-process run and the 1-process run report the same numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .buckets import assign_buckets
from .metrics import hits_matrix, ranking_metrics


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
