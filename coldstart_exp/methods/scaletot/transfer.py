"""Transfer: per-step reasoning representations -> a profile encoder -> the recommender's user tower.

The profile encoder (an MLP over profile-field embeddings) learns to reproduce the student's K
per-step representations (cosine + InfoNCE), from training users only. Inside the recommender it is
frozen and runs on every batch's profile codes, so every user - including test users and users whose
fields are hidden at test time - gets a reasoning vector with no LLM at serving time. `HybridRouter`
sends users above an activity threshold to a behavioural backbone instead.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...backbones.base import Backbone
from ...backbones.two_tower import TwoTower


def pca_targets(reps: np.ndarray, dim: int) -> tuple[np.ndarray, dict]:
    """(N, K, D) -> (N, K, dim): per-step PCA (fit on the given users), then L2-normalised."""
    n, k, _ = reps.shape
    out = np.zeros((n, k, dim), dtype=np.float32)
    explained = []
    for s in range(k):
        x = torch.from_numpy(reps[:, s]).float()
        x = x - x.mean(0)
        q = min(dim, n, x.shape[1])
        _, sv, vh = torch.linalg.svd(x, full_matrices=False)  # exact and deterministic (N, D are small)
        out[:, s, :q] = (x @ vh[:q].T).numpy()
        explained.append(float((sv[:q] ** 2).sum() / (x ** 2).sum().clamp(min=1e-12)))
    out /= np.linalg.norm(out, axis=-1, keepdims=True).clip(1e-8)
    return out, {"pca_explained_per_step": [round(e, 3) for e in explained]}


class ProfileEncoder(nn.Module):
    """Profile codes (B, F) -> (B, K * dim); no dropout, so it is deterministic inside the tower."""

    def __init__(self, profile_cards: list[int], k: int, dim: int, hidden: int = 128, emb: int = 16):
        super().__init__()
        self.k, self.dim = k, dim
        self.emb = nn.ModuleList(nn.Embedding(c, emb) for c in profile_cards)
        self.net = nn.Sequential(nn.Linear(emb * max(1, len(profile_cards)), hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, k * dim))

    @property
    def out_dim(self) -> int:
        return self.k * self.dim

    def forward(self, profile: torch.Tensor) -> torch.Tensor:
        if not len(self.emb):
            x = torch.zeros(profile.shape[0], self.net[0].in_features, device=profile.device)
        else:
            x = torch.cat([e(profile[:, i]) for i, e in enumerate(self.emb)], -1)
        return self.net(x)


def fit_encoder(enc: ProfileEncoder, codes: np.ndarray, targets: np.ndarray, epochs: int, lr: float,
                temperature: float, nce_weight: float, field_dropout: float = 0.2, seed: int = 0) -> dict:
    """Full-batch training on (profile codes, K x dim targets) of *training* users only.
    Random field dropout (code 0 = unknown) teaches the encoder to cope with missing fields.
    Outside Lightning on purpose: a small full-batch regression (seconds) inside the offline stage, whose
    inputs and outputs are cached; the recommender that consumes it is trained by Lightning."""
    g = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(codes).long()
    y = F.normalize(torch.from_numpy(targets).float(), dim=-1)  # (N, K, d)
    opt = torch.optim.Adam(enc.parameters(), lr=lr)
    enc.train()
    first = last = None
    for ep in range(epochs):
        xin = x.masked_fill(torch.rand(x.shape, generator=g) < field_dropout, 0) if field_dropout > 0 else x
        pred = F.normalize(enc(xin).view(len(x), enc.k, enc.dim), dim=-1)
        cos = 1 - (pred * y).sum(-1).mean()
        logits = torch.einsum("nkd,mkd->knm", pred, y) / temperature  # per step: users x users
        nce = F.cross_entropy(logits.reshape(-1, len(x)), torch.arange(len(x)).repeat(enc.k))
        loss = cos + nce_weight * nce
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ep == 0:
            first = float(loss)
        last = (float(loss), float(cos))
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    return {"encoder_loss_first": round(first or 0.0, 4), "encoder_loss_last": round(last[0], 4),
            "encoder_cos_last": round(1 - last[1], 4), "encoder_users": len(x)}


class LabelReason(nn.Module):
    """Teacher-only ablation: the committed labels of each user (looked up, LLM at serving time)."""

    def __init__(self, label_table: np.ndarray, n_labels: list[int], dim: int = 16):
        super().__init__()
        self.register_buffer("table", torch.from_numpy(label_table).long())  # (n_users, K), 0 = unknown
        self.emb = nn.ModuleList(nn.Embedding(n + 1, dim) for n in n_labels)
        self.out_dim = dim * len(n_labels)

    def forward(self, profile: torch.Tensor, user: torch.Tensor) -> torch.Tensor:
        lab = self.table[user]
        return torch.cat([e(lab[:, i]) for i, e in enumerate(self.emb)], -1)


class ReasonTower(TwoTower):
    """TwoTower whose user tower also reads a reasoning vector (frozen encoder or label lookup)."""

    def __init__(self, n_items: int, n_users: int, profile_cards: list[int], reason: nn.Module | None = None,
                 reason_dropout: float = 0.1, **kw):
        super().__init__(n_items, n_users, profile_cards, **kw)
        self.reason = reason
        if reason is not None:
            h = self.item_emb.embedding_dim
            self.reason_proj = nn.Sequential(nn.Dropout(reason_dropout), nn.Linear(reason.out_dim, h))
            first = self.mlp[0]
            self.mlp[0] = nn.Linear(first.in_features + h, first.out_features)

    def reason_vector(self, batch: dict) -> torch.Tensor:
        if isinstance(self.reason, LabelReason):
            return self.reason(batch["profile"], batch["user"])
        with torch.no_grad():  # the transferred encoder is frozen
            self.reason.eval()
            return self.reason(batch["profile"])

    def encode(self, batch: dict) -> torch.Tensor:
        seq = batch["seq"]
        L = seq.shape[1]
        parts = []
        if self.use_history:
            e = self.item_emb(seq)
            n = (seq > 0).float().cumsum(1).clamp(min=1).unsqueeze(-1)
            parts.append(e.cumsum(1) / n)
        if self.use_profile:
            parts.append(self.profile_vector(batch).unsqueeze(1).expand(-1, L, -1))
        if self.use_user_id:
            parts.append(self.user_emb(batch["user"]).unsqueeze(1).expand(-1, L, -1))
        if self.reason is not None:
            parts.append(self.reason_proj(self.reason_vector(batch)).unsqueeze(1).expand(-1, L, -1))
        if not parts:
            parts.append(torch.zeros(*seq.shape, self.item_emb.embedding_dim, device=seq.device))
        return self.mlp(torch.cat(parts, -1))


class HybridRouter(Backbone):
    """Hybrid serving: rows with more than `threshold` history items go to the behavioural
    backbone, the others to the profile/reasoning tower. Both are trained jointly (summed losses)."""

    train_from_empty = True

    def __init__(self, cold: Backbone, warm: Backbone | None, threshold: int):
        super().__init__()
        self.cold, self.warm, self.threshold = cold, warm, int(threshold)

    def loss(self, batch: dict) -> torch.Tensor:
        loss = self.cold.loss(batch)
        return loss + self.warm.loss(batch) if self.warm is not None else loss

    def route(self, batch: dict) -> torch.Tensor:
        """(B,) bool: True = behavioural backbone."""
        act = (batch["seq"] > 0).sum(1)
        return act > self.threshold if self.warm is not None else torch.zeros_like(act, dtype=torch.bool)

    def topk(self, batch: dict, k: int, exclude=None, candidates=None) -> torch.Tensor:
        warm = self.route(batch)
        out = self.cold.topk(batch, k, exclude, candidates)
        if warm.any():
            sub = {key: (v[warm] if torch.is_tensor(v) and v.dim() and v.shape[0] == len(warm) and key != "candidates"
                         else v) for key, v in batch.items()}
            out[warm] = self.warm.topk(sub, k, exclude[warm] if exclude is not None else None, candidates)
        return out

    def scores(self, batch: dict) -> torch.Tensor:
        s = self.cold.scores(batch)
        warm = self.route(batch)
        if warm.any():
            s[warm] = self.warm.scores({k: v[warm] if torch.is_tensor(v) and v.dim() and v.shape[0] == len(warm)
                                        and k != "candidates" else v for k, v in batch.items()})
        return s
