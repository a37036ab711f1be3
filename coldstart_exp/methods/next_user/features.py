"""Item features the prefix reads (categories, text embedding) and the warm training episodes.

Everything here that comes from interactions reads `split.train` only, so no cold item's
interaction can reach training; cold items contribute metadata (categories, text) alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...data.splits import chronological
from ...data.tables import Tables
from ...retrieval import TextEncoder

log = logging.getLogger(__name__)


def category_matrix(tables: Tables, max_categories: int) -> tuple[np.ndarray, int]:
    """(n_items + 1, C) category ids (1-based, 0 = padding) and the vocabulary size."""
    cats = tables.items["categories"].tolist()
    vocab = {c: i + 1 for i, c in enumerate(sorted({str(c) for cs in cats for c in cs}))}
    out = np.zeros((len(cats), max_categories), dtype=np.int64)
    for r, cs in enumerate(cats):
        ids = [vocab[str(c)] for c in cs][:max_categories]
        out[r, : len(ids)] = ids
    return out, len(vocab)


def item_text_embeddings(tables: Tables, encoder_path: str | None, cache_dir: str, batch_size: int = 64) -> np.ndarray:
    """(n_items + 1, D) L2-normalised sentence embeddings of `Tables.item_texts()` (row 0 = zeros),
    through the shared encoder and its embedding cache (default: the embedded all-MiniLM-L6-v2)."""
    enc = TextEncoder(encoder_path, batch_size, "cpu", normalize=True, cache_dir=cache_dir)
    emb = enc.encode_list(tables.item_texts()[1:], tables.name)
    return np.concatenate([np.zeros((1, emb.shape[1]), np.float32), emb.astype(np.float32)])


@dataclass
class Episodes:
    """One row per warm item: its first `max_users` users in time order, which of them count as
    positive targets, and its exposed-not-positive users (BCE negatives)."""

    items: np.ndarray  # (N,)
    users: np.ndarray  # (N, L) user ids, right-padded with -1
    lengths: np.ndarray  # (N,)
    positive: np.ndarray  # (N, L) bool: the user at this step is a positive target
    exposed: np.ndarray  # (N, E) exposed-not-positive users, -1 padded (E may be 0)


def warm_episodes(train: pd.DataFrame, max_users: int, positive_min_rating: float | None,
                  exposed_max_rating: float | None, max_exposed: int = 64, window: str = "first",
                  rng: np.random.Generator | None = None) -> Episodes:
    """Item-side user sequences from warm interactions only.

    `window="first"` (paper): the item's first `max_users` users, as at serving time.
    `window="random"` (design choice): a random contiguous window, for more varied training steps."""
    inter = chronological(train)
    order = np.lexsort((np.arange(len(inter)), inter.timestamp.to_numpy(), inter.item.to_numpy()))
    inter = inter.iloc[order]
    has_rating = "rating" in inter.columns
    items_all, users_all = inter.item.to_numpy(), inter.user.to_numpy()
    ratings = inter.rating.to_numpy() if has_rating else None
    cuts = np.flatnonzero(np.diff(items_all)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(items_all)]])
    n = len(starts)
    users = np.full((n, max_users), -1, np.int64)
    positive = np.zeros((n, max_users), bool)
    lengths = np.zeros(n, np.int64)
    exposed = np.full((n, max_exposed), -1, np.int64)
    for r, (s, e) in enumerate(zip(starts, ends)):
        if window == "random" and rng is not None and e - s > max_users:
            s = s + int(rng.integers(0, e - s - max_users + 1))
        seg = slice(s, min(e, s + max_users))
        u = users_all[seg]
        users[r, : len(u)], lengths[r] = u, len(u)
        pos = np.ones(len(u), bool)
        if has_rating and positive_min_rating is not None:
            pos = ratings[seg] >= positive_min_rating
        positive[r, : len(u)] = pos
        if has_rating and exposed_max_rating is not None:
            ex = np.unique(users_all[starts[r]: ends[r]][ratings[starts[r]: ends[r]] <= exposed_max_rating])[:max_exposed]
            exposed[r, : len(ex)] = ex
    return Episodes(items_all[starts], users, lengths, positive, exposed)


def seed_users(held: pd.DataFrame, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(len(items), max(n, 1)) first-n users of each cold item (-1 padded) and their counts."""
    rows = held[held.item.isin(items) & (held.user_rank < n)]
    pos = {int(i): k for k, i in enumerate(items)}
    out = np.full((len(items), max(n, 1)), -1, np.int64)
    counts = np.zeros(len(items), np.int64)
    for it, u, rk in zip(rows.item.to_numpy(), rows.user.to_numpy(), rows.user_rank.to_numpy()):
        out[pos[int(it)], rk] = u
        counts[pos[int(it)]] = max(counts[pos[int(it)]], rk + 1)
    return out, counts
