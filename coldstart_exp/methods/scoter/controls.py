"""Control teachers for SCoTER (issue #17): K-step chains written from data instead of the LLM.

CONTROL (not the method). `method.teacher.kind` selects who writes the chains of the step bank:
- `llm` (default): GVM pattern + the LLM teacher (pipeline.py, distill.py);
- `informed`: K steps stating what can be read off the visible history of the cut (the history
  strictly before its target): dominant categories, the recency pattern (categories of the last few
  items), the popularity band, and a last step that extrapolates (the latest item's categories);
- `shuffled`: the informed chains of each cut assigned to a random permutation of its users;
- `oracle`: the informed chain whose *last* step names the categories of the cut's true target
  item (train: last training item; valid: validation item; test: the test item) - it leaks by design
  and bounds what the fusion can take from one step.
Chains have the LLM teacher's shape ({cut, user, steps, filled}) and go through the same embedding,
bank file, student and fusion. Controls cover `method.teacher.control.users` users (null = all).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..teacher import check_kind as _check_kind

STEP_NAMES = ("dominant categories", "recent categories", "popularity band")


def check_kind(kind: str) -> str:
    return _check_kind(kind, "scoter")


def banner(kind: str) -> str:
    leak = " - the last step LEAKS the target item's category by design" if kind == "oracle" else ""
    return f"CONTROL (not the method): SCoTER teacher.kind={kind}, chains written from data, no LLM teacher{leak}"


def _names(cats: list, n: int) -> str:
    return ", ".join(cats[:n]) if cats else "unknown"


class ChainWriter:
    """Writes the K step texts of one history. `categories[i]`: item i's category list; `pop`: item
    popularity (training counts), whose tertiles over items define the popularity band."""

    def __init__(self, categories: list[list[str]], pop: np.ndarray, domain: str, k: int, recent: int = 5):
        if k < 2:
            raise ValueError(f"SCoTER control chains need K >= 2 steps (method.gvm.k), got {k}")
        self.cats, self.pop, self.domain, self.k, self.recent = categories, pop, domain, k, recent
        nz = pop[1:][pop[1:] > 0]
        self.edges = np.quantile(nz, [1 / 3, 2 / 3]) if len(nz) else np.array([0.0, 0.0])

    def top(self, items) -> list[str]:
        c = Counter(g for i in items for g in self.cats[int(i)])
        return [g for g, _ in sorted(c.items(), key=lambda t: (-t[1], t[0]))]

    def steps(self, hist, target: int | None = None) -> list[str]:
        h = [int(i) for i in hist if int(i) > 0]
        d = self.domain
        band = ["niche", "mid-popularity", "mainstream"][int(np.searchsorted(self.edges, np.mean(self.pop[h]), side="right"))] if h else "unknown"
        body = [f"The user mostly chooses {_names(self.top(h), 3)} {d}s.",
                f"Recently the user chose {_names(self.top(h[-self.recent:]), 2)} {d}s.",
                f"The user prefers {band} {d}s."]
        body = [body[i % len(body)] for i in range(self.k - 1)]
        if target is None:
            last = f"The next {d} is likely a {_names(self.top(h[-1:]), 2)} {d}."
        else:  # oracle: the true target's categories
            last = f"The next {d} is a {_names(self.cats[int(target)], 3)} {d}."
        return body + [last]


def cut_targets(split, hists) -> dict[str, dict[int, int]]:
    """(cut -> user -> true target item): train = last training item, valid, test (loo)."""
    seqs = split.train_sequences()
    out = {"train": {u: int(seqs[u][-1]) for u in hists["train"]},
           "valid": {int(u): int(t[0]) for u, t in zip(split.valid.users, split.valid.targets)},
           "test": {int(u): int(t[0]) for u, t in zip(split.tests["test"].users, split.tests["test"].targets)}}
    return out


def control_chains(kind: str, writer: ChainWriter, hists: dict, users, split, seed: int) -> list[dict]:
    """Chains {cut, user, steps, filled} for the given users on every cut."""
    targets = cut_targets(split, hists) if kind == "oracle" else {}
    out = []
    for cut in ("train", "valid", "test"):
        rows = [int(u) for u in users if int(u) in hists[cut]]
        steps = [writer.steps(hists[cut][u], targets[cut].get(u) if kind == "oracle" else None) for u in rows]
        if kind == "oracle" and any(u not in targets[cut] for u in rows):
            raise ValueError(f"oracle control: no target for some users of cut {cut!r}")
        if kind == "shuffled":
            perm = np.random.default_rng(seed + ("train", "valid", "test").index(cut)).permutation(len(rows))
            steps = [steps[j] for j in perm]
        out += [{"cut": cut, "user": u, "steps": s, "filled": False, "raw": ""} for u, s in zip(rows, steps)]
    return out


def embed_unique(chains: list[dict], encoder, k: int) -> np.ndarray:
    """(N, K, D): each distinct step text is encoded once (control texts repeat a lot)."""
    flat = [s for c in chains for s in c["steps"]]
    uniq = sorted(set(flat))
    pos = {s: i for i, s in enumerate(uniq)}
    emb = encoder.encode(uniq)
    return emb[[pos[s] for s in flat]].reshape(len(chains), k, -1).astype(np.float32)
