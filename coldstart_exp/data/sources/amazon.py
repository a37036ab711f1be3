"""Amazon review data of any category, in one of three layouts under `dir` (or `dir/subdir`):

- `tsv`: the shared preprocessed 5-core, `<tsv_prefix>_5core_interactions.tsv.gz` (user_id, item_id,
  timestamp; rows in the P5/S3-Rec order) + `<tsv_prefix>_items.tsv` (a RecBole atomic item file);
- `2014`: McAuley's originals, `reviews_<category>_5*.json[.gz|.zip]` (or the full
  `reviews_<category>.json[.gz]`) + `meta_<category>.json[.gz]`;
- `2023`: Amazon Reviews 2023 (Hou et al.), `<category>.jsonl[.gz]` + `meta_<category>.jsonl[.gz]`.

`meta`: `required` (item text for the methods that need it), `optional` (read when present) or `skip`.
`reviews: true` also keeps the written reviews (title, text) as the `reviews` table.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

from ..errors import BadRowLog, DataError
from ..loading import Source, resolve_dir
from ..readers import read_delimited
from ..tables import RawData
from .amazon_json import read_meta_2014, read_meta_2023, read_reviews_2014, read_reviews_2023

LAYOUTS = ("tsv", "2014", "2023")


class Amazon(Source):
    def __init__(self, category: str, dir: str | None = None, subdir: str | None = None, layout: str = "auto",
                 tsv_prefix: str | None = None, meta: str = "required", reviews: bool = False) -> None:
        if layout != "auto" and layout not in LAYOUTS:
            raise DataError(f"data.source.layout={layout!r}; known: auto, {', '.join(LAYOUTS)}")
        if meta not in ("required", "optional", "skip"):
            raise DataError(f"data.source.meta={meta!r}; known: required, optional, skip")
        self.category, self.dir, self.subdir, self.layout = category, dir, subdir, layout
        self.tsv_prefix, self.meta, self.reviews = tsv_prefix, meta, bool(reviews)
        self._found: tuple[str, Path, Path | None] | None = None

    def _candidates(self, d: Path) -> dict[str, tuple[list[Path], list[Path]]]:
        """layout -> (interaction file candidates, metadata file candidates), first existing wins."""
        c = self.category
        out = {
            "2014": ((sorted(d.glob(f"reviews_{c}_5*.json*")) or [d / f"reviews_{c}_5.json.gz"])
                     + [d / f"reviews_{c}.json.gz", d / f"reviews_{c}.json"],  # the full (not 5-core) dump
                     [d / f"meta_{c}.json.gz", d / f"meta_{c}.json"]),
            "2023": ([d / f"{c}.jsonl", d / f"{c}.jsonl.gz"], [d / f"meta_{c}.jsonl", d / f"meta_{c}.jsonl.gz"]),
        }
        if self.tsv_prefix:
            p = self.tsv_prefix
            out = {"tsv": ([d / f"{p}_5core_interactions.tsv.gz"], [d / f"{p}_items.tsv"]), **out}
        return out if self.layout == "auto" else {self.layout: out[self.layout]}

    def _locate(self) -> tuple[str, Path, Path | None]:
        if self._found is not None:
            return self._found
        d = resolve_dir(self.dir, self.subdir, f"the Amazon '{self.category}' files")
        tried = []
        for layout, (inters, metas) in self._candidates(d).items():
            inter = next((p for p in inters if p.is_file()), None)
            meta = next((p for p in metas if p.is_file()), None)
            need_meta = self.meta == "required" or layout == "tsv"
            if inter is not None and (meta is not None or not need_meta):
                self._found = (layout, inter, meta if self.meta != "skip" else None)
                return self._found
            tried.append(" + ".join(p.name for p in (inters[0], *(metas[:1] if need_meta else []))))
        raise DataError(f"Amazon '{self.category}': expected {' or '.join(tried)} in {d} (looked in {d.resolve()}; "
                        f"data.source.dir / data.source.category / data.source.meta choose what is looked for)")

    def files(self) -> list[Path]:
        _, inter, meta = self._locate()
        return [inter] if meta is None else [inter, meta]

    def read(self, log: BadRowLog) -> RawData:
        layout, inter_p, meta_p = self._locate()
        reviews = None
        if layout == "tsv":
            if self.reviews:
                raise DataError(f"{inter_p}: the tsv layout has no review text (data.source.reviews=true needs the "
                                f"2014 or 2023 files)")
            inter, items = _read_tsv(inter_p, meta_p, log)
        else:
            read_reviews, read_meta = {"2014": (read_reviews_2014, read_meta_2014),
                                       "2023": (read_reviews_2023, read_meta_2023)}[layout]
            inter = read_reviews(inter_p, log, keep_text=self.reviews)
            if self.reviews:
                reviews = inter[["user_id", "item_id", "rating", "timestamp", "title", "text"]]
                inter = inter[["user_id", "item_id", "timestamp", "rating"]]
            items = read_meta(meta_p, set(inter.item_id), log) if meta_p is not None else None
        if items is not None:
            items["text"] = [_item_text(r) for r in items.itertuples()]
        return RawData(inter, None, items, {"amazon_layout": layout}, reviews)


def _read_tsv(inter_p: Path, meta_p: Path, log: BadRowLog) -> tuple[pd.DataFrame, pd.DataFrame]:
    c = read_delimited(inter_p, {"timestamp": int}, log, required={"user_id": "", "item_id": ""})
    inter = pd.DataFrame({"user_id": c["user_id"], "item_id": c["item_id"], "timestamp": c["timestamp"]})
    m = read_delimited(meta_p, {"price": float, "sales_rank": float}, log,
                       required={"item_id": "", "title": "", "brand": "", "categories": ""})
    cats = [_parse_categories(s) for s in m["categories"]]
    items = pd.DataFrame(
        {"item_id": m["item_id"], "title": m["title"], "brand": m["brand"], "price": m["price"], "categories": cats}
    )
    unknown = ~items.item_id.isin(set(inter.item_id))
    for pos in unknown.to_numpy().nonzero()[0]:
        log.bad(str(meta_p), int(pos) + 2, "item_id", f"unknown id {items.item_id.iloc[pos]!r} (no interaction has it)")
    return inter, items[~unknown]


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
