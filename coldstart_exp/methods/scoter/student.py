"""Student: user sequence -> K x D step embeddings, trained on the teacher-covered users.

Why item *text* embeddings as input: the teacher saw titles, and a few hundred teacher users are
far too few to learn item-ID embeddings; frozen text embeddings let the student generalise to
items and users the LLM never saw. K learned step queries attend over the history, so each step
gets its own view of the sequence (the structure survives the transfer).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)


class StepStudent(nn.Module):
    def __init__(self, item_text: np.ndarray, k: int, max_len: int, hidden: int = 128, heads: int = 4,
                 dropout: float = 0.1):
        super().__init__()
        D = item_text.shape[1]
        self.register_buffer("item_text", torch.as_tensor(item_text, dtype=torch.float32), persistent=False)
        self.inp = nn.Linear(D, hidden)
        self.pos = nn.Embedding(max_len, hidden)
        self.queries = nn.Parameter(torch.randn(k, hidden) * 0.02)
        self.att = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, D))
        self.max_len = max_len

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """seq (B, L) left-padded item ids -> (B, K, D) unit-norm step embeddings."""
        seq = seq[:, -self.max_len:]
        B, L = seq.shape
        x = self.inp(self.item_text[seq]) + self.pos(torch.arange(L, device=seq.device) + self.max_len - L)
        pad = seq == 0
        pad = pad & ~pad.all(1, keepdim=True)  # an empty history attends to padding rather than NaN
        q = self.queries.unsqueeze(0).expand(B, -1, -1)
        h, _ = self.att(q, x, x, key_padding_mask=pad)
        return F.normalize(self.out(h + q), dim=-1)


def pad_histories(hists: list[np.ndarray], max_len: int) -> torch.Tensor:
    out = np.zeros((len(hists), max_len), np.int64)
    for r, h in enumerate(hists):
        h = np.asarray(h)[-max_len:]
        if len(h):
            out[r, max_len - len(h):] = h
    return torch.from_numpy(out)


def fit_student(student: StepStudent, hists: list[np.ndarray], targets: np.ndarray, epochs: int = 60,
                lr: float = 3e-3, batch_size: int = 64, seed: int = 0, val_frac: float = 0.1) -> dict:
    """Cosine regression onto the teacher's step embeddings; returns train/held-out cosine.
    Outside Lightning on purpose: a seconds-long regression of teacher step embeddings inside the
    cached offline stage; the fused recommender is trained by Lightning."""
    g = torch.Generator().manual_seed(seed)
    X = pad_histories(hists, student.max_len)
    Y = F.normalize(torch.as_tensor(targets, dtype=torch.float32), dim=-1)
    n = len(X)
    perm = torch.randperm(n, generator=g)
    n_val = int(round(val_frac * n)) if n >= 20 else 0
    val, tr = perm[:n_val], perm[n_val:]
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=1e-4)
    student.train()
    for _ in range(epochs):
        order = tr[torch.randperm(len(tr), generator=g)]
        for s in range(0, len(order), batch_size):
            b = order[s:s + batch_size]
            loss = 1 - (student(X[b]) * Y[b]).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    student.eval()
    with torch.no_grad():
        cos_tr = float((student(X[tr]) * Y[tr]).sum(-1).mean()) if len(tr) else float("nan")
        cos_val = float((student(X[val]) * Y[val]).sum(-1).mean()) if len(val) else float("nan")
        # reference: how close is the teacher's mean chain (a constant predictor) on held-out users
        mean = F.normalize(Y[tr].mean(0, keepdim=True), dim=-1)
        cos_const = float((mean * Y[val]).sum(-1).mean()) if len(val) else float("nan")
    return {"student_cos_train": round(cos_tr, 4), "student_cos_heldout": round(cos_val, 4),
            "const_cos_heldout": round(cos_const, 4), "student_examples": n}


@torch.no_grad()
def predict(student: StepStudent, hists: list[np.ndarray], batch_size: int = 512) -> np.ndarray:
    student.eval()
    outs = [student(pad_histories(hists[s:s + batch_size], student.max_len)).numpy()
            for s in range(0, len(hists), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0,) + tuple(student.queries.shape[:1]) + (student.item_text.shape[1],), np.float32)
