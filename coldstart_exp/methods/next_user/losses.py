"""The three training signals (paper: contrastive, exposed-not-positive cross-entropy, auxiliary
user-ID reconstruction). Each takes flat tensors of valid steps and returns a scalar."""

from __future__ import annotations

import torch
import torch.nn.functional as F

HASH_MULT = 2654435761  # Knuth's multiplicative hash


def hash_users(users: torch.Tensor, n_hash: int) -> torch.Tensor:
    return (users * HASH_MULT) % n_hash


def info_nce(g: torch.Tensor, target: torch.Tensor, cand_users: torch.Tensor, cand_emb: torch.Tensor,
             label: torch.Tensor, temperature: float) -> torch.Tensor:
    """g (N, d) next-user embeddings; cand_users/cand_emb the in-batch + sampled candidates;
    label (N,) column of each step's true next user. Other columns holding that same user are masked."""
    logits = g @ cand_emb.T / temperature
    dup = cand_users.unsqueeze(0) == target.unsqueeze(1)
    dup[torch.arange(len(label)), label] = False
    return F.cross_entropy(logits.masked_fill(dup, float("-inf")), label)


def exposed_bce(g: torch.Tensor, pos_emb: torch.Tensor, neg_emb: torch.Tensor, temperature: float,
                bias: torch.Tensor) -> torch.Tensor:
    """Binary CE: the true next user is 1, exposed-not-positive (or sampled) users are 0.
    g (N, d), pos_emb (N, d), neg_emb (N, k, d)."""
    pos = (g * pos_emb).sum(-1) / temperature + bias
    neg = torch.einsum("nd,nkd->nk", g, neg_emb) / temperature + bias
    return F.softplus(-pos).mean() + F.softplus(neg).mean()


def id_reconstruction(logits: torch.Tensor, users: torch.Tensor, n_hash: int) -> torch.Tensor:
    """CE of predicting each input user's hashed ID from the hidden state at its position."""
    return F.cross_entropy(logits, hash_users(users, n_hash))


def user_to_item_nce(pos_emb: torch.Tensor, g: torch.Tensor, item_of: torch.Tensor, target: torch.Tensor,
                     temperature: float) -> torch.Tensor:
    """The serving direction (design choice): for each true next user, pick its item's step among all
    steps in the batch. Other steps of the same item and other steps whose user is the same are masked."""
    logits = pos_emb @ g.T / temperature
    eye = torch.eye(len(g), dtype=torch.bool)
    clash = ((item_of.unsqueeze(0) == item_of.unsqueeze(1)) | (target.unsqueeze(0) == target.unsqueeze(1))) & ~eye
    return F.cross_entropy(logits.masked_fill(clash, float("-inf")), torch.arange(len(g)))
