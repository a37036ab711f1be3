"""Sources, standard tables, bad-row handling and the Parquet cache."""

import gzip
import time

import numpy as np
import pytest
from omegaconf import OmegaConf

from coldstart_exp.data.errors import DataError
from coldstart_exp.data.loading import load_tables
from tests.conftest import amazon_dir


def _amazon_cfg(d, **kw):
    source = {"_target_": "coldstart_exp.data.sources.amazon.Amazon", "dir": str(d), "subdir": "amazon_beauty",
              "tsv_prefix": "beauty", "category": "Beauty"}
    base = dict(name="amazon_beauty", source=source, rating_threshold=None, kcore=0, on_bad_rows="error",
                max_len=50, cache=True)
    base.update(kw)
    return OmegaConf.create(base)


def _write_beauty(tmp_path, inter_rows, item_rows):
    d = tmp_path / "amazon_beauty"
    d.mkdir(parents=True)
    with gzip.open(d / "beauty_5core_interactions.tsv.gz", "wt") as fh:
        fh.write("user_id\titem_id\ttimestamp\n" + "".join(r + "\n" for r in inter_rows))
    header = "item_id:token\ttitle:token\tsales_type:token\tsales_rank:float\tcategories:token_seq\tprice:float\tbrand:token\n"
    (d / "beauty_items.tsv").write_text(header + "".join(r + "\n" for r in item_rows))
    return tmp_path


GOOD_ITEMS = ["A\tLipstick\tBeauty\t1.0\t'Beauty', 'Makeup'\t5.0\tAcme", "B\tSoap\tBeauty\t2.0\t'Beauty'\t\tAcme"]


def test_ml100k_tables(cfg_factory):
    cfg = cfg_factory("data=ml100k")
    t = load_tables(cfg.data, cfg.paths.cache_dir)
    assert (t.n_users, t.n_items, len(t.interactions)) == (943, 1682, 100000)
    assert t.profile_fields == ["age", "gender", "occupation", "zip_code"]
    assert t.items.loc[1:, "title"].str.len().gt(0).all() and "Genres" in t.items.text.iloc[1]
    assert t.interactions.item.min() == 1  # 0 is padding
    codes, cards = t.profile_codes()
    assert codes.shape == (943, 4) and codes.min() >= 1 and len(cards) == 4


def test_rating_threshold_reports_removed(cfg_factory):
    cfg = cfg_factory("data=ml100k", "data.rating_threshold=4")
    t = load_tables(cfg.data, None)
    assert t.interactions.shape[0] == 100000 - t.report["rating_filter"]["removed_interactions"]
    assert t.report["rating_filter"]["removed_interactions"] > 40000


def test_cache_second_load_is_fast_and_equal(cfg_factory):
    cfg = cfg_factory("data=ml100k")
    t0 = time.perf_counter()
    a = load_tables(cfg.data, cfg.paths.cache_dir)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = load_tables(cfg.data, cfg.paths.cache_dir)
    second = time.perf_counter() - t0
    assert "loaded_from_cache" in b.report and "loaded_from_cache" not in a.report
    assert a.interactions.equals(b.interactions)
    assert list(a.item_ids) == list(b.item_ids) and a.users.equals(b.users)
    assert second < first


def test_bad_rows_name_file_line_field(tmp_path):
    root = _write_beauty(tmp_path, ["u1\tA\t100", "u1\tB\tnot-a-time", "u2\tA\t5", "u2\tB", "u2\tB\t7"], GOOD_ITEMS)
    with pytest.raises(DataError, match=r"beauty_5core_interactions.tsv.gz:3: field 'timestamp': not a number"):
        load_tables(_amazon_cfg(root), None)
    t = load_tables(_amazon_cfg(root, on_bad_rows="skip"), None)
    bad = t.report["bad_rows"]
    assert bad["skipped_rows"] == 2
    assert any(":5: field '<row>'" in e for e in bad["examples"])  # wrong field count on line 5
    assert len(t.interactions) == 3


def test_unknown_metadata_id_is_a_bad_row(tmp_path):
    root = _write_beauty(tmp_path, ["u1\tA\t1", "u1\tB\t2"], [*GOOD_ITEMS, "ZZZ\tGhost\tBeauty\t1.0\t\t1.0\tX"])
    with pytest.raises(DataError, match=r"beauty_items.tsv:4: field 'item_id': unknown id 'ZZZ'"):
        load_tables(_amazon_cfg(root), None)


def test_missing_files_one_clear_error(tmp_path):
    (tmp_path / "amazon_beauty").mkdir()
    with pytest.raises(DataError) as e:
        load_tables(_amazon_cfg(tmp_path), None)
    msg = str(e.value)
    for name in ("beauty_5core_interactions.tsv.gz", "beauty_items.tsv", "reviews_Beauty_5.json.gz", "meta_Beauty.json.gz"):
        assert name in msg
    assert str(tmp_path) in msg


def test_mcauley_json_layout(tmp_path):
    import json

    d = tmp_path / "amazon_beauty"
    d.mkdir()
    with gzip.open(d / "reviews_Beauty_5.json.gz", "wt") as fh:
        for u, i, t in [("u1", "A", 3), ("u1", "B", 1), ("u2", "A", 2)]:
            fh.write(json.dumps({"reviewerID": u, "asin": i, "unixReviewTime": t, "overall": 5.0}) + "\n")
    with gzip.open(d / "meta_Beauty.json.gz", "wt") as fh:
        fh.write(repr({"asin": "A", "title": "Lipstick", "categories": [["Beauty", "Makeup"]], "price": 3.5}) + "\n")
        fh.write(repr({"asin": "Q", "title": "not in 5-core"}) + "\n")
    t = load_tables(_amazon_cfg(tmp_path), None)
    assert t.n_items == 2 and t.n_users == 2
    a = t.items.index[t.item_ids == "A"][0]
    assert "Lipstick" in t.items.text[a] and "Makeup" in t.items.text[a]


def test_kcore_reports_removed(tmp_path):
    rows = ["u0\tA\t1", "u0\tA\t2", "u1\tA\t3", "u1\tA\t4", "u2\tA\t5", "u2\tB\t6"]
    root = _write_beauty(tmp_path, rows, GOOD_ITEMS)
    t = load_tables(_amazon_cfg(root, kcore=2), None)
    kc = t.report["kcore"]
    # B has one interaction -> dropped; then u2 has one -> dropped
    assert (kc["removed_interactions"], kc["removed_users"], kc["removed_items"]) == (2, 1, 1)
    assert (t.item_ids[1:] == np.array(["A"], dtype=object)).all() and t.n_users == 2


@pytest.mark.slow
@pytest.mark.skipif(amazon_dir() is None, reason="shared Amazon data not present")
def test_real_amazon_beauty_loads(cfg_factory):
    cfg = cfg_factory("data=amazon_beauty")
    t = load_tables(cfg.data, cfg.paths.cache_dir)
    assert (t.n_users, t.n_items, len(t.interactions)) == (22363, 12101, 198502)
    assert t.report["bad_rows"]["skipped_rows"] == 0 and t.report["kcore"]["removed_interactions"] == 0
    assert (t.items.title.iloc[1:] != "").sum() >= 12094
