"""What turns a cold item (features + first n users) into something rankable: the trained
generator (and its content-only variant), and the two training-free baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F


class GeneratorScorer:
    """next_user / content_only: the model's embedding after the item's seed users."""

    def __init__(self, model):
        self.model = model

    def vectors(self, items, seeds, counts):
        return self.model.item_vectors(items, seeds, counts)


class LookalikeScorer:
    """Seed-user mean: the item is the mean tower embedding of its seed users (lookalike audience).
    With no seed user every item gets the mean of all users (+ tiny noise): a random order."""

    def __init__(self, user_vecs: torch.Tensor, seed: int = 0):
        self.u = user_vecs
        self.fallback = F.normalize(user_vecs.mean(0), dim=0)
        self.g = torch.Generator().manual_seed(seed)

    def vectors(self, items, seeds, counts):
        # seedless items: the mean user plus tiny noise, i.e. a random order instead of index order
        noise = 1e-4 * torch.randn(len(items), self.u.shape[1], generator=self.g)
        out = F.normalize(self.fallback.expand(len(items), -1) + noise, dim=-1)
        for r in range(len(items)):
            if counts[r]:
                out[r] = F.normalize(self.u[torch.as_tensor(seeds[r, : counts[r]])].mean(0), dim=0)
        return out


class PopularityScorer:
    """Popularity among cold items, from what is revealed at serving time: the number of seed users
    (an item with fewer than n users has stalled), ties broken by how fast they came (design choice),
    then at random. Users are ranked by training activity for next-user recall."""

    def __init__(self, train: pd.DataFrame, n_users: int, seed: int):
        self.activity = np.bincount(train.user.to_numpy(), minlength=n_users).astype(np.float64)
        self.rng = np.random.default_rng(seed)

    def vectors(self, items, seeds, counts):
        return None

    def item_scores(self, items, seeds, counts, held: pd.DataFrame) -> np.ndarray:
        rows = held[held.item.isin(items)]
        span = {}
        for it, g in rows.groupby("item"):
            c = counts[np.searchsorted(items, it)] if len(items) else 0
            ts = g.timestamp.to_numpy()[: max(c, 1)]
            span[int(it)] = (ts[-1] - ts[0]) / 86400.0 if c >= 2 else np.inf
        speed = np.array([1.0 / (2.0 + span.get(int(i), np.inf)) for i in items])
        return counts + speed + 1e-6 * self.rng.random(len(items))

    def user_scores(self) -> np.ndarray:
        return self.activity + 1e-6 * self.rng.random(len(self.activity))
