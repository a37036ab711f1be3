"""Amazon 2014 5-core data sets (e.g. Beauty), in either of two layouts under `data.dir`:

- the shared TSV layout: `<prefix>_5core_interactions.tsv.gz` (user_id, item_id, timestamp; rows in
  the P5/S3-Rec order) and `<prefix>_items.tsv` (RecBole atomic item file);
- McAuley's originals: `reviews_<Name>_5.json.gz` and `meta_<Name>.json.gz`.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pandas as pd

from ..errors import BadRowLog, DataError
from ..readers import iter_json_lines, read_delimited
from ..tables import RawData


def data_dir(cfg) -> Path:
    base = cfg.get("dir") or os.environ.get("COLDSTART_DATA_DIR")
    if not base:
        raise DataError(
            f"data set '{cfg.name}' needs data.dir (or env COLDSTART_DATA_DIR) pointing at the folder "
            f"that holds {cfg.subdir}/"
        )
    return Path(base) / cfg.subdir if (Path(base) / cfg.subdir).is_dir() else Path(base)


def _layouts(cfg, d: Path) -> dict[str, list[Path]]:
    return {
        "tsv": [d / f"{cfg.prefix}_5core_interactions.tsv.gz", d / f"{cfg.prefix}_items.tsv"],
        "json": [d / f"reviews_{cfg.json_name}_5.json.gz", d / f"meta_{cfg.json_name}.json.gz"],
    }


def files(cfg) -> list[Path]:
    d = data_dir(cfg)
    layouts = _layouts(cfg, d)
    for paths in layouts.values():
        if all(p.exists() for p in paths):
            return paths
    expected = " or ".join(" + ".join(p.name for p in ps) for ps in layouts.values())
    raise DataError(f"data set '{cfg.name}': expected {expected} in {d} (looked in {d.resolve()})")


def read(cfg, log: BadRowLog) -> RawData:
    inter_p, meta_p = files(cfg)
    if inter_p.name.endswith(".tsv.gz"):
        c = read_delimited(inter_p, {"timestamp": int}, log)
        inter = pd.DataFrame({"user_id": c["user_id"], "item_id": c["item_id"], "timestamp": c["timestamp"]})
        m = read_delimited(meta_p, {"price": float, "sales_rank": float}, log)
        cats = [_parse_categories(s) for s in m["categories"]]
        items = pd.DataFrame(
            {"item_id": m["item_id"], "title": m["title"], "brand": m["brand"], "price": m["price"], "categories": cats}
        )
    else:
        inter = _read_reviews_json(inter_p, log)
        items = _read_meta_json(meta_p, set(inter.item_id), log)
    items["text"] = [_item_text(r) for r in items.itertuples()]
    known = set(inter.item_id)
    unknown = ~items.item_id.isin(known)
    if meta_p.suffix == ".tsv":
        for pos in unknown.to_numpy().nonzero()[0]:
            log.bad(str(meta_p), int(pos) + 2, "item_id", f"unknown id {items.item_id.iloc[pos]!r} (no interaction has it)")
    items = items[~unknown]
    return RawData(inter, None, items)


def _parse_categories(s: str) -> list[str]:
    s = s.strip()
    if not s:
        return []
    try:
        v = ast.literal_eval(f"[{s}]")
        return [str(x) for x in v]
    except (ValueError, SyntaxError):
        return [x.strip(" '") for x in s.split(",")]


def _item_text(r) -> str:
    parts = [str(r.title) if isinstance(r.title, str) and r.title else ""]
    if isinstance(getattr(r, "brand", None), str) and r.brand:
        parts.append(f"Brand: {r.brand}.")
    if r.categories:
        parts.append("Categories: " + ", ".join(dict.fromkeys(r.categories)) + ".")
    price = getattr(r, "price", None)
    if isinstance(price, float) and price == price:
        parts.append(f"Price: ${price:.2f}.")
    return " ".join(p for p in parts if p)


def _read_reviews_json(path: Path, log: BadRowLog) -> pd.DataFrame:
    rows = []
    for lineno, o in iter_json_lines(path, log):
        for f in ("reviewerID", "asin", "unixReviewTime"):
            if f not in o:
                log.bad(str(path), lineno, f, "missing")
                break
        else:
            try:
                ts = int(o["unixReviewTime"])
            except (TypeError, ValueError):
                log.bad(str(path), lineno, "unixReviewTime", f"not a number: {o['unixReviewTime']!r}")
                continue
            rows.append((o["reviewerID"], o["asin"], ts, float(o.get("overall", "nan"))))
    if not rows:
        raise DataError(f"{path}: no valid review rows")
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])


def _read_meta_json(path: Path, known: set, log: BadRowLog) -> pd.DataFrame:
    """Metadata of the original dump covers all of Amazon; items outside the 5-core are not bad rows."""
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
