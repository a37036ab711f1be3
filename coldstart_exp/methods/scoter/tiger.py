"""SCoTER around TIGER (the paper's backbone): the steps are fused into the encoder memory.

The decoder cross-attends to the fused memory `M~ = M + g * MHA(M, R')`. As for SASRec, the
backbone's own teacher-forced loss runs on every prefix, and a fused loss only on the last
target of a user's last training window (its steps were reasoned from the history strictly
before it), weighted by the share of targets it covers. Beam search runs on the fused memory: `_memory` is swapped for the duration of one
decode call, chunk by chunk, so the steps of each chunk line up with its rows.
"""

from __future__ import annotations

import contextlib

import torch

from .fusion import FusedBackbone, GateMeter, StepFusion


class ScoterTIGER(FusedBackbone):
    def __init__(self, backbone, fusion: StepFusion, nce_weight: float = 0.1, tau: float = 0.1):
        super().__init__(backbone, fusion, nce_weight, tau)
        self._steps = None

    def prepare_items(self, tables, cache_dir: str) -> None:
        self.backbone.prepare_items(tables, cache_dir)

    def _fuse(self, memory, valid, steps, has):
        M, g, Rp = self.fusion(memory, steps, has)
        if not self.training:
            w = valid.unsqueeze(-1).float()
            gm = (g * w).sum((1, 2)) / (w.sum((1, 2)) * g.shape[-1]).clamp(min=1)
            self.meters.setdefault(self.current_set, GateMeter()).add(gm[has].unsqueeze(-1))
        return M, Rp

    def item_vec(self, items: torch.Tensor) -> torch.Tensor:
        """Design choice: an item's embedding = mean of its semantic-ID token embeddings."""
        return self.backbone.net.tok(self.backbone._tokens(items)).mean(-2)

    def loss(self, batch: dict) -> torch.Tensor:
        tg = self.backbone
        loss = tg.loss(batch)
        rows = batch["has_steps"] & (batch["pos"][:, -1] > 0)
        if not rows.any():
            return loss
        seq, user, steps = batch["seq"][rows], batch["user"][rows], batch["steps"][rows]
        tgt = batch["pos"][rows, -1]
        memory, valid = tg._memory(seq, user, causal=tg.causal)
        M, Rp = self._fuse(memory, valid, steps, None)
        D = tg.depth
        dpos = torch.arange(D, device=seq.device)
        causal_dec = torch.ones(D, D, dtype=torch.bool, device=seq.device).tril()
        h = tg.net.decode(tg._dec_inputs(tgt), dpos, causal_dec, M, valid[:, None, None, :])
        # weighted by the share of targets it covers: the fused target gets no extra emphasis
        share = len(tgt) / max(1, int((batch["pos"] > 0).sum()))
        loss = loss + share * tg._id_loss(h, tgt)
        if self.nce_weight > 0 and len(tgt) > 1:
            loss = loss + self.nce_weight * self.fusion.info_nce(Rp, self.item_vec(tgt), self.tau)
        return loss

    @contextlib.contextmanager
    def _fused_memory(self, steps, has):
        tg = self.backbone
        orig = type(tg)._memory

        def memory(seq, user, causal):
            M, valid = orig(tg, seq, user, causal)
            return self._fuse(M, valid, steps, has)[0], valid

        tg._memory = memory
        try:
            yield
        finally:
            del tg._memory

    @torch.no_grad()
    def topk(self, batch: dict, k: int, exclude=None, candidates=None) -> torch.Tensor:
        tg = self.backbone
        n, step = len(batch["seq"]), tg.decode_batch
        outs = []
        for s in range(0, n, step):
            sub = {key: v[s:s + step] for key, v in batch.items() if key in ("seq", "user")}
            ex = exclude[s:s + step] if exclude is not None else None
            with self._fused_memory(batch["steps"][s:s + step], batch["has_steps"][s:s + step]):
                outs.append(tg.topk(sub, k, ex, candidates))
        return torch.cat(outs)
