"""The user tower (user-ID embedding + profile-field embeddings -> d) and its warm pre-training.

Paper: next-user embeddings are matched to the requesting user's embedding by dot product, so the
user tower defines the retrieval space. Design choice: we pre-train it as a two-tower model against
warm item-ID embeddings (full softmax over items) on `split.train` only, then let the
generator's losses fine-tune it at a lower learning rate.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)


class UserTower(nn.Module):
    def __init__(self, n_users: int, profile_cards: list[int], d: int = 64, use_profile: bool = True,
                 dropout: float = 0.1):
        super().__init__()
        self.id_emb = nn.Embedding(n_users, d)
        nn.init.normal_(self.id_emb.weight, std=0.05)
        self.use_profile = use_profile and len(profile_cards) > 0
        self.profile_emb = nn.ModuleList(nn.Embedding(c, d) for c in profile_cards) if self.use_profile else None
        n_in = d * (1 + int(self.use_profile))
        self.mlp = nn.Sequential(nn.Linear(n_in, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d))
        self.register_buffer("profiles", torch.zeros(n_users, len(profile_cards), dtype=torch.long), persistent=False)

    def set_profiles(self, codes: np.ndarray) -> None:
        self.profiles = torch.as_tensor(codes, dtype=torch.long)

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        """(..., d) L2-normalised user embeddings."""
        parts = [self.id_emb(users)]
        if self.use_profile:
            prof = self.profiles[users]
            parts.append(torch.stack([e(prof[..., i]) for i, e in enumerate(self.profile_emb)], 0).mean(0))
        return F.normalize(self.mlp(torch.cat(parts, -1)), dim=-1)

    @torch.no_grad()
    def all_users(self, batch: int = 8192) -> torch.Tensor:
        was = self.training
        self.eval()
        n = self.id_emb.num_embeddings
        out = torch.cat([self(torch.arange(s, min(n, s + batch))) for s in range(0, n, batch)])
        self.train(was)
        return out


def pretrain_user_tower(tower: UserTower, train: pd.DataFrame, n_items: int, d: int, epochs: int, lr: float,
                        batch_size: int, temperature: float, seed: int) -> dict:
    """Two-tower pre-training on warm interactions; returns loss facts (first, last epoch mean).
    Outside Lightning on purpose: a short warm pre-training cached per (data, split, seed, knobs) and
    shared by every ablation and baseline of a grid (methods/next_user cached_tower)."""
    if epochs <= 0:
        return {"epochs": 0}
    g = torch.Generator().manual_seed(seed)
    item_emb = nn.Embedding(n_items + 1, d)
    nn.init.normal_(item_emb.weight, std=0.05)
    opt = torch.optim.Adam(list(tower.parameters()) + list(item_emb.parameters()), lr=lr)
    users = torch.tensor(train.user.to_numpy(), dtype=torch.long)
    items = torch.tensor(train.item.to_numpy(), dtype=torch.long)
    curve = []
    tower.train()
    for _ in range(epochs):
        perm = torch.randperm(len(users), generator=g)
        tot, nb = 0.0, 0
        for s in range(0, len(perm), batch_size):
            idx = perm[s: s + batch_size]
            u = tower(users[idx])
            logits = u @ F.normalize(item_emb.weight, dim=-1).T / temperature  # full softmax over items
            logits[:, 0] = float("-inf")
            loss = F.cross_entropy(logits, items[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot, nb = tot + loss.item(), nb + 1
        curve.append(tot / max(nb, 1))
    log.info("user tower pre-training: loss %.4f -> %.4f over %d epochs", curve[0], curve[-1], epochs)
    return {"epochs": epochs, "loss_first": round(curve[0], 4), "loss_last": round(curve[-1], 4)}
