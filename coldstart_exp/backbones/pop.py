"""Popularity: every user gets the items most interacted with in training."""

from __future__ import annotations

import numpy as np
import torch

from .base import Backbone


class Popularity(Backbone):
    trainable = False

    def __init__(self, n_items: int, **_: object):
        super().__init__()
        self.register_buffer("counts", torch.zeros(n_items + 1))

    def fit_statistics(self, train_interactions) -> None:
        c = np.bincount(train_interactions.item.to_numpy(), minlength=len(self.counts))
        self.counts.copy_(torch.as_tensor(c, dtype=torch.float32))

    def scores(self, batch: dict) -> torch.Tensor:
        return self.counts.unsqueeze(0).expand(batch["seq"].shape[0], -1).clone()
