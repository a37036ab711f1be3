"""A tiny generated data set with planted structure, for fast tests.

Each user belongs to a cluster; each cluster owns a ring of items. A user's sequence walks along
its cluster's ring (next item = current + 1 with probability 1 - noise), so a sequential model
that learns transitions beats popularity by a wide margin, and a profile field that reveals the
cluster lets profile-based cold-start models beat popularity on cold users.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadRowLog
from ..loading import Source
from ..tables import RawData

GENRES = ["action", "comedy", "drama", "horror", "romance", "scifi", "western", "musical", "noir", "war"]


class Synthetic(Source):
    """Generated; the keys are the generator's knobs (see conf/data/synthetic.yaml)."""

    def __init__(self, gen_seed: int = 0, n_users: int = 300, n_items: int = 120, n_clusters: int = 6,
                 min_len: int = 6, max_len_seq: int = 30, noise: float = 0.1) -> None:
        self.gen_seed, self.n_users, self.n_items, self.n_clusters = gen_seed, n_users, n_items, n_clusters
        self.min_len, self.max_len_seq, self.noise = min_len, max_len_seq, noise

    def files(self) -> list[Path]:
        return []  # nothing on disk; the cache key is the config alone

    def read(self, log: BadRowLog) -> RawData:
        return generate(self)


def generate(cfg) -> RawData:
    rng = np.random.default_rng(cfg.gen_seed)
    n_users, n_items, n_clusters = cfg.n_users, cfg.n_items, cfg.n_clusters
    item_cluster = np.arange(n_items) % n_clusters
    rings = [np.flatnonzero(item_cluster == c) for c in range(n_clusters)]
    rows, users = [], []
    for u in range(n_users):
        c = int(rng.integers(n_clusters))
        ring = rings[c]
        length = int(rng.integers(cfg.min_len, cfg.max_len_seq + 1))
        pos = int(rng.integers(len(ring)))
        t = int(rng.integers(1_000_000))
        for _ in range(length):
            if rng.random() < cfg.noise:
                item = int(rng.integers(n_items))
            else:
                pos = (pos + 1) % len(ring)
                item = int(ring[pos])
            t += int(rng.integers(1, 1000))
            rows.append((f"u{u}", f"i{item}", t, float(rng.integers(1, 6))))
        shown = c if rng.random() > cfg.noise else int(rng.integers(n_clusters))
        users.append((f"u{u}", f"group{shown}", str(rng.choice(["a", "b"]))))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    profiles = pd.DataFrame(users, columns=["user_id", "group", "noise_field"])
    items = pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "title": [f"{GENRES[item_cluster[i] % len(GENRES)]} item {i}" for i in range(n_items)],
            "categories": [[GENRES[item_cluster[i] % len(GENRES)]] for i in range(n_items)],
        }
    )
    items["text"] = [f"{t}. Genre: {c[0]}." for t, c in zip(items.title, items.categories)]
    items = items[items.item_id.isin(set(inter.item_id))]
    return RawData(inter, profiles, items)
