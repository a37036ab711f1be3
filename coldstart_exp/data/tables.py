"""Standard tables every source is turned into, and the preprocessing shared by all sources.

Conventions (relied upon everywhere downstream):
- users are indexed 0..n_users-1; items 1..n_items, index 0 is padding (as in RecBole);
- `interactions` keeps the source file's row order; a *stable* sort by (user, timestamp) therefore
  reproduces published leave-one-out splits whose ties are ordered by file position.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DataError

log = logging.getLogger(__name__)


@dataclass
class RawData:
    """What a source reader returns: raw string ids, before filtering and re-indexing."""

    interactions: pd.DataFrame  # user_id, item_id (str), timestamp (int64), optional rating (float)
    users: pd.DataFrame | None  # user_id + static profile columns (str)
    items: pd.DataFrame | None  # item_id + title, text, categories (list[str]), other columns
    report: dict = field(default_factory=dict)
    reviews: pd.DataFrame | None = None  # user_id, item_id, rating, timestamp, title, text (review text)


@dataclass
class Tables:
    """Re-indexed interactions, user profiles and item metadata of one data set."""

    name: str
    interactions: pd.DataFrame  # user (int64), item (int64, >=1), timestamp (int64), [rating], [fold]
    user_ids: np.ndarray  # raw id of user u at position u
    item_ids: np.ndarray  # raw id of item i at position i; position 0 is "[PAD]"
    users: pd.DataFrame | None  # index = user; categorical profile columns (str)
    items: pd.DataFrame  # index = item (0..n_items); title, text, categories
    report: dict = field(default_factory=dict)
    # written reviews where the source has them (else None): user, item (the ids of `interactions`),
    # rating (float32, NaN if absent), timestamp (int64), title, text (str); file order
    reviews: pd.DataFrame | None = None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of real items (the score vector has n_items + 1 entries, index 0 = padding)."""
        return len(self.item_ids) - 1

    @property
    def profile_fields(self) -> list[str]:
        return [] if self.users is None else list(self.users.columns)

    def coverage(self) -> dict[str, float | int]:
        """What the method-specific fields hold: shares of items with text / categories, of users
        with a profile, and the number of reviews (docs/DATA.md says which method needs which)."""
        items = self.items.iloc[1:]
        has_profile = 0.0 if self.users is None or not len(self.users.columns) else float(
            self.users.notna().any(axis=1).mean())
        return {"item_text": float((items["text"].str.strip() != "").mean()) if len(items) else 0.0,
                "item_categories": float(np.mean([len(c) > 0 for c in items["categories"]])) if len(items) else 0.0,
                "user_profiles": has_profile, "reviews": 0 if self.reviews is None else len(self.reviews)}

    def require(self, method: str, *fields: str) -> None:
        """Raise a DataError naming the method and the field when the data set has none of it
        (fields: item_text, item_categories, user_profiles, reviews)."""
        cov = self.coverage()
        for f in fields:
            if f not in cov:
                raise DataError(f"unknown field {f!r}; known: {sorted(cov)}")
            if not cov[f]:
                raise DataError(f"method {method} needs {f.replace('_', ' ')}, and data set '{self.name}' has none "
                                f"(see docs/DATA.md for how each format provides it)")

    def profile_codes(self) -> tuple[np.ndarray, list[int]]:
        """Integer codes (n_users, n_fields) of the profile columns, 0 = unknown, and the
        cardinality (incl. unknown) of each field; what profile-aware towers embed."""
        if self.users is None or not len(self.users.columns):
            return np.zeros((self.n_users, 0), dtype=np.int64), []
        codes, cards = [], []
        for col in self.users.columns:
            cat = pd.Categorical(self.users[col].astype("string").fillna(""))
            c = cat.codes.astype(np.int64) + 1
            c[self.users[col].isna().to_numpy()] = 0
            codes.append(c)
            cards.append(len(cat.categories) + 1)
        return np.stack(codes, 1), cards

    def item_texts(self) -> list[str]:
        """Index i -> the text that describes item i, for every text encoder and prompt (index 0 =
        padding, ""). Sources compose title, brand, categories, price / genres, year into `text`;
        the title stands in when an item has no text, "unknown item" when it has neither."""
        texts, titles = self.items["text"].astype(str).tolist(), self.items["title"].astype(str).tolist()
        return [""] + [t if t.strip() else (ti if ti.strip() else "unknown item")
                       for t, ti in zip(texts[1:], titles[1:])]

    def item_titles(self, max_chars: int = 80) -> list[str]:
        """Index i -> item i's title on one line, cut to `max_chars` (what prompts list; 0 = "[PAD]")."""
        return [re.sub(r"\s+", " ", t).strip()[:max_chars] for t in self.items["title"].astype(str).tolist()]


def k_core(inter: pd.DataFrame, k: int) -> tuple[pd.DataFrame, dict]:
    """Iteratively drop users and items with fewer than k interactions; report what went."""
    before = (len(inter), inter.user_id.nunique(), inter.item_id.nunique())
    rounds = 0
    while k > 0:
        uc = inter.user_id.map(inter.user_id.value_counts())
        ic = inter.item_id.map(inter.item_id.value_counts())
        keep = (uc >= k) & (ic >= k)
        if keep.all():
            break
        inter = inter[keep]
        rounds += 1
    after = (len(inter), inter.user_id.nunique(), inter.item_id.nunique())
    report = {
        "k": k,
        "rounds": rounds,
        "removed_interactions": before[0] - after[0],
        "removed_users": before[1] - after[1],
        "removed_items": before[2] - after[2],
    }
    return inter, report


def handle_duplicates(name: str, inter: pd.DataFrame, policy: str) -> tuple[pd.DataFrame, dict]:
    """Exact duplicate interaction rows (every column equal): counted always; `data.duplicates` says what
    happens to them: keep (default: the file is the truth, with a warning), drop (keep the first) or error."""
    if policy not in ("keep", "drop", "error"):
        raise DataError(f"data.duplicates must be keep, drop or error, got {policy!r}")
    dup = inter.duplicated(keep="first")
    n = int(dup.sum())
    report = {"policy": policy, "exact_duplicate_rows": n}
    if n:
        first = inter[dup].iloc[0].to_dict()
        msg = (f"data set '{name}': {n} exact duplicate interaction rows ({n / len(inter):.1%}), e.g. {first}")
        if policy == "error":
            raise DataError(msg + "; set data.duplicates=drop to drop them or keep to keep them")
        log.warning("%s; data.duplicates=%s", msg, policy)
        if policy == "drop":
            inter = inter[~dup]
    return inter, report


def build_tables(name: str, raw: RawData, rating_threshold: float | None, kcore: int,
                 duplicates: str = "keep") -> Tables:
    """Filter (exact duplicates, rating threshold, k-core), re-index ids and align profiles/metadata."""
    inter = raw.interactions
    report = dict(raw.report)
    report["raw_interactions"] = len(inter)
    inter, report["duplicates"] = handle_duplicates(name, inter, duplicates)
    if rating_threshold is not None:
        if "rating" not in inter.columns:
            raise DataError(f"data.rating_threshold={rating_threshold} but data set '{name}' has no ratings")
        keep = inter.rating >= rating_threshold
        report["rating_filter"] = {"threshold": rating_threshold, "removed_interactions": int((~keep).sum())}
        inter = inter[keep]
    inter, report["kcore"] = k_core(inter, kcore)
    if inter.empty:
        raise DataError(f"data set '{name}': no interactions left after filtering ({report})")

    user_ids = pd.unique(inter.user_id.to_numpy())
    item_ids = np.concatenate([["[PAD]"], pd.unique(inter.item_id.to_numpy())]).astype(object)
    uidx = pd.Series(np.arange(len(user_ids)), index=user_ids)
    iidx = pd.Series(np.arange(len(item_ids)), index=item_ids)
    out = pd.DataFrame(
        {
            "user": uidx.loc[inter.user_id.to_numpy()].to_numpy(np.int64),
            "item": iidx.loc[inter.item_id.to_numpy()].to_numpy(np.int64),
            "timestamp": inter.timestamp.to_numpy(np.int64),
        }
    )
    if "rating" in inter.columns:
        out["rating"] = inter.rating.to_numpy(np.float32)
    if "fold" in inter.columns:  # pre-split files (split=given): 0 train, 1 valid, 2 test
        out["fold"] = inter.fold.to_numpy(np.int8)

    users = None
    if raw.users is not None:
        u = raw.users.drop_duplicates("user_id").set_index("user_id")
        users = u.reindex(user_ids).astype(object)
        users = users.where(users.notna(), None)
        users.index = pd.RangeIndex(len(user_ids), name="user")
        report["users_without_profile"] = int(users.isna().all(axis=1).sum())

    items = pd.DataFrame(index=pd.RangeIndex(len(item_ids), name="item"))
    if raw.items is not None:
        m = raw.items.drop_duplicates("item_id").set_index("item_id").reindex(item_ids)
        m.index = items.index
        items = m
        report["items_without_metadata"] = int(m.iloc[1:].isna().all(axis=1).sum())
    for col, default in (("title", ""), ("text", "")):
        if col not in items.columns:
            items[col] = default
        items[col] = items[col].fillna(default).astype(str)
    if "categories" not in items.columns:
        items["categories"] = [[] for _ in range(len(items))]
    items["categories"] = [c if isinstance(c, list | np.ndarray) else [] for c in items["categories"]]
    items.loc[0, "title"] = "[PAD]"

    report.update(
        n_users=len(user_ids), n_items=len(item_ids) - 1, n_interactions=len(out),
        density=len(out) / (len(user_ids) * (len(item_ids) - 1)),
    )
    reviews = None
    if raw.reviews is not None:
        reviews, report["reviews"] = _index_reviews(raw.reviews, uidx, iidx)
    t = Tables(name, out, np.asarray(user_ids, dtype=object), item_ids, users, items, report, reviews)
    report["coverage"] = t.coverage()
    return t


REVIEW_COLUMNS = ("user", "item", "rating", "timestamp", "title", "text")


def _index_reviews(raw: pd.DataFrame, uidx: pd.Series, iidx: pd.Series) -> tuple[pd.DataFrame, dict]:
    """Reviews whose user and item survived filtering, on the integer ids of `interactions`."""
    keep = raw.user_id.isin(uidx.index).to_numpy() & raw.item_id.isin(iidx.index).to_numpy()
    r = raw[keep]
    out = pd.DataFrame(
        {
            "user": uidx.loc[r.user_id.to_numpy()].to_numpy(np.int64),
            "item": iidx.loc[r.item_id.to_numpy()].to_numpy(np.int64),
            "rating": r.rating.to_numpy(np.float32),
            "timestamp": r.timestamp.to_numpy(np.int64),
            "title": r.title.fillna("").astype(str).to_numpy(),
            "text": r.text.fillna("").astype(str).to_numpy(),
        }
    )
    return out, {"n_reviews": len(out), "removed_with_filtered_user_or_item": int((~keep).sum()),
                 "empty_text": int((out.text == "").sum())}
