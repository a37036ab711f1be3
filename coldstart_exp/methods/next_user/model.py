"""Tower + generator, the per-batch loss, and the serving-time item embedding.

`content_only=True` is the content baseline: the same prefix encoder, but every step is predicted
from the prefix output alone (no seed users), so the item embedding does not change with n.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .generator import NextUserGenerator
from .losses import exposed_bce, id_reconstruction, info_nce, user_to_item_nce
from .towers import UserTower


class NextUserModel(nn.Module):
    def __init__(self, tower: UserTower, generator: NextUserGenerator, cats: np.ndarray, text: np.ndarray,
                 content_only: bool = False):
        super().__init__()
        self.tower, self.gen, self.content_only = tower, generator, content_only
        self.register_buffer("cats", torch.as_tensor(cats, dtype=torch.long), persistent=False)
        self.register_buffer("text", torch.as_tensor(text, dtype=torch.float32), persistent=False)
        self.bce_bias = nn.Parameter(torch.tensor(-2.0))

    def steps(self, items: torch.Tensor, users: torch.Tensor, lengths: torch.Tensor):
        """items (B,), users (B, L) -1 padded. Returns next-user embeddings (B, L+1, d) normalised,
        hidden states at user positions (B, L, d_model), seed-user embeddings (B, L, d)."""
        u_emb = self.tower(users.clamp(min=0))
        if self.content_only:
            out, hid = self.gen(self.cats[items], self.text[items], u_emb[:, :0], torch.zeros_like(lengths))
            out = out[:, :1].expand(-1, users.shape[1] + 1, -1)
            hid = torch.zeros(*users.shape, hid.shape[-1]) if hid.shape[1] == 0 else hid
        else:
            out, hid = self.gen(self.cats[items], self.text[items], u_emb, lengths)
        return F.normalize(out, dim=-1), hid, u_emb

    def loss(self, batch: dict, cfg, n_users: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Weighted sum of InfoNCE, exposed BCE and ID reconstruction over the batch's valid steps."""
        users, lengths, positive = batch["users"], batch["lengths"], batch["positive"]
        out, hid, u_emb = self.steps(batch["items"], users, lengths)
        L = users.shape[1]
        steps = torch.arange(L).unsqueeze(0).expand(users.shape[0], -1)
        if cfg.target == "future":  # design choice: any later user of the item, not only the next one
            span = (lengths.unsqueeze(1) - steps).clamp(min=1)
            tgt_pos = steps + (torch.rand(users.shape, generator=generator) * span).long()
            tgt_pos = tgt_pos.clamp(max=L - 1)
        else:  # paper: step t predicts user t (0-based) from the first t users
            tgt_pos = steps
        valid = (steps < lengths.unsqueeze(1)) & positive.gather(1, tgt_pos)
        g = out[:, :L][valid]
        target = users.gather(1, tgt_pos)[valid]
        pos_emb = u_emb.gather(1, tgt_pos.unsqueeze(-1).expand(-1, -1, u_emb.shape[-1]))[valid]
        parts = {}
        w = cfg.loss
        if w.infonce > 0:
            uniq, inv = torch.unique(target, return_inverse=True)
            sampled = torch.randint(0, n_users, (int(cfg.sampled_negatives),), generator=generator)
            cand = torch.cat([uniq, sampled])
            parts["infonce"] = info_nce(g, target, cand, self.tower(cand), inv, float(cfg.temperature))
        if w.get("user_side", 0) > 0:
            item_of = torch.arange(users.shape[0]).unsqueeze(1).expand(-1, L)[valid]
            parts["user_side"] = user_to_item_nce(pos_emb, g, item_of, target, float(cfg.temperature))
        if w.bce > 0:
            k = int(cfg.bce_negatives)
            ex = batch["exposed"]  # (B, E)
            row = torch.arange(users.shape[0]).unsqueeze(1).expand(-1, L)[valid]
            n_ex = (ex >= 0).sum(1)[row]
            pick = (torch.rand(len(row), k, generator=generator) * n_ex.clamp(min=1).unsqueeze(1)).long()
            neg = ex[row.unsqueeze(1), pick] if ex.shape[1] else torch.full((len(row), k), -1)
            rand = torch.randint(0, n_users, (len(row), k), generator=generator)
            neg = torch.where((n_ex > 0).unsqueeze(1) & (neg >= 0), neg, rand)
            parts["bce"] = exposed_bce(g, pos_emb, self.tower(neg), float(cfg.temperature), self.bce_bias)
        if w.aux > 0 and not self.content_only:
            in_valid = torch.arange(L).unsqueeze(0) < lengths.unsqueeze(1)
            parts["aux"] = id_reconstruction(self.gen.aux_head(hid[in_valid]), users[in_valid], self.gen.aux_head.out_features)
        total = sum(float(getattr(w, k)) * v for k, v in parts.items())
        return {"total": total, **parts}

    @torch.no_grad()
    def item_vectors(self, items: np.ndarray, seeds: np.ndarray, counts: np.ndarray, batch: int = 512) -> torch.Tensor:
        """(len(items), d) normalised embeddings of cold items after their first `counts` seed users."""
        self.eval()
        out = []
        for s in range(0, len(items), batch):
            it = torch.as_tensor(items[s: s + batch], dtype=torch.long)
            us = torch.as_tensor(seeds[s: s + batch], dtype=torch.long)
            ln = torch.as_tensor(counts[s: s + batch], dtype=torch.long)
            steps, _, _ = self.steps(it, us, ln)
            out.append(steps[torch.arange(len(it)), 0 if self.content_only else ln])
        return torch.cat(out) if out else torch.zeros(0, self.gen.head.out_features)
