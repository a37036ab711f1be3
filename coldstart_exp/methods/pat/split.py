"""The PGraphRAG generation split: one target review per user, a limited visible own history.

Per user the target is the user's latest review (with a title and a text) of an item that at least
one *other* user also reviewed in the visible corpus. Test and validation users see only the
`visible` most recent of their reviews written before the target, drawn so that every history
bucket (0, 1-2, 3-5, 6+) is populated (`bucket_weights`); their target, every review they wrote
after it and their older reviews beyond `visible` are removed from the corpus (`public`), so no
retriever and no training step can read them. Training users (examples for the RL rounds) keep all
reviews before their target; their target and later reviews are removed from the corpus likewise.

Tasks: `target=text` (input = review title, gold = review text) and `target=title` (input = review
text, gold = title; generations are cut to `max_title_words`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

REVIEW_COLUMNS = ("user", "item", "rating", "timestamp", "title", "text")
TASKS = ("text", "title")


@dataclass
class Example:
    set: str  # train | valid | test
    user: int
    rid: int  # target review id (row position in `reviews`)
    item: int
    timestamp: int
    input: str
    gold: str
    own: list[int]  # visible own review ids (oldest first)

    @property
    def activity(self) -> int:
        return len(self.own)


@dataclass
class GenSplit:
    reviews: pd.DataFrame  # all reviews, index = rid (0..n-1)
    public: np.ndarray  # bool per rid: may be read by retrievers and training at all
    examples: dict[str, list[Example]]
    task: str
    info: dict = field(default_factory=dict)

    def visibility(self, ex: Example) -> np.ndarray:
        """Bool per rid readable when serving `ex`: public, not the target, nothing the user wrote from
        the target's time on, and of the user's own reviews only the visible ones."""
        r = self.reviews
        mine = r.user.to_numpy() == ex.user
        ok = self.public & ~mine
        ok[np.asarray(ex.own, dtype=np.int64)] = True
        ok[ex.rid] = False
        return ok


def check_reviews(reviews: pd.DataFrame, source: str = "tables.reviews") -> pd.DataFrame:
    missing = [c for c in REVIEW_COLUMNS if c not in reviews.columns]
    if missing:
        raise ValueError(f"{source}: review table lacks columns {missing} (needs {list(REVIEW_COLUMNS)})")
    r = reviews.reset_index(drop=True).copy()
    r["title"], r["text"] = r.title.fillna("").astype(str), r.text.fillna("").astype(str)
    return r


def make_generation_split(reviews: pd.DataFrame, task: str = "text", n_test: int = 40, n_valid: int = 20,
                          n_train: int = 60, bucket_edges=(0, 1, 3, 6), bucket_weights=(0.4, 0.2, 0.2, 0.2),
                          max_visible: int = 10, max_title_words: int = 10, seed: int = 0) -> GenSplit:
    if task not in TASKS:
        raise ValueError(f"generation.target must be one of {TASKS}, got {task!r}")
    if len(bucket_weights) != len(bucket_edges):
        raise ValueError(f"bucket_weights {list(bucket_weights)} need one weight per bucket edge {list(bucket_edges)}")
    r = check_reviews(reviews)
    rng = np.random.default_rng(seed)
    users_of_item = r.groupby("item").user.nunique()
    has_text = (r.title.str.strip() != "") & (r.text.str.strip() != "")
    order = r.sort_values(["user", "timestamp"], kind="stable")
    # latest eligible review per user: shared item, title and text present
    elig = order[has_text.loc[order.index] & (users_of_item.loc[order.item].to_numpy() > 1)]
    target_of = elig.groupby("user").tail(1)
    users = target_of.user.to_numpy()
    perm = rng.permutation(len(users))
    n_eval = min(len(users), n_test + n_valid)
    sets = {"test": perm[:min(n_test, n_eval)], "valid": perm[min(n_test, n_eval):n_eval],
            "train": perm[n_eval:n_eval + n_train]}
    public = np.ones(len(r), dtype=bool)
    examples: dict[str, list[Example]] = {"train": [], "valid": [], "test": []}
    by_user = {u: g.index.to_numpy() for u, g in order.groupby("user", sort=False)}
    p = np.asarray(bucket_weights, dtype=float)
    edges = list(bucket_edges) + [max_visible + 1]
    plans = {}
    for set_name, idx in sets.items():
        for j in idx:
            rid = int(target_of.index[j])
            u = int(r.user[rid])
            rows = by_user[u]
            ts = int(r.timestamp[rid])
            before = [x for x in rows if int(r.timestamp[x]) < ts]  # strictly earlier: ties are hidden too
            if set_name == "train":
                own = before
            else:
                feasible = [b for b in range(len(edges) - 1) if edges[b] <= min(len(before), max_visible)]
                w = p[feasible] / p[feasible].sum()
                b = int(rng.choice(feasible, p=w))
                n = int(rng.integers(edges[b], min(edges[b + 1] - 1, len(before), max_visible) + 1))
                own = before[len(before) - n:] if n else []
            hidden = [x for x in rows if x not in set(own)]
            public[hidden] = False
            plans[(set_name, rid)] = (u, own)
    dropped = 0
    for set_name, idx in sets.items():
        for j in idx:
            rid = int(target_of.index[j])
            u, own = plans[(set_name, rid)]
            item = int(r.item[rid])
            others = (r.item.to_numpy() == item) & (r.user.to_numpy() != u) & public
            if not others.any():  # every other review of the item belongs to hidden eval reviews
                dropped += 1
                continue
            inp, gold = (r.title[rid], r.text[rid]) if task == "text" else (r.text[rid], r.title[rid])
            examples[set_name].append(Example(set_name, u, rid, item, int(r.timestamp[rid]), inp, gold,
                                              [int(x) for x in own]))
    info = {"task": task, "reviews": len(r), "public_reviews": int(public.sum()), "dropped_no_neighbour": dropped,
            "bucket_edges": list(bucket_edges), "bucket_weights": list(bucket_weights), "max_visible": max_visible,
            "max_title_words": max_title_words, "seed": seed,
            **{f"{k}_users": len(v) for k, v in examples.items()}}
    return GenSplit(r, public, examples, task, info)
