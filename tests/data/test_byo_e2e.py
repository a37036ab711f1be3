"""End to end on data a test writes itself: a 20-line CSV and a RecBole atomic folder, through
`method=baseline backbone=sasrec` and `method=next_user` (tiny settings: this checks the path, not quality).
The data has 8 items and 5 users: fewer than the cut-offs (@20, next-user recall@50), which rank all there are."""

import json

import pytest

from coldstart_exp.__main__ import run
from tests.conftest import compose
from tests.data.conftest import ATOMIC_FIELDS, CSV_FIELDS, write_atomic_set, write_csv_set

NEXT_USER = ["method=next_user", "split.n_support=[0,1]", "split.valid_n_support=1", "method.epochs=2",
             "method.tower_epochs=2"]


def _data(kind, tmp_path):
    if kind == "csv":
        return ["data=csv", f"data.source.dir={write_csv_set(tmp_path / 'in')}", *CSV_FIELDS]
    return ["data=atomic", f"data.source.dir={write_atomic_set(tmp_path / 'in')}", *ATOMIC_FIELDS]


def _run(tmp_path, *overrides):
    cfg = compose(["logger=none", "threads=1", "trainer.max_epochs=1", "trainer.progress_refresh=1000",
                   *overrides],
                  tmp_path)
    run(cfg)
    return json.loads((tmp_path / "run" / "metrics.json").read_text())


@pytest.mark.parametrize("kind", ["csv", "atomic"])
def test_sasrec_baseline(kind, tmp_path):
    m = _run(tmp_path, "method=baseline", "backbone=sasrec", *_data(kind, tmp_path))
    assert m["data_report"]["n_interactions"] == 20 and m["data_report"]["n_users"] == 5
    assert m["metrics"]["test"]["users"] == 5  # every user has >= 3 interactions: one test target each
    assert m["data_report"]["coverage"]["item_text"] == 1.0 and m["data_report"]["coverage"]["user_profiles"] == 1.0


@pytest.mark.parametrize("kind", ["csv", "atomic"])
def test_next_user(kind, tmp_path):
    m = _run(tmp_path, *NEXT_USER, *_data(kind, tmp_path))
    assert m["split"] == "cold_item" and m["split_info"]["cold_items_test"] == 1  # G or H: 2 cold items
    assert m["metrics"]["test/n=1"]["users"] >= 1


def test_pre_split_atomic_files_with_split_given(tmp_path):
    d = write_atomic_set(tmp_path / "in")
    header, *rows = (d / "shop.inter").read_text().splitlines(keepends=True)
    last = {r.split("\t")[0]: k for k, r in enumerate(rows)}  # each user's last row (rows are in time order per user)
    prev = {r.split("\t")[0]: k for k, r in enumerate(rows) if k != last[r.split("\t")[0]]}
    fold = [2 if k in last.values() else 1 if k in prev.values() else 0 for k in range(len(rows))]
    for f, suffix in enumerate(("train", "valid", "test")):
        (d / f"shop.{suffix}.inter").write_text(header + "".join(r for r, g in zip(rows, fold) if g == f))
    (d / "shop.inter").unlink()
    m = _run(tmp_path, "method=baseline", "backbone=sasrec", "data=atomic", f"data.source.dir={d}", *ATOMIC_FIELDS,
             "split=given")
    assert m["split"] == "given" and m["split_info"]["train_interactions"] == 10
    assert m["metrics"]["test"]["users"] == 5 and m["metrics"]["valid"]["users"] == 5


@pytest.mark.slow
def test_scaletot_on_csv_profiles(tmp_path):
    """ScaleToT where the data has profiles: the CSV's user file (age_group, city) feeds the teacher's chains."""
    m = _run(tmp_path, "method=scaletot", "split.n_support=[0,1]", *_data("csv", tmp_path))
    assert m["split"] == "cold_user" and m["metrics"]["test/n=0"]["users"] >= 1
    assert m["scaletot"]["teacher"]["chains"] >= 1 and m["data_report"]["coverage"]["user_profiles"] == 1.0
