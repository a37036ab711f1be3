"""data=amazon_reviews: review text of the 2014 and 2023 Amazon dumps as the `reviews` table."""

import gzip
import json
import zipfile

import numpy as np
import pytest

from coldstart_exp.data.errors import DataError
from coldstart_exp.data.loading import load_tables

REVIEWS_2014 = [  # (reviewerID, asin, unixReviewTime, overall, summary, reviewText)
    ("u1", "A", 30, 5.0, "great strings", "Bright tone, lasted months."),
    ("u1", "B", 10, 3.0, "ok pick", "Does the job."),
    ("u2", "A", 20, 4.0, "good", "Nice."),
    ("u3", "C", 40, 1.0, "broke", "Snapped on day one."),
]


def _write_2014_zip(folder, rows, name="reviews_Musical_Instruments_5_2014.json.zip"):
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"reviewerID": u, "asin": i, "unixReviewTime": t, "overall": r, "summary": s,
                         "reviewText": x, "helpful": [0, 0]}) for u, i, t, r, s, x in rows]
    with zipfile.ZipFile(folder / name, "w") as zf:
        zf.writestr("Musical_Instruments.json", "\n".join(lines) + "\n")


def test_2014_zip_reviews_table_shares_ids_with_interactions(tmp_path, data_cfg):
    _write_2014_zip(tmp_path / "amazon_musical_instruments_reviews", REVIEWS_2014)
    t = load_tables(data_cfg("amazon_reviews", f"data.source.dir={tmp_path}", "data.kcore=0"), None)
    r = t.reviews
    assert list(r.columns) == ["user", "item", "rating", "timestamp", "title", "text"]
    assert len(r) == 4 and t.report["reviews"]["n_reviews"] == 4
    # same integer ids as `interactions`: each review row is the interaction at the same position
    assert (r[["user", "item", "timestamp"]].to_numpy() == t.interactions[["user", "item", "timestamp"]].to_numpy()).all()
    row = r[(t.user_ids[r.user] == "u3")].iloc[0]
    assert (t.item_ids[row["item"]], row["title"], row["text"], row["rating"]) == ("C", "broke", "Snapped on day one.", 1.0)
    assert t.n_items == 3 and (t.items.title.iloc[1:] == "").all()  # no metadata file: optional


def test_reviews_follow_kcore_and_survive_the_cache(tmp_path, data_cfg):
    _write_2014_zip(tmp_path, [*REVIEWS_2014, ("u2", "B", 25, 2.0, "meh", "Too thin.")])
    cfg = data_cfg("amazon_reviews", f"data.source.dir={tmp_path}", "data.kcore=2")
    a = load_tables(cfg, tmp_path / "cache")
    # 2-core: item C has one review -> goes with u3's only review; u1, u2 x A, B stay
    assert a.report["reviews"]["removed_with_filtered_user_or_item"] == 1 and len(a.reviews) == 4
    assert sorted(a.user_ids[a.reviews.user]) == ["u1", "u1", "u2", "u2"]
    assert "Snapped on day one." not in set(a.reviews.text)
    b = load_tables(cfg, tmp_path / "cache")
    assert "loaded_from_cache" in b.report
    assert b.reviews.equals(a.reviews) and b.interactions.equals(a.interactions)


def test_2023_jsonl_reviews_and_meta(tmp_path, data_cfg):
    rows = [{"user_id": "U1", "parent_asin": "P1", "asin": "x", "rating": 4.0, "timestamp": 1_600_000_000_123,
             "title": "Soft", "text": "Very soft brush."},
            {"user_id": "U1", "parent_asin": "P2", "rating": 2, "timestamp": 1_600_000_100_000,
             "title": "Meh", "text": ""},
            {"user_id": "U2", "parent_asin": "P1", "rating": 5, "timestamp": 1_500_000_000_000,
             "title": "Love", "text": "Love it."}]
    (tmp_path / "All_Beauty.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with gzip.open(tmp_path / "meta_All_Beauty.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"parent_asin": "P1", "title": "Brush", "store": "Acme", "price": "12.50",
                             "categories": [], "main_category": "All Beauty"}) + "\n")
        fh.write(json.dumps({"parent_asin": "P9", "title": "not reviewed"}) + "\n")
    t = load_tables(data_cfg("amazon_reviews", f"data.source.dir={tmp_path}", "data.source.category=All_Beauty",
                             "data.kcore=0"), None)
    assert t.report["amazon_layout"] == "2023" and t.n_items == 2
    assert t.interactions.timestamp.tolist() == [1_600_000_000, 1_600_000_100, 1_500_000_000]  # ms -> s
    assert t.reviews.title.tolist() == ["Soft", "Meh", "Love"] and t.reviews.text.iloc[1] == ""
    p1 = int(np.flatnonzero(t.item_ids == "P1")[0])
    assert t.items.text[p1] == "Brush Brand: Acme. Categories: All Beauty. Price: $12.50."


def test_bad_review_row_names_file_line_field(tmp_path, data_cfg):
    _write_2014_zip(tmp_path, [*REVIEWS_2014[:2], ("u9", "A", "yesterday", 5.0, "s", "t")])
    with pytest.raises(DataError, match=r"\.json\.zip:3: field 'unixReviewTime': not a number: 'yesterday'"):
        load_tables(data_cfg("amazon_reviews", f"data.source.dir={tmp_path}", "data.kcore=0"), None)


def test_sources_without_review_text_have_no_reviews_table(tmp_path, data_cfg):
    t = load_tables(data_cfg("synthetic"), None)
    assert t.reviews is None
    (tmp_path / "amazon_musical_instruments_reviews").mkdir()
    with pytest.raises(DataError, match=r"reviews_Musical_Instruments_5\.json\.gz.* in .*amazon_musical_instruments"):
        load_tables(data_cfg("amazon_reviews", f"data.source.dir={tmp_path}"), None)
