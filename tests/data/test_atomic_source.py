"""data=atomic: RecBole atomic files with typed headers and mapped fields; pre-split files and split=given."""

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from coldstart_exp.data.errors import DataError
from coldstart_exp.data.loading import load_tables
from coldstart_exp.data.sources.atomic_write import write_atomic
from coldstart_exp.data.splits import chronological, leave_one_out, make_split
from tests.data.conftest import ATOMIC_FIELDS, ROWS, write_atomic_set


def _load(data_cfg, folder, *extra):
    return load_tables(data_cfg("atomic", f"data.source.dir={folder}", *extra), None)


def test_typed_files_with_mapped_fields(tmp_path, data_cfg):
    write_atomic_set(tmp_path)
    t = _load(data_cfg, tmp_path, "data.source.dataset=shop", *ATOMIC_FIELDS)
    assert (t.n_users, t.n_items, len(t.interactions)) == (5, 8, 20)
    assert t.interactions.rating.tolist() == [float(r[3]) for r in ROWS]
    c = int(np.flatnonzero(t.item_ids == "C")[0])
    assert (t.items.title[c], t.items.categories[c]) == ("Gamma pan", ["kitchen", "cook"])  # token_seq split on " "
    assert t.profile_fields == ["age", "city"]
    # dataset defaults to the folder's name
    assert len(_load(data_cfg, tmp_path / "shop", *ATOMIC_FIELDS).interactions) == 20


def test_missing_file(tmp_path, data_cfg):
    (tmp_path / "shop").mkdir()
    with pytest.raises(DataError, match=r"expected shop\.inter \(or shop\.train\.inter \+ shop\.valid\.inter \+ "
                                        r"shop\.test\.inter\) in .*shop"):
        _load(data_cfg, tmp_path, "data.source.dataset=shop")


def test_missing_mapped_field(tmp_path, data_cfg):
    write_atomic_set(tmp_path)
    with pytest.raises(DataError, match=r"shop\.item:1: field\(s\) 'title' \(data\.source\.title_field\) not in the header "
                                        r"\['item_id', 'movie_title', 'class'\]"):
        _load(data_cfg, tmp_path / "shop", "data.source.title_field=title")
    with pytest.raises(DataError, match=r"shop\.inter:1: field\(s\) 'uid' \(data\.source\.user_id_field\)"):
        _load(data_cfg, tmp_path / "shop", "data.source.user_id_field=uid")


def test_wrong_type(tmp_path, data_cfg):
    d = write_atomic_set(tmp_path)
    (d / "shop.inter").write_text((d / "shop.inter").read_text().replace("u2\tD\t4\t5", "u2\tD\tfour\t5"))
    with pytest.raises(DataError, match=r"shop\.inter:7: field 'rating': not a number: 'four'"):
        _load(data_cfg, d, *ATOMIC_FIELDS)
    (d / "shop.inter").write_text("user_id:token\titem_id:int\n")
    with pytest.raises(DataError, match=r"shop\.inter:1: field 'item_id': type 'int' is not a RecBole atomic type"):
        _load(data_cfg, d, *ATOMIC_FIELDS)


def test_sequence_format_rows_are_refused(tmp_path, data_cfg):
    d = tmp_path / "x"
    d.mkdir()
    (d / "x.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\nu\ta b\tc\n")
    with pytest.raises(DataError, match=r"x\.inter:1: field 'item_id_list': sequence-format"):
        _load(data_cfg, d)


def _write_folds(tables, split, folder, name):
    """Write a split's division as plain per-fold .inter files (what RecBole's benchmark_filename reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    inter = tables.interactions
    held = chronological(inter[~inter.index.isin(split.train.index)])  # per user: valid row, then test row
    fold = pd.Series(0, index=inter.index)
    fold[held.index] = 1
    fold[held.groupby("user").tail(1).index] = 2
    fold = fold.to_numpy()
    for k, suffix in enumerate(("train", "valid", "test")):
        rows = inter[fold == k]
        (folder / f"{name}.{suffix}.inter").write_text(
            "user_id:token\titem_id:token\ttimestamp:float\n"
            + "".join(f"{tables.user_ids[u]}\t{tables.item_ids[i]}\t{t}\n"
                      for u, i, t in zip(rows.user, rows.item, rows.timestamp)))


def test_given_split_on_a_leave_one_out_division_is_loo(tmp_path, data_cfg):
    base = load_tables(data_cfg("synthetic", "data.source.n_users=60"), None)
    loo = leave_one_out(base)
    _write_folds(base, loo, tmp_path / "syn", "syn")
    t = _load(data_cfg, tmp_path / "syn")
    assert t.report["pre_split"] and sorted(set(t.interactions.fold)) == [0, 1, 2]
    given = make_split(t, OmegaConf.create({"_target_": "coldstart_exp.data.splits.given", "name": "given"}))
    assert given.info["train_interactions"] == loo.info["train_interactions"]

    def raw(tables, es):
        return [(tables.user_ids[u], [tables.item_ids[i] for i in h], [tables.item_ids[i] for i in tg], a)
                for u, h, tg, a in zip(es.users, es.histories, es.targets, es.activity)]

    for a, b in ((loo.valid, given.valid), (loo.tests["test"], given.tests["test"])):
        assert sorted(raw(base, a)) == sorted(raw(t, b))


def test_given_split_needs_pre_split_files(tmp_path, data_cfg):
    t = load_tables(data_cfg("synthetic"), None)
    with pytest.raises(DataError, match=r"split=given needs pre-split files.*\.train\.inter"):
        make_split(t, OmegaConf.create({"_target_": "coldstart_exp.data.splits.given", "name": "given"}))


def test_benchmark_filename_picks_the_folds(tmp_path, data_cfg):
    d = write_atomic_set(tmp_path)
    lines = (d / "shop.inter").read_text().splitlines(keepends=True)
    for suffix, part in (("tr", lines[1:15]), ("va", lines[15:18]), ("te", lines[18:])):
        (d / f"shop.{suffix}.inter").write_text(lines[0] + "".join(part))
    t = _load(data_cfg, d, *ATOMIC_FIELDS, "data.source.benchmark_filename=[tr,va,te]")
    assert np.bincount(t.interactions.fold).tolist() == [14, 3, 3]
    s = make_split(t, OmegaConf.create({"_target_": "coldstart_exp.data.splits.given", "name": "given"}))
    assert s.info["valid_interactions"] == 3 and s.info["test_interactions"] == 3 and len(s.train) == 14


def test_writer_round_trip_keeps_tables(tmp_path, data_cfg):
    a = load_tables(data_cfg("synthetic"), None)
    write_atomic(a, tmp_path / "syn", "syn")
    b = _load(data_cfg, tmp_path / "syn", "data.source.seq_separator=|")
    assert a.interactions.equals(b.interactions) and a.items.equals(b.items) and a.users.equals(b.users)
    assert list(a.item_ids) == list(b.item_ids) and list(a.user_ids) == list(b.user_ids)
