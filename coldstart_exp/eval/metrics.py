"""Top-K ranking metrics, vectorised over a batch, with RecBole's definitions.

For a user with target set T and top-K list r_1..r_K (hit_i = r_i in T):
- Hit@K    = 1 if any hit_i
- Recall@K = sum(hit_i) / |T|
- MRR@K    = 1 / (first i with hit_i), 0 if none
- NDCG@K   = sum(hit_i / log2(i + 1)) / sum_{i <= min(|T|, K)} 1 / log2(i + 1)
- Precision@K = sum(hit_i) / K
"""

from __future__ import annotations

import torch

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
