"""MovieLens-1M from GroupLens' `ml-1m/` folder: `ratings.dat` (UserID::MovieID::Rating::Timestamp),
`users.dat` (UserID::Gender::Age::Occupation::Zip-code) and `movies.dat` (MovieID::Title::Genres,
genres `|`-separated), `::`-separated and Latin-1 encoded (see the data set's README).

Profiles use the README's labels (age "25-34", occupation "college/grad student") rather than codes,
so prompts and profile towers read the same values as ML-100K's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import BadRowLog, DataError
from ..loading import Source, resolve_dir
from ..readers import read_separated
from ..tables import RawData

AGES = {"1": "Under 18", "18": "18-24", "25": "25-34", "35": "35-44", "45": "45-49", "50": "50-55", "56": "56+"}
OCCUPATIONS = [
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer", "programmer",
    "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer",
]
FILES = ("ratings.dat", "users.dat", "movies.dat")


def _label(table: dict | list, what: str):
    def conv(v: str) -> str:
        try:
            return table[v] if isinstance(table, dict) else table[int(v)]
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"not a MovieLens-1M {what} code") from None

    return conv


class ML1M(Source):
    def __init__(self, dir: str | None = None, subdir: str | None = "ml-1m", encoding: str = "latin-1") -> None:
        self.dir, self.subdir, self.encoding = dir, subdir, encoding

    def files(self) -> list[Path]:
        d = resolve_dir(self.dir, self.subdir, "ml-1m/ (GroupLens' ratings.dat, users.dat, movies.dat)")
        paths = [d / f for f in FILES]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise DataError(f"ml1m: expected {list(FILES)} in {d} (looked in {d.resolve()}); missing {missing}. "
                            f"Unzip GroupLens' ml-1m.zip and set data.source.dir to the folder holding ml-1m/")
        return paths

    def read(self, log: BadRowLog) -> RawData:
        ratings_p, users_p, movies_p = self.files()
        enc = self.encoding
        r = read_separated(ratings_p, ["user_id", "item_id", "rating", "timestamp"],
                           {"rating": float, "timestamp": int}, log, encoding=enc)
        inter = pd.DataFrame(r)[["user_id", "item_id", "timestamp", "rating"]]
        u = read_separated(users_p, ["user_id", "gender", "age", "occupation", "zip_code"],
                           {"age": _label(AGES, "age"), "occupation": _label(OCCUPATIONS, "occupation")},
                           log, encoding=enc)
        users = pd.DataFrame(u)
        m = read_separated(movies_p, ["item_id", "title", "genres"], {}, log, encoding=enc)
        genres = [g.split("|") if g else [] for g in m["genres"]]
        years = [(re.search(r"\((\d{4})\)\s*$", t) or [None, ""])[1] for t in m["title"]]
        items = pd.DataFrame({"item_id": m["item_id"], "title": m["title"], "year": years, "categories": genres,
                              "text": [f"{t}. Genres: {', '.join(g)}." for t, g in zip(m["title"], genres)]})
        report = {"users_without_ratings": int((~users.user_id.isin(set(inter.user_id))).sum()),
                  "movies_without_ratings": int((~items.item_id.isin(set(inter.item_id))).sum())}
        return RawData(inter, users[users.user_id.isin(set(inter.user_id))], items[items.item_id.isin(set(inter.item_id))],
                       report)
