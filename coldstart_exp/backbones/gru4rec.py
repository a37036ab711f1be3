"""GRU4Rec (Hidasi et al. 2016) with the full-softmax next-item objective."""

from __future__ import annotations

import torch
from torch import nn

from .base import Backbone, sequence_loss


class GRU4Rec(Backbone):
    def __init__(self, n_items: int, hidden: int = 64, layers: int = 1, dropout: float = 0.2,
                 loss: str = "ce", n_negatives: int = 1024, **_: object):
        super().__init__()
        self.n_negatives = n_negatives
        self.n_items, self.loss_type = n_items, loss
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(hidden, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, hidden)

    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(self.drop(self.item_emb(seq)))  # left padding: zeros before the history
        return self.out(h)

    def loss(self, batch: dict) -> torch.Tensor:
        return sequence_loss(self.encode(batch["seq"]), batch["pos"], self.item_emb, self.loss_type, self.n_items,
                             self.n_negatives, batch.get("target_norm"))

    def user_state(self, batch: dict) -> torch.Tensor:
        return self.encode(batch["seq"])[:, -1]

    def scores(self, batch: dict) -> torch.Tensor:
        return self.user_state(batch) @ self.item_emb.weight.T
