"""Structured distillation: pattern-following K-step chains -> K x D step embeddings per (user, cut).

A *cut* is a position in the user's sequence whose target the model predicts; the chain is built
from the history strictly before it:
- `train`: training sequence minus its last item (target = last training item, used in fitting);
- `valid`: the whole training sequence (target = validation item);
- `test`:  training sequence + validation item (target = test item).
The teacher (LLM) covers at most `llm.max_users` users; the student (below) serves the rest.

The bank: `StepBank`, (cut, user) -> K x D step embeddings, teacher rows then student rows.

Student: User sequence -> K x D step embeddings, trained on the teacher-covered users.

Why item *text* embeddings as input: the teacher saw titles, and a few hundred teacher users are
far too few to learn item-ID embeddings; frozen text embeddings let the student generalise to
items and users the LLM never saw. K learned step queries attend over the history, so each step
gets its own view of the sequence (the structure survives the transfer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...retrieval.keys import cache_key

if TYPE_CHECKING:
    from ...llm import GenerationParams
import json
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)
CUTS = ("train", "valid", "test")


def cut_histories(split) -> dict[str, dict[int, np.ndarray]]:
    """user -> history before each cut (loo split only)."""
    if split.kind != "loo":
        raise ValueError("method=scoter supports split=loo (step embeddings are keyed by loo cut)")
    seqs = split.train_sequences()
    valid_items = {int(u): int(t[0]) for u, t in zip(split.valid.users, split.valid.targets)}
    out = {"train": {}, "valid": {}, "test": {}}
    for u, s in seqs.items():
        if len(s) >= 2:
            out["train"][u] = s[:-1]
        out["valid"][u] = s
        out["test"][u] = np.append(s, [valid_items[u]]).astype(np.int64) if u in valid_items else s
    return out


def teacher_users(users: np.ndarray, max_users: int | None, seed: int) -> np.ndarray:
    """The users the LLM reaches: a fixed-seed sample (independent of the run seed)."""
    users = np.sort(np.asarray(users))
    if max_users is None or max_users >= len(users):
        return users
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(users)[: int(max_users)])


def render_pattern(steps: list[str]) -> str:
    return "\n".join(f"{i + 1}. {s}" for i, s in enumerate(steps))


def parse_k_steps(text: str, k: int) -> tuple[list[str], bool]:
    """Exactly K steps: extra ones are cut; missing ones are filled (returns filled=True)."""
    from ...llm import ParseError, parse_numbered_steps

    try:
        steps = parse_numbered_steps(text, min_steps=1, max_steps=k)
    except ParseError:
        steps = []
    return steps, len(steps) < k


def teacher_chains(llm, template, pattern_steps: list[str], hists: dict[str, dict[int, np.ndarray]],
                   users: np.ndarray, titles: list[str], params: GenerationParams, history_items: int,
                   domain: str) -> list[dict]:
    """One pattern-following chain per (teacher user, cut), cached by the LLM layer."""
    from .gvm import history_text  # the GVM pass's history rendering, so both prompts show the same thing

    k = len(pattern_steps)
    pat = render_pattern(pattern_steps)
    jobs = [(cut, int(u)) for cut in CUTS for u in users if int(u) in hists[cut]]
    prompts = [template.render(history=history_text(hists[cut][u], titles, history_items), pattern=pat, k=k,
                               domain=domain) for cut, u in jobs]
    texts = llm.generate(prompts, params, template_version=template.version_key, desc="scoter.distill")
    out = []
    for (cut, u), t in zip(jobs, texts):
        steps, filled = parse_k_steps(t, k)
        if filled:
            llm.counters.add(fallbacks=1)
        # a missing step becomes the pattern's instruction for it: neutral, and still step-specific
        steps = steps + pattern_steps[len(steps):]
        out.append({"cut": cut, "user": u, "steps": steps, "filled": filled, "raw": t})
    return out


def embed_chains(chains: list[dict], encoder, k: int) -> np.ndarray:
    """(N, K, D) float32, one row per chain."""
    flat = [s for c in chains for s in c["steps"]]
    emb = encoder.encode(flat) if flat else np.zeros((0, encoder.dim), np.float32)
    return emb.reshape(len(chains), k, -1)


def bank_key(*parts) -> str:
    return cache_key(*parts, algo="sha1", length=12)


def save_bank(path: Path, chains: list[dict], R: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, R=R.astype(np.float16), users=np.array([c["user"] for c in chains], np.int64),
                        cuts=np.array([c["cut"] for c in chains]),
                        filled=np.array([c["filled"] for c in chains], bool))
    tmp.replace(path)
    with open(path.with_suffix(".chains.jsonl"), "w") as f:
        for c in chains:
            f.write(json.dumps({k: c[k] for k in ("cut", "user", "steps", "filled")}) + "\n")


def load_bank(path: Path) -> tuple[dict[tuple[str, int], int], np.ndarray, np.ndarray]:
    with np.load(path) as z:
        R, users, cuts, filled = z["R"].astype(np.float32), z["users"], z["cuts"], z["filled"]
    index = {(str(c), int(u)): i for i, (c, u) in enumerate(zip(cuts, users))}
    return index, R, filled


# -- the bank --------------------------------------------------------------------------------
class StepBank:
    """(cut, user) -> K x D step embeddings (teacher where covered, student elsewhere)."""

    def __init__(self, index: dict[tuple[str, int], int], R: np.ndarray, source: np.ndarray | None = None):
        self.index, self.R = index, torch.as_tensor(R, dtype=torch.float16)
        self.source = source  # per row: 1 teacher, 0 student
        self.K, self.D = self.R.shape[1], self.R.shape[2]

    def pooled(self) -> StepBank:
        """Ablation "mean-pooled chain": one structure-agnostic vector per chain (K = 1)."""
        return StepBank(self.index, self.R.float().mean(1, keepdim=True).numpy(), self.source)

    def lookup(self, cut: str, users) -> tuple[torch.Tensor, torch.Tensor]:
        idx = [self.index.get((cut, int(u)), -1) for u in users]
        has = torch.tensor([i >= 0 for i in idx])
        rows = torch.tensor([max(i, 0) for i in idx])
        steps = self.R[rows].float() if len(rows) else torch.zeros(0, self.K, self.D)
        return steps, has


# -- the student -----------------------------------------------------------------------------
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
