"""LightningModule that trains any `Backbone` and evaluates it by full ranking."""

from __future__ import annotations

import time

import lightning as L
import torch

from ..eval.evaluator import RankingEvaluator


class RecModule(L.LightningModule):
    """Optimises `backbone.loss`; validation/test compute per-user ranking metrics per EvalSet."""

    def __init__(self, backbone, evaluator: RankingEvaluator, lr: float = 1e-3, weight_decay: float = 0.0,
                 eval_names: list[str] | None = None):
        super().__init__()
        self.backbone, self.evaluator = backbone, evaluator
        self.lr, self.weight_decay = lr, weight_decay
        self.test_names = list(eval_names or [])
        self.results: dict[str, tuple] = {}  # eval name -> (rows, values), filled on every rank
        self.curve: list[dict] = []  # validation NDCG@10 (etc.) against wall-clock seconds
        self._t0 = time.perf_counter()
        self._test_evaluators: dict[int, RankingEvaluator] = {}

    # -- training ---------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        loss = self.backbone.loss(batch)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=batch["seq"].shape[0])
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.backbone.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    # -- evaluation -------------------------------------------------------------------------
    def _gather_fn(self):
        return self.all_gather if self.trainer.world_size > 1 else None

    def on_validation_epoch_start(self):
        self.evaluator.reset()

    def validation_step(self, batch, batch_idx):
        self.evaluator.update(self.evaluator.topk_items(self.backbone, batch), batch)

    def on_validation_epoch_end(self):
        rows, vals = self.evaluator.gather(self._gather_fn())
        means = vals.mean(0) if len(vals) else vals.sum(0)
        logged = {f"val/{n}": float(v) for n, v in zip(self.evaluator.names, means)}
        for k, v in logged.items():
            self.log(k, v, prog_bar=k == "val/ndcg@10", sync_dist=False, rank_zero_only=False)
        self.results["valid"] = (rows, vals)
        if not self.trainer.sanity_checking and self.trainer.state.fn == "fit":
            self.curve.append({"epoch": self.current_epoch, "step": self.global_step,
                               "seconds": round(time.perf_counter() - self._t0, 2), **logged})

    def on_test_epoch_start(self):
        self._test_evaluators = {}

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        ev = self._test_evaluators.setdefault(dataloader_idx, self.evaluator.clone())
        ev.update(ev.topk_items(self.backbone, batch), batch)

    def on_test_epoch_end(self):
        for idx, name in enumerate(self.test_names):
            ev = self._test_evaluators.get(idx)
            if ev is None:
                ev = self.evaluator.clone()
            self.results[name] = ev.gather(self._gather_fn())
