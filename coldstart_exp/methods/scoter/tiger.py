"""SCoTER around TIGER (the paper's backbone): the steps are fused into the encoder memory.

The decoder cross-attends to the fused memory `M~ = M + g * MHA(M, R')`. As for SASRec, the
backbone's own teacher-forced loss runs on every prefix, and a fused loss only on the last
target of a user's last training window (its steps were reasoned from the history strictly
before it), weighted by the share of targets it covers. Beam search runs on the fused memory,
through TIGER's public hooks (`encode_history`, `decode_targets`, `id_loss`, and `topk`'s
`memory_fn`, which hands over the rows of each decode chunk so the steps line up with them).
"""

from __future__ import annotations

import torch

from .model import FusedBackbone, GateMeter, StepFusion


class ScoterTIGER(FusedBackbone):
    def __init__(self, backbone, fusion: StepFusion, nce_weight: float = 0.1, tau: float = 0.1):
        super().__init__(backbone, fusion, nce_weight, tau)
        self._steps = None

    def prepare_items(self, tables, cache_dir: str) -> dict:
        return self.backbone.prepare_items(tables, cache_dir)

    def _fuse(self, memory, valid, steps, has):
        M, g, Rp = self.fusion(memory, steps, has)
        if not self.training:
            w = valid.unsqueeze(-1).float()
            gm = (g * w).sum((1, 2)) / (w.sum((1, 2)) * g.shape[-1]).clamp(min=1)
            self.meters.setdefault(self.current_set, GateMeter()).add(gm[has].unsqueeze(-1))
        return M, Rp

    def item_vec(self, items: torch.Tensor) -> torch.Tensor:
        """Design choice: an item's embedding = mean of its semantic-ID token embeddings."""
        return self.backbone.net.tok(self.backbone.item_tokens(items)).mean(-2)

    def loss(self, batch: dict) -> torch.Tensor:
        tg = self.backbone
        loss = tg.loss(batch)
        rows = batch["has_steps"] & (batch["pos"][:, -1] > 0)
        if not rows.any():
            return loss
        seq, user, steps = batch["seq"][rows], batch["user"][rows], batch["steps"][rows]
        tgt = batch["pos"][rows, -1]
        memory, valid = tg.encode_history(seq, user)
        M, Rp = self._fuse(memory, valid, steps, None)
        h = tg.decode_targets(M, valid, tgt)
        # weighted by the share of targets it covers: the fused target gets no extra emphasis
        share = len(tgt) / max(1, int((batch["pos"] > 0).sum()))
        loss = loss + share * tg.id_loss(h, tgt)
        if self.nce_weight > 0 and len(tgt) > 1:
            loss = loss + self.nce_weight * self.fusion.info_nce(Rp, self.item_vec(tgt), self.tau)
        return loss

    @torch.no_grad()
    def topk(self, batch: dict, k: int, exclude=None, candidates=None) -> torch.Tensor:
        steps, has = batch["steps"], batch["has_steps"]

        def fused(memory, valid, rows):
            return self._fuse(memory, valid, steps[rows], has[rows])[0]

        sub = {key: v for key, v in batch.items() if key in ("seq", "user")}
        return self.backbone.topk(sub, k, exclude, candidates, memory_fn=fused)
