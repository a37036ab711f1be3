"""Style-trajectory user embeddings: a GraphSAGE-style mean aggregator trained by link prediction on
the visible user-item graph, concatenated with hand-made writing-style features.

    h_u = normalize(relu(W [s_u ; mean_{i in N(u)} z_i]))       score(u, i) = h_u . z_i
s_u = standardized style features of the user's visible text (review length, sentence length, word
length, '!', '?', capitals, digits, first-person rate, mean rating) — for a user with no visible
reviews the task input (their own title or text) is the only text, so such users get s_u from it
and an empty neighbourhood: the "text-style features for users without edges" route.

Trained full-batch with BCE on visible edges vs uniformly drawn negatives, seeded: deterministic.
"""

from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn.functional as F

_FIRST = re.compile(r"\b(i|me|my|mine|myself|i'm|i've)\b", re.I)
_SENT = re.compile(r"[.!?]+")
STYLE_FEATURES = ("words", "words_per_sentence", "word_len", "excl", "quest", "caps", "digits", "first_person", "rating")


def style_features(texts: list[str], ratings: list[float]) -> np.ndarray:
    """Raw style features of one user's texts (zeros for no text)."""
    if not texts:
        return np.zeros(len(STYLE_FEATURES))
    blob = " ".join(texts)
    words = blob.split()
    nw, nc = max(1, len(words)), max(1, len(blob))
    sents = max(1, len([s for s in _SENT.split(blob) if s.strip()]))
    return np.array([
        np.log1p(len(words) / len(texts)), np.log1p(len(words) / sents), sum(map(len, words)) / nw,
        blob.count("!") / nw, blob.count("?") / nw, sum(c.isupper() for c in blob) / nc,
        sum(c.isdigit() for c in blob) / nc, len(_FIRST.findall(blob)) / nw,
        float(np.mean(ratings)) / 5.0 if len(ratings) else 0.0,
    ])


class SageUsers(torch.nn.Module):
    def __init__(self, n_items: int, n_style: int, dim: int):
        super().__init__()
        self.items = torch.nn.Embedding(n_items, dim)
        torch.nn.init.normal_(self.items.weight, std=0.1)
        self.lin = torch.nn.Linear(n_style + dim, dim)

    def users(self, style: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """adj: (U, I) row-normalised (mean aggregation; all-zero rows for users with no edges)."""
        agg = adj @ self.items.weight
        return F.normalize(torch.relu(self.lin(torch.cat([style, agg], 1))), dim=1)


def train_user_embeddings(n_users: int, n_items: int, edges: np.ndarray, style: np.ndarray, dim: int = 32,
                          epochs: int = 150, lr: float = 0.01, negatives: int = 2, seed: int = 0) -> tuple[np.ndarray, dict]:
    """(n_users, dim) embeddings from `edges` (E, 2) of (user, item) pairs and `style` (n_users, F)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = SageUsers(n_items, style.shape[1], dim)
    adj = torch.zeros(n_users, n_items)
    edges = np.array(edges, dtype=np.int64).reshape(-1, 2)  # a writable copy
    if len(edges):
        adj[torch.from_numpy(edges[:, 0]), torch.from_numpy(edges[:, 1])] = 1.0
    deg = adj.sum(1, keepdim=True).clamp(min=1)
    adj_n = adj / deg
    s = torch.tensor(style, dtype=torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    u = torch.tensor(edges[:, 0], dtype=torch.long) if len(edges) else torch.zeros(0, dtype=torch.long)
    i = torch.tensor(edges[:, 1], dtype=torch.long) if len(edges) else torch.zeros(0, dtype=torch.long)
    losses = []
    for _ in range(epochs if len(edges) else 0):
        h = model.users(s, adj_n)
        z = model.items.weight
        pos = (h[u] * z[i]).sum(1) * 5.0
        nu = u.repeat(negatives)
        ni = torch.randint(0, n_items, (len(nu),), generator=g)
        neg = (h[nu] * z[ni]).sum(1) * 5.0
        loss = F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos)) + \
            F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        emb = model.users(s, adj_n).numpy()
    info = {"sage_epochs": len(losses), "sage_loss_first": round(losses[0], 4) if losses else None,
            "sage_loss_last": round(losses[-1], 4) if losses else None, "sage_dim": dim}
    return emb, info
