"""Readers of the Amazon JSON-lines dumps: McAuley 2014 (`reviews_*`, `meta_*`, metadata written with
Python's `repr`) and Amazon Reviews 2023 (`<Category>.jsonl`, `meta_<Category>.jsonl`).

Review readers return user_id, item_id, timestamp (unix seconds), rating and, with `keep_text`,
the review's title and text; metadata readers return item_id, title, brand, price, categories for
the items the reviews mention (the dumps cover all of Amazon: other items are not bad rows).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import BadRowLog, DataError
from ..readers import iter_json_lines

REVIEW_COLUMNS = ["user_id", "item_id", "timestamp", "rating"]
TEXT_COLUMNS = ["title", "text"]


def _reviews(path: Path, log: BadRowLog, keep_text: bool, fields: dict[str, str], ts_div: int) -> pd.DataFrame:
    """`fields` maps our column -> the dump's field (user_id, item_id, timestamp, rating, title, text)."""
    rows = []
    required = [fields[k] for k in ("user_id", "item_id", "timestamp")]
    for lineno, o in iter_json_lines(path, log):
        gone = next((f for f in required if f not in o), None)
        if gone is not None:
            log.bad(str(path), lineno, gone, "missing")
            continue
        ts, rating = _number(o.get(fields["timestamp"]), False), _number(o.get(fields["rating"]), True)
        bad = next((k for k, v in (("timestamp", ts), ("rating", rating)) if v is None), None)
        if bad is not None:
            log.bad(str(path), lineno, fields[bad], f"not a number: {o.get(fields[bad])!r}")
            continue
        row = [str(o[fields["user_id"]]), str(o[fields["item_id"]]), int(ts) // ts_div, rating]
        if keep_text:
            row += [str(o.get(fields["title"]) or ""), str(o.get(fields["text"]) or "")]
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no valid review rows")
    return pd.DataFrame(rows, columns=REVIEW_COLUMNS + (TEXT_COLUMNS if keep_text else []))


def _number(v, optional: bool) -> float | None:
    """A finite number, NaN for an absent optional one, None when unreadable."""
    if v is None or v == "":
        return float("nan") if optional else None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if x == x or optional else None


def read_reviews_2014(path: Path, log: BadRowLog, keep_text: bool = False) -> pd.DataFrame:
    fields = {"user_id": "reviewerID", "item_id": "asin", "timestamp": "unixReviewTime", "rating": "overall",
              "title": "summary", "text": "reviewText"}
    return _reviews(path, log, keep_text, fields, 1)


def read_reviews_2023(path: Path, log: BadRowLog, keep_text: bool = False) -> pd.DataFrame:
    """Timestamps in the 2023 files are milliseconds; kept as seconds like every other source."""
    fields = {"user_id": "user_id", "item_id": "parent_asin", "timestamp": "timestamp", "rating": "rating",
              "title": "title", "text": "text"}
    return _reviews(path, log, keep_text, fields, 1000)


def _price(v) -> float:
    try:
        return float(str(v).strip().lstrip("$").replace(",", "")) if v not in (None, "") else float("nan")
    except ValueError:
        return float("nan")  # "None", ranges like "$5 - $9": no single price


def read_meta_2014(path: Path, known: set, log: BadRowLog) -> pd.DataFrame:
    rows = []
    for lineno, o in iter_json_lines(path, log):
        if "asin" not in o:
            log.bad(str(path), lineno, "asin", "missing")
            continue
        if o["asin"] not in known:
            continue
        cats = [c for path_ in o.get("categories", []) for c in path_]
        price = o.get("price")
        rows.append((o["asin"], o.get("title", ""), o.get("brand", ""), float(price) if price else float("nan"), cats))
    return pd.DataFrame(rows, columns=["item_id", "title", "brand", "price", "categories"])


def read_meta_2023(path: Path, known: set, log: BadRowLog) -> pd.DataFrame:
    rows = []
    for lineno, o in iter_json_lines(path, log):
        if "parent_asin" not in o:
            log.bad(str(path), lineno, "parent_asin", "missing")
            continue
        if o["parent_asin"] not in known:
            continue
        cats = [str(c) for c in (o.get("categories") or [])]
        if not cats and o.get("main_category"):
            cats = [str(o["main_category"])]
        rows.append((o["parent_asin"], o.get("title") or "", o.get("store") or "", _price(o.get("price")), cats))
    return pd.DataFrame(rows, columns=["item_id", "title", "brand", "price", "categories"])
