"""Batches with step embeddings attached: `steps` (B, K, D) and `has_steps` (B,).

Why a datamodule subclass: the spine's batches know users and eval-set names but not the loo cut
a row belongs to; here training windows carry a flag for "last window of the user" (cut `train`),
and eval sets map to cuts (`valid`, `test`). The bank is float16 in memory (beauty: 22k users x
3 cuts x K x 384).
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.datamodule import SequenceDataModule


class StepBank:
    """(cut, user) -> K x D step embeddings (teacher where covered, student elsewhere)."""

    def __init__(self, index: dict[tuple[str, int], int], R: np.ndarray, source: np.ndarray | None = None):
        self.index, self.R = index, torch.as_tensor(R, dtype=torch.float16)
        self.source = source  # per row: 1 teacher, 0 student
        self.K, self.D = self.R.shape[1], self.R.shape[2]

    def pooled(self) -> StepBank:
        """Ablation "mean-pooled chain": one structure-agnostic vector per chain (K = 1)."""
        return StepBank(self.index, self.R.float().mean(1, keepdim=True).numpy(), self.source)

    def lookup(self, cut: str, users) -> tuple[torch.Tensor, torch.Tensor]:
        idx = [self.index.get((cut, int(u)), -1) for u in users]
        has = torch.tensor([i >= 0 for i in idx])
        rows = torch.tensor([max(i, 0) for i in idx])
        steps = self.R[rows].float() if len(rows) else torch.zeros(0, self.K, self.D)
        return steps, has


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
