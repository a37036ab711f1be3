"""Control teachers for ScaleToT (issue #17): typed chains derived from data instead of the LLM.

CONTROL (not the method). `method.teacher.kind` selects who writes the typed chain:
- `llm` (default): the LLM teacher (teacher.py);
- `informed`: each step's label from the user's own *training* interactions, by the rule named in
  `method.teacher.control.rules` (genre steps: the most-watched genre mapped to the step's label via
  its `genres` table; other steps: a quantile band of a behavioural statistic, or a genre table of
  their own) - what a teacher that only restates the data could give;
- `shuffled`: the informed chains assigned to a random permutation of the same users;
- `oracle`: informed labels for the training users *and* for every cold user (validation and test),
  computed from the cold user's held-out interactions - it leaks by design. The cold users join the
  teacher users, so the leak reaches the recommender only through the same student and transfer.

Each returns the LLM teacher's `Chain` objects (labels, per-step distributions, entropies,
expansions), so verification, student, OSIPO and the transfer run unchanged.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pandas as pd

from ..teacher import check_kind as _check_kind
from .chain import ChainSpec
from .teacher import Chain

log = logging.getLogger(__name__)

STATS = ("activity", "rating", "popularity")


def check_kind(kind: str) -> str:
    return _check_kind(kind, "scaletot")


def user_stats(inter: pd.DataFrame, item_pop: np.ndarray) -> pd.DataFrame:
    """Per user: activity (interactions), mean rating (NaN without ratings), mean item popularity."""
    g = inter.groupby("user")
    out = pd.DataFrame({"activity": g.size().astype(float)})
    out["rating"] = g.rating.mean() if "rating" in inter.columns else np.nan
    out["popularity"] = inter.assign(p=item_pop[inter.item.to_numpy()]).groupby("user").p.mean()
    return out


def genre_counts(inter: pd.DataFrame, categories: pd.Series) -> dict[int, Counter]:
    return {int(u): Counter(g for i in its.to_numpy() for g in categories.iloc[int(i)])
            for u, its in inter.groupby("user").item}


def genre_label(counts: Counter, table: dict) -> tuple[str | None, list[float]]:
    """The label whose genres contain the most-watched genre (ties: genre name); probs ~ label coverage."""
    labels = list(table)
    known = {g for gs in table.values() for g in gs}
    ranked = sorted(((n, g) for g, n in counts.items() if g in known), key=lambda t: (-t[0], t[1]))
    cover = np.array([sum(counts.get(g, 0) for g in table[lab]) for lab in labels], dtype=float)
    if not ranked:
        return None, []
    top = ranked[0][1]
    return next(lab for lab in labels if top in table[lab]), (cover / cover.sum()).tolist()


class ControlTeacher:
    """Data-derived typed chains. `rules`: step name -> {rule: genres[, table]} | {rule: band, of: <stat>}
    (band labels = `order` or the step's labels, low -> high, over quantiles of the training users' statistic)."""

    def __init__(self, spec: ChainSpec, rules: dict, train: pd.DataFrame, items: pd.DataFrame, n_items: int,
                 smooth: float = 0.3):
        self.spec, self.smooth, self.cats = spec, float(smooth), items["categories"]
        self.pop = np.bincount(train.item.to_numpy(), minlength=n_items + 1).astype(float)
        self.rules, self.order = {}, {}
        for s in spec.steps:
            r = dict(rules.get(s.name) or {})
            kind = r.get("rule")
            if kind == "genres":
                table = r.get("table") or s.genres
                if not table or set(table) - set(s.labels):
                    raise ValueError(f"method.teacher.control.rules.{s.name}: rule=genres needs a genre table over "
                                     f"the step's labels {list(s.labels)} (the step's `genres:` or `table:`)")
                self.rules[s.name] = ("genres", {k: list(v) for k, v in table.items()})
            elif kind == "band":
                if r.get("of") not in STATS:
                    raise ValueError(f"method.teacher.control.rules.{s.name}.of must be one of {STATS}, got {r.get('of')!r}")
                order = [str(x) for x in (r.get("order") or s.labels)]
                if sorted(order) != sorted(s.labels):
                    raise ValueError(f"method.teacher.control.rules.{s.name}.order must list the step's labels {list(s.labels)}")
                self.rules[s.name] = ("band", r["of"])
                self.order[s.name] = order
            else:
                raise ValueError(f"method.teacher.control.rules.{s.name}: rule must be genres | band, got {kind!r} "
                                 "(every chain step needs a control rule)")
        st = user_stats(train, self.pop)
        self.edges = {s.name: np.nanquantile(st[self.rules[s.name][1]].to_numpy(), np.linspace(0, 1, len(s.labels) + 1)[1:-1])
                      for s in spec.steps if self.rules[s.name][0] == "band" and st[self.rules[s.name][1]].notna().any()}

    def chains(self, inter: pd.DataFrame, users: list[int]) -> dict[int, Chain]:
        """One chain per user from `inter` (that user's rows); users without rows get the first label."""
        counts = genre_counts(inter, self.cats)
        st = user_stats(inter, self.pop) if len(inter) else pd.DataFrame(columns=list(STATS))
        out = {}
        for u in users:
            labels, probs = [], []
            for s in self.spec.steps:
                kind, arg = self.rules[s.name]
                lab, p = None, []
                if kind == "genres":
                    lab, p = genre_label(counts.get(u, Counter()), arg)
                    if lab is not None:
                        p = [p[list(arg).index(x)] if x in arg else 0.0 for x in s.labels]
                elif u in st.index and s.name in self.edges and not np.isnan(st.at[u, arg]):
                    lab = self.order[s.name][int(np.searchsorted(self.edges[s.name], st.at[u, arg], side="right"))]
                lab = lab if lab is not None else s.labels[0]
                onehot = np.eye(len(s.labels))[s.labels.index(lab)]
                p = np.asarray(p, dtype=float) if len(p) else np.full(len(s.labels), 1.0 / len(s.labels))
                q = (1 - self.smooth) * onehot + self.smooth * p
                labels.append(lab)
                probs.append([round(float(x), 5) for x in q / q.sum()])
            out[int(u)] = Chain(labels, probs, [0.0] * self.spec.k, [0] * self.spec.k)
        return out


def shuffle_chains(chains: dict[int, Chain], seed: int) -> dict[int, Chain]:
    """The same chains, assigned to a random permutation of the same users."""
    users = sorted(chains)
    perm = np.random.default_rng(seed).permutation(len(users))
    return {u: chains[users[j]] for u, j in zip(users, perm)}


def control_chains(kind: str, teacher: ControlTeacher, split, teacher_users: list[int], seed: int) -> tuple[dict, list[int]]:
    """(chains, users that have one). `oracle` adds every cold user, labelled from held-out rows."""
    chains = teacher.chains(split.train, teacher_users)
    if kind == "shuffled":
        return shuffle_chains(chains, seed), list(teacher_users)
    if kind == "oracle":
        cold = [int(u) for u in split.cold_users]
        chains.update(teacher.chains(split.held_out, cold))
        return chains, sorted(set(teacher_users) | set(cold))
    return chains, list(teacher_users)


def banner(kind: str) -> str:
    leak = " - LEAKS held-out interactions by design" if kind == "oracle" else ""
    return f"CONTROL (not the method): ScaleToT teacher.kind={kind}, typed labels derived from data, no LLM teacher{leak}"
