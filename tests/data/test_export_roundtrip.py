"""scripts/export_recbole.py writes atomic files that data=atomic reads back into identical tables."""

import importlib.util

import pandas as pd
import pytest

from coldstart_exp.data.loading import load_tables
from tests.conftest import ROOT, amazon_dir


def _export(tmp_path, data, *overrides):
    spec = importlib.util.spec_from_file_location("export_recbole", ROOT / "scripts" / "export_recbole.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "recbole"
    mod.main([f"data={data}", f"paths.cache_dir={tmp_path / 'cache'}", *overrides, "--out", str(out)])
    return out


def _assert_same(a, b):
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    pd.testing.assert_frame_equal(a.items, b.items)
    assert list(a.user_ids) == list(b.user_ids) and list(a.item_ids) == list(b.item_ids)
    assert (a.users is None and b.users is None) or a.users.equals(b.users)


def _round_trip(tmp_path, data_cfg, data, *overrides):
    out = _export(tmp_path, data, *overrides)
    a = load_tables(data_cfg(data, *overrides), None)
    b = load_tables(data_cfg("atomic", f"data.source.dir={out}", f"data.source.dataset={data}",
                             "data.source.seq_separator=|"), None)
    _assert_same(a, b)
    return out, a


def test_synthetic_round_trip_and_benchmark_files(tmp_path, data_cfg):
    out, a = _round_trip(tmp_path, data_cfg, "synthetic", "data.source.n_users=50")
    names = sorted(p.name for p in (out / "synthetic").iterdir())
    assert names == [f"synthetic.{s}" for s in ("inter", "item", "test.inter", "train.inter", "user", "valid.inter")]
    test_rows = (out / "synthetic" / "synthetic.test.inter").read_text().splitlines()
    assert test_rows[0] == "user_id:token\titem_id_list:token_seq\titem_id:token" and len(test_rows) == 1 + 50


@pytest.mark.slow
@pytest.mark.skipif(amazon_dir() is None, reason="shared Amazon data not present")
def test_amazon_beauty_round_trip(tmp_path, data_cfg):
    _, a = _round_trip(tmp_path, data_cfg, "amazon_beauty")
    assert (a.n_users, a.n_items) == (22363, 12101)
