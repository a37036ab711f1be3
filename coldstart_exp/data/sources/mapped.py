"""Shared by the file formats whose columns are named in config (CSV/TSV and RecBole atomic files):
read interactions, items and users through a field map into `RawData`.

A mapped field (`data.source.<key>: <column>`) must be in the file's header (else one error naming
file, column and key). An unmapped one (null) is taken from the column with the standard name when
the file has it: `timestamp`, `rating`, `title`, `text`, `categories`; without a time column the row
order is the time order (reported).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import BadRowLog
from ..readers import Converter, pick_column, read_delimited


@dataclass
class FieldMap:
    user_id_field: str = "user_id"
    item_id_field: str = "item_id"
    time_field: str | None = None
    rating_field: str | None = None
    title_field: str | None = None
    text_fields: list[str] | None = None  # joined with " " into the item text
    category_field: str | None = None
    profile_fields: list[str] | None = None  # null: every user-file column but the id


@dataclass
class FileFormat:
    """How to read one file: separator, encoding, RecBole `name:type` headers, per-column converters
    (validation of typed columns), and how a category cell splits into a list."""

    sep: str = ","
    encoding: str = "utf-8"
    typed_header: bool = False
    converters: dict[str, Converter] | None = None
    time_converter: Converter = int
    split_categories: str = "|"


def _req(field: str, key: str) -> dict[str, str]:
    return {field: f"data.source.{key}"}


def read_interactions(path: Path, header: list[str], fm: FieldMap, ff: FileFormat, log: BadRowLog,
                      report: dict) -> pd.DataFrame:
    required = {**_req(fm.user_id_field, "user_id_field"), **_req(fm.item_id_field, "item_id_field")}
    time = pick_column(header, fm.time_field, "timestamp", "time_field", required)
    rating = pick_column(header, fm.rating_field, "rating", "rating_field", required)
    conv = dict(ff.converters or {})
    if time:
        conv[time] = ff.time_converter
    if rating:
        conv[rating] = float
    c = read_delimited(path, conv, log, ff.sep, ff.typed_header, required, ff.encoding)
    n = len(c[fm.user_id_field])
    df = pd.DataFrame({"user_id": c[fm.user_id_field], "item_id": c[fm.item_id_field],
                       "timestamp": c[time] if time else range(report.get("rows_before", 0),
                                                                  report.get("rows_before", 0) + n)})
    if rating:
        df["rating"] = c[rating]
    report.setdefault("fields", {}).update(time=time or "<row order>", rating=rating)
    report["rows_before"] = report.get("rows_before", 0) + n
    return df


def read_items(path: Path, header: list[str], fm: FieldMap, ff: FileFormat, log: BadRowLog,
               report: dict) -> pd.DataFrame:
    required = _req(fm.item_id_field, "item_id_field")
    title = pick_column(header, fm.title_field, "title", "title_field", required)
    cats = pick_column(header, fm.category_field, "categories", "category_field", required)
    if fm.text_fields is not None:
        texts = list(fm.text_fields)
        required.update({t: "data.source.text_fields" for t in texts})
    else:
        texts = ["text"] if "text" in header else []
    c = read_delimited(path, ff.converters, log, ff.sep, ff.typed_header, required, ff.encoding)
    rename = {fm.item_id_field: "item_id", title: "title", cats: "categories"}
    cols = {rename.get(h, h): v for h, v in c.items() if h not in texts or h == "text"}
    df = pd.DataFrame(cols)
    if cats:
        sep = ff.split_categories
        df["categories"] = [[x for x in (s.split(sep) if sep else [s]) if x] for s in df["categories"]]
    if texts:
        df["text"] = [" ".join(str(x) for x in parts if x not in ("", None)) for parts in zip(*(c[t] for t in texts))]
    report.setdefault("fields", {}).update(title=title, categories=cats, text=texts or "<title + categories>")
    return df


def read_users(path: Path, header: list[str], fm: FieldMap, ff: FileFormat, log: BadRowLog,
               report: dict) -> pd.DataFrame:
    required = _req(fm.user_id_field, "user_id_field")
    if fm.profile_fields is not None:
        profile = list(fm.profile_fields)
        required.update({p: "data.source.profile_fields" for p in profile})
    else:
        profile = [h for h in header if h != fm.user_id_field]
    c = read_delimited(path, ff.converters, log, ff.sep, ff.typed_header, required, ff.encoding)
    df = pd.DataFrame({"user_id": c[fm.user_id_field],
                       **{p: [None if v == "" else str(v) for v in c[p]] for p in profile}})
    report.setdefault("fields", {})["profile"] = profile
    return df


def default_text(items: pd.DataFrame) -> list[str]:
    """Item text when no text column is given: the title, then the categories."""
    titles = items["title"] if "title" in items else [""] * len(items)
    cats = items["categories"] if "categories" in items else [[]] * len(items)
    return [" ".join(p for p in (str(t or ""), f"Categories: {', '.join(c)}." if len(c) else "") if p)
            for t, c in zip(titles, cats)]


def drop_unknown_items(items: pd.DataFrame, inter: pd.DataFrame, report: dict) -> pd.DataFrame:
    """An item file may list a whole catalogue: rows for items nobody interacted with are counted, not bad."""
    known = items.item_id.isin(set(inter.item_id))
    report["item_rows_without_interactions"] = int((~known).sum())
    return items[known]
