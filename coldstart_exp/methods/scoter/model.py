"""Fusion of step embeddings into a backbone's sequence states (METHODS.md §2, "Fuse").

    R' = LN(R) W + P_step;  C = MHA(Q=H, K=V=R');  g = sigmoid([H; C] W_g);  H~ = H + g * C
    loss = rec loss + lambda * InfoNCE(MLP(r'_K), target item embedding)

`StepFusion` only needs states H (B, T, d): it wraps any backbone that exposes them
(SASRec's `encode`, TIGER's encoder memory). A closed gate returns H unchanged, bit for bit.

Also the Lightning side: `ScoterModule` (RecModule + gate bookkeeping per eval set + the example-chain
table for W&B) and `ScoterDataModule`: Batches with step embeddings attached: `steps` (B, K, D) and `has_steps` (B,).

Why a datamodule subclass: the spine's batches know users and eval-set names but not the loo cut
a row belongs to; here training windows carry a flag for "last window of the user" (cut `train`),
and eval sets map to cuts (`valid`, `test`). The bank is float16 in memory (beauty: 22k users x
3 cuts x K x 384).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ...backbones.base import Backbone, sequence_loss
from ...data.datamodule import SequenceDataModule
from ...training.lightning import RecModule

if TYPE_CHECKING:
    from .distill import StepBank


class StepFusion(nn.Module):
    def __init__(self, d_model: int, d_step: int, k_max: int, heads: int = 2, dropout: float = 0.1,
                 step_positions: bool = True, gate: str = "adaptive", gate_bias: float = 0.0):
        super().__init__()
        if gate not in ("adaptive", "open", "closed"):
            raise ValueError(f"gate must be adaptive | open | closed, got {gate!r}")
        self.gate_mode = gate
        self.norm = nn.LayerNorm(d_step)
        self.proj = nn.Linear(d_step, d_model)
        self.step_pos = nn.Embedding(k_max, d_model) if step_positions else None
        if self.step_pos is not None:
            nn.init.normal_(self.step_pos.weight, std=0.02)
        self.att = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.gate = nn.Linear(2 * d_model, d_model)
        nn.init.zeros_(self.gate.weight)
        nn.init.constant_(self.gate.bias, gate_bias)  # design choice: start from a known openness
        self.nce_head = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, d_model))

    def steps(self, R: torch.Tensor) -> torch.Tensor:
        """R (B, K, D) -> R' (B, K, d)."""
        r = self.proj(self.norm(R))
        if self.step_pos is not None:
            r = r + self.step_pos(torch.arange(R.shape[1], device=R.device))
        return r

    def forward(self, H: torch.Tensor, R: torch.Tensor, has: torch.Tensor | None = None):
        """H (B, T, d), R (B, K, D), has (B,) rows that have steps -> (H~, g, R')."""
        Rp = self.steps(R)
        if self.gate_mode == "closed":
            return H, torch.zeros_like(H), Rp
        C, _ = self.att(H, Rp, Rp, need_weights=False)
        g = torch.ones_like(H) if self.gate_mode == "open" else torch.sigmoid(self.gate(torch.cat([H, C], -1)))
        if has is not None:
            g = g * has.view(-1, *([1] * (H.dim() - 1))).to(g.dtype)
        return H + g * C, g, Rp

    def info_nce(self, Rp: torch.Tensor, target_emb: torch.Tensor, tau: float) -> torch.Tensor:
        """In-batch InfoNCE between MLP(r'_K) and the target item's embedding."""
        z = F.normalize(self.nce_head(Rp[:, -1]), dim=-1)
        t = F.normalize(target_emb, dim=-1)
        logits = z @ t.T / tau
        return F.cross_entropy(logits, torch.arange(len(z), device=z.device))


class GateMeter:
    """Running mean of the gate during evaluation (logged as a method fact)."""

    def __init__(self):
        self.sum, self.n = 0.0, 0

    def add(self, g: torch.Tensor) -> None:
        self.sum += float(g.float().mean(-1).sum())
        self.n += int(g.shape[0])

    @property
    def mean(self) -> float | None:
        return round(self.sum / self.n, 4) if self.n else None


class FusedBackbone(Backbone):
    """What every SCoTER wrapper shares: the wrapped backbone, the fusion module, the InfoNCE
    weight/temperature and per-eval-set gate meters; statistics go to the wrapped backbone."""

    def __init__(self, backbone: Backbone, fusion: StepFusion, nce_weight: float = 0.1, tau: float = 0.1):
        super().__init__()
        self.backbone, self.fusion = backbone, fusion
        self.nce_weight, self.tau = nce_weight, tau
        self.meters: dict[str, GateMeter] = {}
        self.current_set = "valid"
        self.train_from_empty = backbone.train_from_empty

    def fit_statistics(self, train_interactions) -> None:
        self.backbone.fit_statistics(train_interactions)


class ScoterSeqRec(FusedBackbone):
    """SCoTER around a "states" backbone (SASRec-like: `encode(seq) -> (B, L, d)`, `item_emb`).

    Training keeps the backbone's own loss on every position, with the fused state in place of the
    plain one at the position whose step embeddings were built from the history strictly before
    its target (the last position of a user's last training window); other positions would see
    steps reasoned from their own future, so they stay unfused.
    """

    @property
    def item_emb(self):
        return self.backbone.item_emb

    def _fused_last(self, H: torch.Tensor, batch: dict):
        Hl, g, Rp = self.fusion(H[:, -1:], batch["steps"], batch.get("has_steps"))
        return Hl[:, 0], g[:, 0], Rp

    def loss(self, batch: dict) -> torch.Tensor:
        """The backbone's loss, with the fused state *substituted* at the positions that have leak-free
        steps: every target keeps weight one, so a closed gate trains exactly the backbone."""
        bb = self.backbone
        H = bb.encode(batch["seq"])
        rows = batch["has_steps"] & (batch["pos"][:, -1] > 0)
        nce = None
        if rows.any():
            h, _, Rp = self._fused_last(H[rows], {"steps": batch["steps"][rows], "has_steps": None})
            H = H.clone()
            H[rows, -1] = h
            tgt = batch["pos"][rows, -1]
            if self.nce_weight > 0 and len(tgt) > 1:
                nce = self.fusion.info_nce(Rp, bb.item_emb(tgt), self.tau)
        loss = sequence_loss(H, batch["pos"], bb.item_emb, bb.loss_type, bb.n_items, target_norm=batch.get("target_norm"))
        return loss if nce is None else loss + self.nce_weight * nce

    def user_state(self, batch: dict) -> torch.Tensor:
        H = self.backbone.encode(batch["seq"])
        h, g, _ = self._fused_last(H, batch)
        if not self.training:
            self.meters.setdefault(self.current_set, GateMeter()).add(g[batch["has_steps"]])
        return h

    def scores(self, batch: dict) -> torch.Tensor:
        return self.user_state(batch) @ self.backbone.item_emb.weight.T


class ScoterModule(RecModule):
    """RecModule + gate bookkeeping per eval set + the example-chain table for W&B."""

    def __init__(self, *a, extra: dict, examples: list[dict], pattern: dict, **kw):
        super().__init__(*a, **kw)
        self._extra, self._examples, self._pattern = extra, examples, pattern

    def on_fit_start(self):
        for lg in self.trainer.loggers:
            if type(lg).__name__ == "WandbLogger" and self._examples:
                df = pd.DataFrame(self._examples).astype(str)
                lg.log_table("scoter/example_chains", dataframe=df)
                lg.log_text("scoter/template", columns=["step"], data=[[s] for s in self._pattern.get("steps", [])])

    def on_validation_epoch_start(self):
        super().on_validation_epoch_start()
        self.backbone.current_set = "valid"
        self.backbone.meters.pop("valid", None)

    def on_validation_epoch_end(self):
        super().on_validation_epoch_end()
        self._extra.setdefault("gate_mean", {})["valid"] = self.backbone.meters.get("valid") and self.backbone.meters["valid"].mean

    def on_test_epoch_start(self):
        super().on_test_epoch_start()
        for n in self.test_names:
            self.backbone.meters.pop(n, None)

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self.backbone.current_set = self.test_names[dataloader_idx]
        return super().test_step(batch, batch_idx, dataloader_idx)

    def on_test_epoch_end(self):
        super().on_test_epoch_end()
        for n in self.test_names:
            if n in self.backbone.meters:
                self._extra.setdefault("gate_mean", {})[n] = self.backbone.meters[n].mean


class ScoterDataModule(SequenceDataModule):
    def __init__(self, *args, bank: StepBank, **kw):
        super().__init__(*args, **kw)
        self.bank = bank
        self.last_window: dict[int, np.ndarray] = {}
        for u, w in self.windows:  # training_windows cuts from the end: a user's first window is its last
            self.last_window.setdefault(int(u), w)

    def _is_last(self, u: int, w: np.ndarray) -> bool:
        """Window ends at the user's last training item (content check; the window list keeps the
        spine's (user, items) shape so its samplers keep working)."""
        lw = self.last_window.get(int(u))
        return lw is not None and len(lw) == len(w) and np.array_equal(lw, w)

    def collate_train(self, rows):
        batch = super().collate_train(rows)
        steps, has = self.bank.lookup("train", batch["user"].tolist())
        last = torch.tensor([self._is_last(u, w) for u, w in rows])
        batch["steps"], batch["has_steps"] = steps, has & last
        return batch

    def _collate_eval(self, rows, name: str):
        batch = super()._collate_eval(rows, name)
        cut = "valid" if name == "valid" else "test"
        batch["steps"], batch["has_steps"] = self.bank.lookup(cut, batch["user"].tolist())
        return batch
