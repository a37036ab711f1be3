"""Stress tests written into the run's outputs.

- Missing inputs: extra eval sets `test/n=0,drop=<k>` = the zero-interaction test users with k
  profile fields hidden (code 0 = unknown) at test time; the datamodule hides them per batch.
- Consistency: teacher and student re-reason over the same users with the profile fields in a
  different order; the per-step agreement with the original labels goes to metrics.json.
"""

from __future__ import annotations

import numpy as np

from ...data.datamodule import SequenceDataModule
from ...data.splits import EvalSet, Split
from .chain import random_drops


def add_drop_sets(split: Split, n_fields: int, ks: list[int], seed: int, n_users: int,
                  base: str = "test/n=0") -> dict[str, np.ndarray]:
    """Add `<base>,drop=<k>` eval sets (copies of `base`); returns name -> (n_users, F) hide mask."""
    drops = {}
    if base not in split.tests or n_fields == 0:
        return drops
    es = split.tests[base]
    for k in ks:
        name = f"{base},drop={k}"
        split.tests[name] = EvalSet(name, es.users, es.histories, es.targets, es.activity, es.seen, es.candidates)
        drops[name] = random_drops(n_users, n_fields, int(k), seed + int(k))
    return drops


class DropFieldsDataModule(SequenceDataModule):
    """SequenceDataModule that hides profile fields in the named eval sets."""

    def __init__(self, *args, drops: dict[str, np.ndarray] | None = None, **kw):
        super().__init__(*args, **kw)
        import torch

        self.drops = {k: torch.from_numpy(v) for k, v in (drops or {}).items()}

    def _collate_eval(self, rows, name: str):
        batch = super()._collate_eval(rows, name)
        if name in self.drops and batch["profile"].shape[1]:
            batch["profile"] = batch["profile"].masked_fill(self.drops[name][batch["user"]], 0)
        return batch


def reorder(n_users: int, n_fields: int, seed: int) -> np.ndarray:
    """(n_users, F) field orders, each different from the identity when F > 1."""
    rng = np.random.default_rng(seed)
    out = np.tile(np.arange(n_fields), (n_users, 1))
    for u in range(n_users):
        if n_fields > 1:
            while (out[u] == np.arange(n_fields)).all():
                out[u] = rng.permutation(n_fields)
    return out


def agreement(a: dict[int, list[str]], b: dict[int, list[str]], names: list[str]) -> dict:
    """Per-step share of users whose label is unchanged, plus whole-chain agreement."""
    users = [u for u in a if u in b]
    if not users:
        return {}
    same = np.array([[x == y for x, y in zip(a[u], b[u])] for u in users], dtype=float)
    out = {n: round(float(v), 4) for n, v in zip(names, same.mean(0))}
    out["all_steps"] = round(float(same.all(1).mean()), 4)
    out["users"] = len(users)
    return out
