"""Evaluation protocols: which interactions a model may train on, and what it is asked to predict.

- `loo`: per user, stable sort by time; last item = test, second to last = validation (the
  published protocol of SASRec/S3-Rec/P5/TIGER on Amazon data).
- `cold_user`: whole users held out; their first `n` interactions are revealed as support and the
  rest are targets, for several `n` in one run.
- `given`: the division of pre-split files (RecBole's `<name>.train/.valid/.test.inter`, read by
  `data=atomic` into the `fold` column): valid targets are a user's valid rows after their training
  history, test targets their test rows after training + valid; on a leave-one-out division this is `loo`.
- `cold_item`: the newest items held out; for each, its first `n` users are revealed as seeds and
  the remaining users are targets; users are ranked over the cold items that still have a later
  user (`candidates: reachable`, so no candidate betrays by a short seed list that it has no future),
  or over all cold items (`candidates: all`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import hydra
import numpy as np
import pandas as pd

from .errors import DataError
from .tables import Tables


@dataclass
class EvalSet:
    """One evaluation task: for row r, rank items for `users[r]` given `histories[r]`."""

    name: str
    users: np.ndarray
    histories: list[np.ndarray]  # chronological input items (what the model may read)
    targets: list[np.ndarray]  # ground-truth items
    activity: np.ndarray  # training interactions the model may see for the user (bucketed)
    seen: list[np.ndarray] | None = None  # items masked when `eval.mask_seen` (default: histories)
    candidates: np.ndarray | None = None  # restrict ranking to these items (None = all items)

    def __len__(self) -> int:
        return len(self.users)

    def masked(self) -> list[np.ndarray]:
        return self.seen if self.seen is not None else self.histories


@dataclass
class Split:
    """Training interactions plus validation and test tasks; `info` records the protocol facts."""

    kind: str
    train: pd.DataFrame  # interactions a model may train on (rows of tables.interactions)
    valid: EvalSet
    tests: dict[str, EvalSet]
    cold_users: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cold_items: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    held_out: pd.DataFrame | None = None  # interactions of cold entities (never in `train`)
    info: dict = field(default_factory=dict)
    valid_by_n: dict = field(default_factory=dict)  # cold_item: the validation items at every n (for reporting)

    def train_sequences(self) -> dict[int, np.ndarray]:
        return user_sequences(self.train)


def chronological(inter: pd.DataFrame) -> pd.DataFrame:
    """Stable sort by (user, timestamp): ties keep file order, as the published splits do."""
    order = np.lexsort((inter.timestamp.to_numpy(), inter.user.to_numpy()))
    return inter.iloc[order]


def user_sequences(inter: pd.DataFrame) -> dict[int, np.ndarray]:
    inter = chronological(inter)
    users = inter.user.to_numpy()
    items = inter.item.to_numpy()
    cuts = np.flatnonzero(np.diff(users)) + 1
    return {int(u[0]): s for u, s in zip(np.split(users, cuts), np.split(items, cuts)) if len(u)}


def make_split(tables: Tables, cfg) -> Split:
    """Apply the split named by `cfg._target_` (conf/split/*.yaml); its other keys are the knobs."""
    if "_target_" not in cfg:
        raise DataError(f"split config {dict(cfg)} names no `_target_` (see conf/split/*.yaml)")
    return hydra.utils.instantiate(cfg, _partial_=True, _convert_="all")(tables)


def leave_one_out(tables: Tables, name: str = "loo") -> Split:
    inter = chronological(tables.interactions)
    pos_from_end = inter.groupby("user", sort=False).cumcount(ascending=False).to_numpy()
    length = inter.groupby("user", sort=False).user.transform("size").to_numpy()
    is_test = (pos_from_end == 0) & (length >= 2)
    is_valid = (pos_from_end == 1) & (length >= 3)
    train = inter[~is_test & ~is_valid]
    seqs = user_sequences(train)
    vrows, trows = inter[is_valid], inter[is_test]
    v_users = vrows.user.to_numpy()
    valid = EvalSet(
        "valid", v_users, [seqs[u] for u in v_users], [np.array([i]) for i in vrows.item.to_numpy()],
        np.array([len(seqs[u]) for u in v_users]),
    )
    vmap = dict(zip(v_users, vrows.item.to_numpy()))
    t_users = trows.user.to_numpy()
    t_hist = [np.append(seqs.get(u, np.zeros(0, np.int64)), [vmap[u]] if u in vmap else []).astype(np.int64)
              for u in t_users]
    test = EvalSet(
        "test", t_users, t_hist, [np.array([i]) for i in trows.item.to_numpy()],
        np.array([len(seqs.get(u, ())) for u in t_users]),
    )
    info = {"split": "loo", "train_interactions": len(train), "valid_users": len(valid), "test_users": len(test)}
    return Split("loo", train, valid, {"test": test}, info=info)


def given(tables: Tables, name: str = "given") -> Split:
    inter = chronological(tables.interactions)
    if "fold" not in inter.columns:
        raise DataError(f"split=given needs pre-split files, and data set '{tables.name}' has none: use data=atomic with "
                        f"<name>.train.inter, <name>.valid.inter, <name>.test.inter (data.source.benchmark_filename)")
    fold = inter.fold.to_numpy()
    train = inter[fold == 0]
    seqs = user_sequences(train)
    seen = user_sequences(inter[fold <= 1])  # training + validation history, for the test task
    empty = np.zeros(0, np.int64)

    def task(name: str, rows: pd.DataFrame, history: dict) -> EvalSet:
        tgt = user_sequences(rows)
        users = np.array(sorted(tgt), dtype=np.int64)
        return EvalSet(name, users, [history.get(u, empty) for u in users], [tgt[u] for u in users],
                       np.array([len(seqs.get(u, empty)) for u in users]))

    valid, test = task("valid", inter[fold == 1], seqs), task("test", inter[fold == 2], seen)
    info = {"split": "given", "train_interactions": len(train), "valid_users": len(valid), "test_users": len(test),
            "valid_interactions": int((fold == 1).sum()), "test_interactions": int((fold == 2).sum())}
    return Split("given", train, valid, {"test": test}, info=info)


def _holdout(ids: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(ids)[: max(2, int(round(frac * len(ids))))]
    half = len(chosen) // 2
    return np.sort(chosen[:half]), np.sort(chosen[half:])


def cold_user(tables: Tables, holdout_frac: float = 0.2, seed: int = 0, n_support: Sequence[int] = (0, 1, 2),
              valid_n_support: int = 2, name: str = "cold_user") -> Split:
    """Hold out whole users (random, seeded): half for validation, half for test."""
    inter = chronological(tables.interactions)
    valid_u, test_u = _holdout(np.unique(inter.user.to_numpy()), holdout_frac, seed)
    cold = np.concatenate([valid_u, test_u])
    is_cold = inter.user.isin(cold).to_numpy()
    train, held = inter[~is_cold], inter[is_cold]
    seqs = user_sequences(held)

    def task(name: str, users: np.ndarray, n: int) -> EvalSet:
        users = np.array([u for u in users if len(seqs[u]) > n], dtype=np.int64)
        hist = [seqs[u][:n] for u in users]
        return EvalSet(name, users, hist, [seqs[u][n:] for u in users], np.full(len(users), n))

    tests = {f"test/n={n}": task(f"test/n={n}", test_u, n) for n in n_support}
    valid = task("valid", valid_u, valid_n_support)
    info = {"split": "cold_user", "cold_users_valid": len(valid_u), "cold_users_test": len(test_u),
            "n_support": list(n_support), "train_interactions": len(train)}
    return Split("cold_user", train, valid, tests, cold_users=cold, held_out=held, info=info)


def cold_item(tables: Tables, holdout_frac: float = 0.2, seed: int = 0, n_support: Sequence[int] = (0, 1, 2),
              valid_n_support: int = 2, candidates: str = "reachable", name: str = "cold_item") -> Split:
    """Hold out the newest items (by first interaction); rank cold items for their later users."""
    inter = chronological(tables.interactions)
    first = inter.groupby("item").timestamp.min().sort_values(kind="stable")
    n_cold = max(2, int(round(holdout_frac * len(first))))
    cold = first.index.to_numpy()[-n_cold:]
    rng = np.random.default_rng(seed)
    perm = rng.permutation(cold)
    valid_i, test_i = np.sort(perm[: n_cold // 2]), np.sort(perm[n_cold // 2 :])
    is_cold = inter.item.isin(cold).to_numpy()
    train, held = inter[~is_cold], inter[is_cold].copy()
    order = np.lexsort((np.arange(len(held)), held.timestamp.to_numpy(), held.item.to_numpy()))
    held = held.iloc[order]
    held["user_rank"] = held.groupby("item").cumcount().to_numpy()  # 0 = first user of the item
    seqs = user_sequences(train)
    if candidates not in ("reachable", "all"):
        raise DataError(f"split.candidates={candidates!r}; known: reachable, all")
    reachable_only = candidates == "reachable"

    def task(name: str, items: np.ndarray, n: int) -> EvalSet:
        rows = held[held.item.isin(items)]
        seeds, targets = rows[rows.user_rank < n], rows[rows.user_rank >= n]
        seed_pairs = pd.MultiIndex.from_arrays([seeds.user, seeds.item])
        targets = targets[~pd.MultiIndex.from_arrays([targets.user, targets.item]).isin(seed_pairs)]  # repeats
        if reachable_only:  # every candidate shows exactly n seeds and has a later user
            items = np.unique(targets.item.to_numpy())
        seed_items = seeds.groupby("user").item.apply(np.asarray).to_dict()
        tgt = targets.groupby("user").item.apply(lambda s: np.unique(s.to_numpy()))
        users = tgt.index.to_numpy(np.int64)
        empty = np.zeros(0, np.int64)
        hist = [seqs.get(u, empty) for u in users]
        seen = [np.concatenate([seqs.get(u, empty), seed_items.get(u, empty)]) for u in users]
        return EvalSet(name, users, hist, list(tgt.to_numpy()), np.array([len(h) for h in hist]),
                       seen=seen, candidates=np.sort(items))

    tests = {f"test/n={n}": task(f"test/n={n}", test_i, n) for n in n_support}
    valid = task("valid", valid_i, valid_n_support)
    info = {"split": "cold_item", "cold_items_valid": len(valid_i), "cold_items_test": len(test_i),
            "n_support": list(n_support), "train_interactions": len(train),
            "candidates": candidates,
            "candidate_items": {k: len(es.candidates) for k, es in tests.items()}}
    valid_by_n = {n: valid if n == valid_n_support else task(f"valid/n={n}", valid_i, n) for n in n_support}
    return Split("cold_item", train, valid, tests, cold_items=cold, held_out=held, info=info, valid_by_n=valid_by_n)
