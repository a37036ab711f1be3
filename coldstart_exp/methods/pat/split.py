"""The PGraphRAG generation split: one target review per user, a limited visible own history.

Per user the target is the user's latest review (with a title and a text) of an item that at least
one *other* user also reviewed in the visible corpus. Test and validation users see only the
`visible` most recent of their reviews written before the target: each set's users are allocated to
the history buckets (0, 1-2, 3-5, 6+) by `bucket_weights` (most demanding bucket first, drawn from the
users with enough earlier reviews; a shortfall goes to bucket 0), then `visible` is drawn uniformly
within the bucket; their target, every review they wrote
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
    kind: str = "pgraphrag"

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


def pgraphrag(tables, target: str = "text", n_test: int = 40, n_valid: int = 20, n_train: int = 60,
              bucket_edges=(0, 1, 3, 6), bucket_weights=(0.4, 0.2, 0.2, 0.2), max_visible: int = 10,
              max_title_words: int = 10, seed: int = 0, name: str = "pgraphrag") -> GenSplit:
    """`split=pgraphrag` (conf/split/pgraphrag.yaml): the generation split over the data set's review table."""
    reviews = getattr(tables, "reviews", None)
    if reviews is None:
        raise ValueError(f"split=pgraphrag needs review text, and data set '{tables.name}' has no tables.reviews "
                         "(use data=amazon_reviews or a source that reads review text)")
    return make_generation_split(reviews, task=target, n_test=n_test, n_valid=n_valid, n_train=n_train,
                                 bucket_edges=bucket_edges, bucket_weights=bucket_weights, max_visible=max_visible,
                                 max_title_words=max_title_words, seed=seed)


def make_generation_split(reviews: pd.DataFrame, task: str = "text", n_test: int = 40, n_valid: int = 20,
                          n_train: int = 60, bucket_edges=(0, 1, 3, 6), bucket_weights=(0.4, 0.2, 0.2, 0.2),
                          max_visible: int = 10, max_title_words: int = 10, seed: int = 0) -> GenSplit:
    if task not in TASKS:
        raise ValueError(f"task.target must be one of {TASKS}, got {task!r}")
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
    ts_of = r.timestamp.to_numpy()
    by_user = {u: g.index.to_numpy() for u, g in order.groupby("user", sort=False)}
    # own reviews strictly before the target (same-timestamp reviews are hidden with it)
    before = [[int(x) for x in by_user[int(r.user[t])] if ts_of[x] < ts_of[t]] for t in target_of.index]
    n_before = np.array([len(b) for b in before])
    edges = list(bucket_edges) + [max_visible + 1]
    free = set(range(len(target_of)))
    plan: dict[int, tuple[str, int]] = {}  # position in target_of -> (set, visible own reviews)
    for set_name, n_set in (("test", n_test), ("valid", n_valid)):
        quota, short = _allocate(min(n_set, len(free)), bucket_weights), 0
        for b in reversed(range(len(quota))):  # most demanding bucket first; shortfalls fall to bucket 0
            lo, hi = edges[b], min(edges[b + 1] - 1, max_visible)
            pool = sorted(j for j in free if n_before[j] >= lo)
            want = quota[b] + (short if b == 0 else 0)
            take = rng.choice(pool, size=min(want, len(pool)), replace=False).tolist() if want else []
            short += want - len(take) if b > 0 else 0
            for j in take:
                plan[j] = (set_name, int(rng.integers(lo, min(hi, n_before[j]) + 1)))
                free.discard(j)
    for j in rng.choice(sorted(free), size=min(n_train, len(free)), replace=False).tolist():
        plan[j] = ("train", int(n_before[j]))
    public = np.ones(len(r), dtype=bool)
    examples: dict[str, list[Example]] = {"train": [], "valid": [], "test": []}
    for j, (_, n) in sorted(plan.items()):
        rid = int(target_of.index[j])
        own = before[j][len(before[j]) - n:] if n else []
        public[[x for x in by_user[int(r.user[rid])] if x not in set(own)]] = False
    dropped = 0
    for j, (set_name, n) in sorted(plan.items()):
        rid = int(target_of.index[j])
        u, item = int(r.user[rid]), int(r.item[rid])
        others = (r.item.to_numpy() == item) & (r.user.to_numpy() != u) & public
        if not others.any():  # every other review of the item belongs to hidden eval reviews
            dropped += 1
            continue
        inp, gold = (r.title[rid], r.text[rid]) if task == "text" else (r.text[rid], r.title[rid])
        own = before[j][len(before[j]) - n:] if n else []
        examples[set_name].append(Example(set_name, u, rid, item, int(ts_of[rid]), inp, gold, own))
    info = {"task": task, "reviews": len(r), "public_reviews": int(public.sum()), "dropped_no_neighbour": dropped,
            "bucket_edges": list(bucket_edges), "bucket_weights": list(bucket_weights), "max_visible": max_visible,
            "max_title_words": max_title_words, "seed": seed,
            **{f"{k}_users": len(v) for k, v in examples.items()}}
    return GenSplit(r, public, examples, task, info)


def _allocate(n: int, weights) -> list[int]:
    """Split n into integer counts proportional to weights (largest remainders, ties to the first)."""
    w = np.asarray(weights, dtype=float) / float(np.sum(weights))
    base = np.floor(w * n).astype(int)
    rest = np.argsort(-(w * n - base), kind="stable")[: n - int(base.sum())]
    base[rest] += 1
    return base.tolist()
