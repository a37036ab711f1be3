"""The contract between backbones, the training module and the evaluator.

Batches are dicts of tensors:
- `seq`  (B, L) item ids, left-padded with 0 (the most recent item is at position -1);
- `pos`  (B, L) training targets per position (0 = no target) — training batches only;
- `user` (B,) user index; `profile` (B, F) profile codes (0 = unknown), when the data has them.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from torch import nn


class Backbone(nn.Module):
    """Base class: subclasses implement `loss` and `scores` (or override `topk`)."""

    trainable: bool = True  # False: nothing to fit (e.g. popularity); the trainer skips fitting
    train_from_empty: bool = False  # True: training sequences start with an empty history

    def loss(self, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def scores(self, batch: dict) -> torch.Tensor:
        """(B, n_items + 1) scores over every item; column 0 (padding) is ignored."""
        raise NotImplementedError

    def topk(self, batch: dict, k: int, exclude: torch.Tensor | None = None,
             candidates: torch.Tensor | None = None) -> torch.Tensor:
        """(B, k) item ids, best first. `exclude` (B, S) items to mask (0-padded);
        `candidates` (n_items + 1,) bool restricts the ranking to those items."""
        s = self.scores(batch).float()
        s[:, 0] = float("-inf")
        if candidates is not None:
            s = s.masked_fill(~candidates.to(s.device).unsqueeze(0), float("-inf"))
        if exclude is not None and exclude.numel():
            s = s.scatter(1, exclude, float("-inf"))
        if s.shape[1] < k:  # fewer items than the cut-off (tiny data): -inf columns past the last item, never a target
            s = torch.cat([s, s.new_full((s.shape[0], k - s.shape[1]), float("-inf"))], 1)
        return s.topk(k, dim=1).indices

    # Optional hook (duck-typed): `prepare_items(tables, cache_dir) -> dict` is called once before
    # training by methods that build the backbone, for models that need item content (e.g. TIGER's
    # IDs); it returns facts ({name: {...}}) that the caller records with `write_facts`.
    generative = False  # True: ranks by decoding item IDs from an encoder memory (TIGER's public hooks)

    def fit_statistics(self, train_interactions) -> None:
        """Hook for count-based models; called once with the training interactions."""


def write_facts(run_dir: str | Path, facts: dict | None) -> None:
    """Save each entry of a backbone's facts as <run dir>/<name>.json ({name: value})."""
    for name, value in (facts or {}).items():
        Path(run_dir, f"{name}.json").write_text(json.dumps({name: value}, indent=1))


def build_backbone(cfg: DictConfig, n_items: int, n_users: int, profile_cards: list[int], max_len: int) -> Backbone:
    return hydra.utils.instantiate(
        cfg, n_items=n_items, n_users=n_users, profile_cards=list(profile_cards), max_len=max_len, _convert_="all"
    )


def transformer_init(m: nn.Module) -> None:
    """Weight init shared by the transformer backbones: N(0, 0.02) weights, zero biases."""
    if isinstance(m, nn.Linear | nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


def sequence_loss(h: torch.Tensor, pos: torch.Tensor, item_emb: nn.Embedding, loss_type: str,
                  n_items: int, n_negatives: int = 1024, target_norm: torch.Tensor | None = None) -> torch.Tensor:
    """Next-item loss on the positions that have a target.

    `ce`: full softmax over all items (only the N real positions are scored, not B*L);
    `sce`: sampled softmax against `n_negatives` uniform negatives shared by the batch (accidental
      hits masked) — about n_items / n_negatives times cheaper than `ce` on large catalogues;
    `bce`: one uniformly sampled negative per position (the original SASRec objective).
    `target_norm` (the datamodule's `target_weight: uniform`): the `ce`/`sce` loss is the batch's sum over
    targets divided by this constant (the epoch's mean targets per batch) instead of the batch mean, so
    every target weighs the same whatever the batch's length (RecBole's one-row-per-prefix weighting).
    """
    reduction = "mean" if target_norm is None else "sum"
    mask = pos > 0
    h, tgt = h[mask], pos[mask]
    if loss_type == "ce":
        logits = h @ item_emb.weight.T
        logits[:, 0] = float("-inf")
        loss = nn.functional.cross_entropy(logits, tgt, reduction=reduction)
        return loss if target_norm is None else loss / target_norm
    if loss_type == "sce":
        neg = torch.randint(1, n_items + 1, (n_negatives,), device=tgt.device)
        pos_logit = (h * item_emb(tgt)).sum(-1, keepdim=True)
        neg_logit = (h @ item_emb(neg).T).masked_fill(neg.unsqueeze(0) == tgt.unsqueeze(1), float("-inf"))
        logits = torch.cat([pos_logit, neg_logit], 1)
        loss = nn.functional.cross_entropy(logits, torch.zeros_like(tgt), reduction=reduction)
        return loss if target_norm is None else loss / target_norm
    if loss_type == "bce":
        neg = torch.randint(1, n_items + 1, tgt.shape, device=tgt.device)
        p = (h * item_emb(tgt)).sum(-1)
        n = (h * item_emb(neg)).sum(-1)
        return nn.functional.softplus(-p).mean() + nn.functional.softplus(n).mean()
    raise ValueError(f"backbone.loss must be 'ce' or 'bce', got {loss_type!r}")
