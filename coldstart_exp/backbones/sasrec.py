"""SASRec (Kang & McAuley 2018): causal self-attention over the item history."""

from __future__ import annotations

import torch
from torch import nn

from .base import Backbone, sequence_loss, transformer_init


class SASRec(Backbone):
    def __init__(self, n_items: int, max_len: int, hidden: int = 64, layers: int = 2, heads: int = 2,
                 dropout: float = 0.2, attn_dropout: float | None = None, loss: str = "ce", n_negatives: int = 1024, **_: object):
        super().__init__()
        self.n_negatives = n_negatives
        self.n_items, self.loss_type, self.heads = n_items, loss, heads
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            hidden, heads, 4 * hidden if hidden < 256 else hidden * 2, dropout if attn_dropout is None else attn_dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        self.apply(transformer_init)

    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L, d) causal states; padded keys are hidden from real queries."""
        B, L = seq.shape
        positions = torch.arange(L, device=seq.device) - L + self.pos_emb.num_embeddings  # right-aligned
        x = self.item_emb(seq) * (self.item_emb.embedding_dim**0.5) + self.pos_emb(positions.clamp(min=0))
        x = self.drop(x * (seq > 0).unsqueeze(-1))
        causal = torch.ones(L, L, dtype=torch.bool, device=seq.device).triu(1)
        blocked = causal.unsqueeze(0) | (seq == 0).unsqueeze(1)  # (B, L, L): True = may not attend
        blocked = blocked & ~torch.eye(L, dtype=torch.bool, device=seq.device)  # keep self: no empty rows
        mask = blocked.repeat_interleave(self.heads, 0)
        return self.norm(self.encoder(x, mask=mask))

    def loss(self, batch: dict) -> torch.Tensor:
        return sequence_loss(self.encode(batch["seq"]), batch["pos"], self.item_emb, self.loss_type, self.n_items,
                             self.n_negatives)

    def user_state(self, batch: dict) -> torch.Tensor:
        return self.encode(batch["seq"])[:, -1]

    def scores(self, batch: dict) -> torch.Tensor:
        return self.user_state(batch) @ self.item_emb.weight.T
