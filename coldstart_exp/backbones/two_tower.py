"""Two-tower / matrix-factorisation baseline that also serves cold users.

User tower = MLP(mean of history item embeddings ⊕ profile-field embeddings [⊕ user-ID embedding]);
item tower = an item embedding table. With `use_user_id=true` and no profile it is plain MF. Trained
on every prefix of each training sequence, including the empty one, so a user with zero
interactions is scored from the profile alone.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Backbone, sequence_loss


class TwoTower(Backbone):
    train_from_empty = True

    def __init__(self, n_items: int, n_users: int, profile_cards: list[int], hidden: int = 64,
                 use_history: bool = True, use_profile: bool = True, use_user_id: bool = False,
                 dropout: float = 0.1, loss: str = "ce", **_: object):
        super().__init__()
        self.n_items, self.loss_type = n_items, loss
        self.use_history, self.use_user_id = use_history, use_user_id
        self.use_profile = use_profile and len(profile_cards) > 0
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.profile_emb = nn.ModuleList(nn.Embedding(c, hidden) for c in profile_cards) if self.use_profile else None
        self.user_emb = nn.Embedding(n_users, hidden) if use_user_id else None
        n_in = hidden * (int(use_history) + int(self.use_profile) + int(use_user_id)) or hidden
        self.mlp = nn.Sequential(nn.Linear(n_in, hidden * 2), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden * 2, hidden))

    def profile_vector(self, batch: dict) -> torch.Tensor:
        prof = batch["profile"]
        return torch.stack([emb(prof[:, i]) for i, emb in enumerate(self.profile_emb)], 0).mean(0)

    def encode(self, batch: dict) -> torch.Tensor:
        """(B, L, d): the user vector after each prefix of `seq` (causal running mean)."""
        seq = batch["seq"]
        parts = []
        if self.use_history:
            e = self.item_emb(seq)
            n = (seq > 0).float().cumsum(1).clamp(min=1).unsqueeze(-1)
            parts.append(e.cumsum(1) / n)
        L = seq.shape[1]
        if self.use_profile:
            parts.append(self.profile_vector(batch).unsqueeze(1).expand(-1, L, -1))
        if self.use_user_id:
            parts.append(self.user_emb(batch["user"]).unsqueeze(1).expand(-1, L, -1))
        if not parts:
            parts.append(torch.zeros(*seq.shape, self.item_emb.embedding_dim, device=seq.device))
        return self.mlp(torch.cat(parts, -1))

    def loss(self, batch: dict) -> torch.Tensor:
        return sequence_loss(self.encode(batch), batch["pos"], self.item_emb, self.loss_type, self.n_items,
                             target_norm=batch.get("target_norm"))

    def user_state(self, batch: dict) -> torch.Tensor:
        return self.encode(batch)[:, -1]

    def scores(self, batch: dict) -> torch.Tensor:
        return self.user_state(batch) @ self.item_emb.weight.T
