"""data=amazon for any category: McAuley 2014 reviews + meta with k-core; the cache ignores where files live."""

import gzip
import json
import shutil

import pytest

from coldstart_exp.data.errors import DataError
from coldstart_exp.data.loading import load_tables
from tests.data.conftest import CSV_FIELDS, write_csv_set


def _write_2014(d, category, reviews, meta):
    d.mkdir(parents=True, exist_ok=True)
    with gzip.open(d / f"reviews_{category}_5.json.gz", "wt") as fh:
        for u, i, t in reviews:
            fh.write(json.dumps({"reviewerID": u, "asin": i, "unixReviewTime": t, "overall": 4.0,
                                 "summary": "s", "reviewText": "x"}) + "\n")
    with gzip.open(d / f"meta_{category}.json.gz", "wt") as fh:
        for m in meta:
            fh.write(repr(m) + "\n")  # the 2014 metadata dump is Python literals, not JSON


def test_any_2014_category_with_kcore(tmp_path, data_cfg):
    reviews = [("a", "X", 1), ("a", "Y", 2), ("b", "X", 3), ("b", "Y", 4), ("c", "Z", 5), ("c", "X", 6)]
    meta = [{"asin": "X", "title": "Controller", "brand": "Pad Co", "categories": [["Video Games", "Accessories"]]},
            {"asin": "Y", "title": "Racing game", "price": 19.99}, {"asin": "Z", "title": "Rare"}]
    _write_2014(tmp_path, "Video_Games", reviews, meta)
    t = load_tables(data_cfg("amazon", f"data.source.dir={tmp_path}", "data.source.category=Video_Games",
                             "data.kcore=2"), None)
    assert t.report["amazon_layout"] == "2014" and t.reviews is None  # review text only with reviews=true
    kc = t.report["kcore"]
    assert (kc["removed_interactions"], kc["removed_users"], kc["removed_items"]) == (2, 1, 1)  # Z, then c
    assert sorted(t.item_ids[1:]) == ["X", "Y"] and t.n_users == 2
    assert t.items.text.tolist()[1:] == ["Controller Brand: Pad Co. Categories: Video Games, Accessories.",
                                         "Racing game Price: $19.99."]


def test_missing_meta_is_an_error_unless_optional(tmp_path, data_cfg):
    _write_2014(tmp_path, "Toys", [("a", "X", 1)], [])
    (tmp_path / "meta_Toys.json.gz").unlink()
    with pytest.raises(DataError, match=r"expected reviews_Toys_5\.json\.gz \+ meta_Toys\.json\.gz or Toys\.jsonl \+ "
                                        r"meta_Toys\.jsonl in"):
        load_tables(data_cfg("amazon", f"data.source.dir={tmp_path}", "data.source.category=Toys"), None)
    t = load_tables(data_cfg("amazon", f"data.source.dir={tmp_path}", "data.source.category=Toys",
                             "data.source.meta=optional", "data.kcore=0"), None)
    assert t.n_items == 1 and t.report["coverage"]["item_text"] == 0.0


def test_cache_is_keyed_by_content_not_folder(tmp_path, data_cfg):
    a, b = write_csv_set(tmp_path / "a"), tmp_path / "b"
    shutil.copytree(a, b)
    cache = tmp_path / "cache"
    first = load_tables(data_cfg("csv", f"data.source.dir={a}", *CSV_FIELDS), cache)
    moved = load_tables(data_cfg("csv", f"data.source.dir={b}", *CSV_FIELDS), cache)
    assert "loaded_from_cache" not in first.report and "loaded_from_cache" in moved.report
    (b / "interactions.csv").write_text((b / "interactions.csv").read_text() + "u9,A,99,1\n")
    edited = load_tables(data_cfg("csv", f"data.source.dir={b}", *CSV_FIELDS), cache)
    assert "loaded_from_cache" not in edited.report and len(edited.interactions) == 21
