"""Structured distillation: pattern-following K-step chains -> K x D step embeddings per (user, cut).

A *cut* is a position in the user's sequence whose target the model predicts; the chain is built
from the history strictly before it:
- `train`: training sequence minus its last item (target = last training item, used in fitting);
- `valid`: the whole training sequence (target = validation item);
- `test`:  training sequence + validation item (target = test item).
The teacher (LLM) covers at most `llm.max_users` users; `student.py` serves the rest.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ...llm import GenerationParams, ParseError, parse_numbered_steps
from ...retrieval import cache_key
from .gvm import history_text

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
    try:
        steps = parse_numbered_steps(text, min_steps=1, max_steps=k)
    except ParseError:
        steps = []
    return steps, len(steps) < k


def teacher_chains(llm, template, pattern_steps: list[str], hists: dict[str, dict[int, np.ndarray]],
                   users: np.ndarray, titles: list[str], params: GenerationParams, history_items: int,
                   domain: str) -> list[dict]:
    """One pattern-following chain per (teacher user, cut), cached by the LLM layer."""
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
