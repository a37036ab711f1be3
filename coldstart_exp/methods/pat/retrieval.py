"""Retrieval for PAT and its baselines, over the split's visible corpus only.

One BM25 index (`rank-bm25`, Okapi) over the public reviews (title + text); every profile ranks a
candidate set of review ids that `GenSplit.visibility(example)` allows, so the target review, what
the user wrote after it and hidden history never reach a prompt. Ties break by review id: the same
inputs give the same lists.

Profiles (PGraphRAG names + PAT's two trajectories):
- `user`     the user's visible own reviews, BM25 against the query (LaMP-style)
- `neighbor` other users' reviews of the target item, BM25
- `random`   k reviews of other users drawn with a per-user seed
- `topic`    users who reviewed the target item (plus the items nearest by co-reviewers when fewer
             than `min_topic_users`) -> all their visible reviews -> BM25 -> top-k
- `style`    top `style_users` users nearest in the SageUsers + style-feature space -> each one's
             BM25-best review -> top-k by user similarity
"""

from __future__ import annotations

import numpy as np

from ...retrieval.bm25 import BM25Index
from .split import Example, GenSplit
from .style import style_features, train_user_embeddings


class Retriever:
    def __init__(self, split: GenSplit, k: int = 4, min_topic_users: int = 3, style_users: int = 8,
                 sage_dim: int = 32, sage_epochs: int = 150, style_weight: float = 1.0, seed: int = 0):
        self.split, self.k, self.seed = split, k, seed
        self.min_topic_users, self.style_users, self.style_weight = min_topic_users, style_users, style_weight
        r = split.reviews
        self.user, self.item = r.user.to_numpy(), r.item.to_numpy()
        self.docs = (r.title + " . " + r.text).tolist()
        self.pub_ids = np.flatnonzero(split.public)
        self.bm25 = BM25Index([self.docs[i] for i in self.pub_ids], self.pub_ids)  # public reviews only
        self.examples = {(ex.set, ex.user): ex for exs in split.examples.values() for ex in exs}
        self.emb, self.info = self._user_embeddings(sage_dim, sage_epochs)

    # -- building blocks ------------------------------------------------------------------------
    def bm25_rank(self, query: str, candidates: np.ndarray, k: int | None) -> list[int]:
        """Candidate review ids (public) ranked by BM25 against `query`, ties by id."""
        return self.bm25.rank(query, candidates, k)

    def _user_embeddings(self, dim: int, epochs: int) -> tuple[np.ndarray, dict]:
        r, n_users = self.split.reviews, int(self.split.reviews.user.max()) + 1
        pub = r[self.split.public]
        texts: dict[int, list[str]] = {u: list(g.text) for u, g in pub.groupby("user")}
        ratings: dict[int, list[float]] = {u: list(g.rating.astype(float)) for u, g in pub.groupby("user")}
        for ex in self.examples.values():  # the task input is the user's own writing
            texts.setdefault(ex.user, []).append(ex.input)
        raw = np.stack([style_features(texts.get(u, []), ratings.get(u, [])) for u in range(n_users)])
        style = (raw - raw.mean(0)) / (raw.std(0) + 1e-9)
        edges = pub[["user", "item"]].drop_duplicates().to_numpy(dtype=np.int64)
        n_items = int(r.item.max()) + 1
        emb, info = train_user_embeddings(n_users, n_items, edges, style, dim=dim, epochs=epochs, seed=self.seed)
        sn = style / (np.linalg.norm(style, axis=1, keepdims=True) + 1e-9)
        return np.concatenate([emb, self.style_weight * sn], 1), info

    # -- profiles -------------------------------------------------------------------------------
    def candidates(self, ex: Example, who: str) -> np.ndarray:
        ok = self.split.visibility(ex)
        mine = self.user == ex.user
        if who == "user":
            return np.flatnonzero(ok & mine)
        if who == "neighbor":
            return np.flatnonzero(ok & ~mine & (self.item == ex.item))
        if who == "others":
            return np.flatnonzero(ok & ~mine)
        raise ValueError(f"unknown candidate set {who!r}")

    def profile(self, ex: Example, name: str, query: str | None = None) -> list[int]:
        q = ex.input if query is None else query
        if name == "none":
            return []
        if name in ("user", "neighbor"):
            return self.bm25_rank(q, self.candidates(ex, name), self.k)
        if name == "both":
            return self.profile(ex, "user", q) + self.profile(ex, "neighbor", q)
        if name == "random":
            cand = self.candidates(ex, "others")
            rng = np.random.default_rng([self.seed, ex.user])
            return sorted(rng.choice(cand, size=min(self.k, len(cand)), replace=False).tolist())
        if name == "topic":
            return self.topic(ex, q)
        if name == "style":
            return self.style(ex, q)
        raise ValueError(f"unknown profile {name!r}: none | user | neighbor | both | random | topic | style")

    def topic_users(self, ex: Example) -> list[int]:
        ok = self.split.visibility(ex) & (self.user != ex.user)
        users = sorted(set(self.user[ok & (self.item == ex.item)].tolist()))
        if len(users) < self.min_topic_users:  # nearest items by shared reviewers (Jaccard), ties by id
            on_item = set(users)
            sims = []
            for it in sorted(set(self.item[ok].tolist()) - {ex.item}):
                rev = set(self.user[ok & (self.item == it)].tolist())
                inter = len(rev & on_item)
                if inter:
                    sims.append((-inter / len(rev | on_item), it))
            for _, it in sorted(sims):
                users = sorted(set(users) | set(self.user[ok & (self.item == it)].tolist()))
                if len(users) >= self.min_topic_users:
                    break
        return users

    def topic(self, ex: Example, query: str) -> list[int]:
        ok = self.split.visibility(ex)
        cand = np.flatnonzero(ok & np.isin(self.user, self.topic_users(ex)))
        return self.bm25_rank(query, cand, self.k)

    def similar_users(self, ex: Example) -> list[int]:
        ok = self.split.visibility(ex) & (self.user != ex.user)
        pool = np.unique(self.user[ok])
        sim = self.emb[pool] @ self.emb[ex.user]
        order = np.lexsort((pool, -sim))
        return pool[order][: self.style_users].tolist()

    def style(self, ex: Example, query: str) -> list[int]:
        ok = self.split.visibility(ex)
        out = []
        for u in self.similar_users(ex):
            best = self.bm25_rank(query, np.flatnonzero(ok & (self.user == u)), 1)
            out += best
            if len(out) >= self.k:
                break
        return out
