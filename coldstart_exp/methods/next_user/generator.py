"""The next-user generator: item-feature prefix tokens, then seed-user tokens, under a prefix-LM mask.

Sequence layout (paper: the item's features act as a prompt that the seed users continue):

    [cat_1 .. cat_C | text | BOS] [u_1 + p_1, u_2 + p_2, ..., u_L + p_L]
     `---------- prefix ---------'  `------------ seed users ------------'

The prefix attends to itself bidirectionally and never to users; user j attends to the whole prefix
and to users 1..j. Output at BOS predicts user 1, output at user j predicts user j+1, so an item
with no users yet (n = 0) still gets an embedding. `use_prefix=False` (ablation) keeps only BOS.
`encoder="mean"` (ablation) replaces the transformer with a running mean of the user tokens.
`seed_skip` (design choice) adds the mean of the seed users' embeddings to each step's output, so
the generator starts from the lookalike estimate and learns the correction from prefix and order.
`content_skip` (design choice) also adds a prefix-only content vector (a second head on BOS) to
every step, and mixes the two unit-norm anchors with learned weights per seed count: the content
vector is trained by every step's target, as the content-only baseline is, and the weights can move
from content (few seeds) to the seed mean (many seeds).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def prefix_lm_mask(n_prefix: int, n_users: int, device=None) -> torch.Tensor:
    """(S, S) bool, True = query row may attend to key column; S = n_prefix + n_users."""
    s = n_prefix + n_users
    allowed = torch.zeros(s, s, dtype=torch.bool, device=device)
    allowed[:n_prefix, :n_prefix] = True  # prefix <-> prefix, unmasked
    allowed[n_prefix:, :n_prefix] = True  # users see the whole prefix
    allowed[n_prefix:, n_prefix:] = torch.ones(n_users, n_users, dtype=torch.bool, device=device).tril()
    return allowed


def running_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, L, d) right-padded rows -> (B, L+1, d): step t holds the mean of the first t valid rows
    (step 0, with none seen yet, is zero). Works for L = 0 (content-only: a single zero step)."""
    w = valid.to(x.dtype).unsqueeze(-1)
    b, d = x.shape[0], x.shape[-1]
    csum = torch.cat([x.new_zeros(b, 1, d), (x * w).cumsum(1)], 1)
    cnt = torch.cat([w.new_zeros(b, 1, 1), w.cumsum(1)], 1).clamp(min=1)
    return csum / cnt


class Block(nn.Module):
    """Pre-LN transformer block with an explicit boolean attention mask."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * d, d))
        self.drop = nn.Dropout(dropout)
        self.p = dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed.unsqueeze(1),
                                           dropout_p=self.p if self.training else 0.0)
        x = x + self.drop(self.out(a.transpose(1, 2).reshape(b, s, d)))
        return x + self.drop(self.ff(self.ln2(x)))


class NextUserGenerator(nn.Module):
    """Maps (item features, seed-user embeddings) to one next-user embedding per step."""

    def __init__(self, n_categories: int, text_dim: int, d_user: int, d_model: int = 64, layers: int = 2,
                 heads: int = 2, dropout: float = 0.1, max_users: int = 50, max_categories: int = 8,
                 use_prefix: bool = True, use_text: bool = True, use_categories: bool = True,
                 encoder: str = "causal", n_hash: int = 4096, seed_skip: bool = True,
                 content_skip: bool = False):
        super().__init__()
        self.seed_skip, self.content_skip = seed_skip, content_skip
        self.skip_scale = nn.Parameter(torch.tensor(1.0))
        if encoder not in ("causal", "mean"):
            raise ValueError(f"method.encoder must be 'causal' or 'mean', got {encoder!r}")
        self.use_prefix, self.encoder = use_prefix, encoder
        self.use_text = use_text and text_dim > 0
        self.use_categories = use_categories and n_categories > 0
        self.max_users, self.max_categories = max_users, max_categories
        self.cat_emb = nn.Embedding(n_categories + 1, d_model, padding_idx=0)
        self.text_proj = nn.Sequential(nn.Linear(max(text_dim, 1), d_model), nn.LayerNorm(d_model))
        self.type_emb = nn.Embedding(3, d_model)  # 0 category, 1 text, 2 user
        self.bos = nn.Parameter(torch.randn(d_model) * 0.02)
        self.user_in = nn.Linear(d_user, d_model)
        self.pos_emb = nn.Embedding(max_users, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads, dropout) for _ in range(layers))
        self.mean_mlp = nn.Sequential(nn.Linear(2 * d_model, 2 * d_model), nn.GELU(), nn.Linear(2 * d_model, d_model))
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, d_user)  # next-user embedding in the user-tower space
        self.aux_head = nn.Linear(d_model, n_hash)  # reconstruct the (hashed) input user ID
        if seed_skip or content_skip:  # start at the lookalike estimate: the learned part begins small
            nn.init.normal_(self.head.weight, std=0.01)
            nn.init.zeros_(self.head.bias)
        if content_skip:  # created last, so the other modules' initialisation is unchanged without it
            self.content_head = nn.Linear(d_model, d_user)  # prefix-only content vector from BOS
            self.mix = nn.Parameter(torch.full((max_users + 1, 2), 0.5413))  # softplus(0.5413) = 1.0

    def prefix(self, cats: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefix tokens (B, P, d) and their validity (B, P); BOS is always last and valid."""
        b = cats.shape[0]
        toks, valid = [], []
        if self.use_prefix and self.use_categories:
            toks.append(self.cat_emb(cats) + self.type_emb.weight[0])
            valid.append(cats > 0)
        if self.use_prefix and self.use_text:
            toks.append((self.text_proj(text) + self.type_emb.weight[1]).unsqueeze(1))
            valid.append(torch.ones(b, 1, dtype=torch.bool, device=cats.device))
        toks.append(self.bos.expand(b, 1, -1))
        valid.append(torch.ones(b, 1, dtype=torch.bool, device=cats.device))
        return torch.cat(toks, 1), torch.cat(valid, 1)

    def forward(self, cats: torch.Tensor, text: torch.Tensor, users: torch.Tensor, lengths: torch.Tensor):
        """cats (B, C) category ids (0 pad); text (B, T); users (B, L, d_user) seed-user embeddings
        (right-padded); lengths (B,). Returns (out (B, L+1, d_user): step t predicts user t+1 having
        seen t users; user_hidden (B, L, d_model): hidden state at each input user, for the aux loss)."""
        pre, pre_valid = self.prefix(cats, text)
        L = users.shape[1]
        u_valid = torch.arange(L, device=users.device).unsqueeze(0) < lengths.unsqueeze(1)
        u = self.user_in(users) + self.pos_emb.weight[:L] + self.type_emb.weight[2]
        steps, hid = self._mean_pool(pre, pre_valid, u, u_valid) if self.encoder == "mean" else \
            self._causal(pre, pre_valid, u, u_valid)
        out = self.head(steps)
        if self.content_skip:  # design choice: weighted unit-norm anchors, content (BOS) and seed mean
            w = F.softplus(self.mix[: L + 1]).unsqueeze(0)  # (1, L+1, 2): one weight pair per seed count
            out = out + w[..., :1] * F.normalize(self.content_head(steps[:, :1]), dim=-1)
            if self.seed_skip:
                out = out + w[..., 1:] * F.normalize(running_mean(users, u_valid), dim=-1)
        elif self.seed_skip:  # design choice: add the running mean of the seed users (lookalike) to every step
            out = out + self.skip_scale * running_mean(users, u_valid)
        return out, hid

    def _causal(self, pre, pre_valid, u, u_valid):
        L = u.shape[1]
        x = torch.cat([pre, u], 1)
        p = pre.shape[1]
        valid = torch.cat([pre_valid, u_valid], 1)
        allowed = prefix_lm_mask(p, L, x.device).unsqueeze(0) & valid.unsqueeze(1)
        allowed = allowed | torch.eye(p + L, dtype=torch.bool, device=x.device)  # padded rows see themselves
        for blk in self.blocks:
            x = blk(x, allowed)
        h = self.ln(x)
        return h[:, p - 1:], h[:, p:]  # hidden states at BOS, then at each user position

    def _mean_pool(self, pre, pre_valid, u, u_valid):
        """Ablation: order-free running mean of the seed users, concatenated with the pooled prefix."""
        w = pre_valid.float().unsqueeze(-1)
        pooled = (pre * w).sum(1) / w.sum(1).clamp(min=1)
        means = running_mean(u, u_valid)
        h = self.ln(self.mean_mlp(torch.cat([pooled.unsqueeze(1).expand_as(means), means], -1)))
        return h, h[:, 1:]  # hidden state at user j = the step that has seen users 1..j
