"""data=csv: any delimited file with its columns named in config; malformed files fail with one clear message."""

import gzip

import numpy as np
import pytest

from coldstart_exp.data.errors import DataError
from coldstart_exp.data.loading import load_tables
from tests.data.conftest import CSV_FIELDS, ROWS, write_csv_set


def _load(data_cfg, folder, *extra):
    return load_tables(data_cfg("csv", f"data.source.dir={folder}", *CSV_FIELDS, *extra), None)


def test_mapped_columns_give_the_standard_tables(tmp_path, data_cfg):
    t = _load(data_cfg, write_csv_set(tmp_path))
    assert (t.n_users, t.n_items, len(t.interactions)) == (5, 8, 20)
    assert t.interactions.timestamp.tolist() == [r[2] for r in ROWS]  # file order kept
    assert t.interactions.rating.tolist() == [float(r[3]) for r in ROWS]
    g = int(np.flatnonzero(t.item_ids == "G")[0])
    assert t.items.title[g] == "Eta fork" and t.items.categories[g] == ["kitchen", "cutlery"]
    assert t.items.text[g] == "Eta fork Categories: kitchen, cutlery."  # no text column: title + categories
    assert t.profile_fields == ["age_group", "city"]
    assert t.users.city[int(np.flatnonzero(t.user_ids == "u4")[0])] is None  # empty cell = unknown
    assert t.report["source_fields"]["item_rows_without_interactions"] == 1  # Z: a catalogue row, counted


def test_gzipped_tsv_with_standard_names_needs_no_mapping(tmp_path, data_cfg):
    with gzip.open(tmp_path / "log.tsv.gz", "wt") as fh:
        fh.write("user_id\titem_id\ttimestamp\n" + "".join(f"{u}\t{i}\t{t}\n" for u, i, t, _ in ROWS))
    t = load_tables(data_cfg("csv", f"data.source.dir={tmp_path}", "data.source.interactions=log.tsv.gz"), None)
    assert len(t.interactions) == 20 and "rating" not in t.interactions
    assert t.report["source_fields"]["fields"]["time"] == "timestamp"


def test_no_time_column_means_file_order_and_dates_parse_with_a_format(tmp_path, data_cfg):
    (tmp_path / "a.csv").write_text("user_id,item_id\nx,1\nx,2\ny,1\n")
    t = load_tables(data_cfg("csv", f"data.source.interactions={tmp_path / 'a.csv'}"), None)
    assert t.interactions.timestamp.tolist() == [0, 1, 2] and t.report["source_fields"]["fields"]["time"] == "<row order>"
    (tmp_path / "b.csv").write_text("user_id,item_id,day\nx,1,2024-01-02\nx,2,2024-01-01\n")
    t = load_tables(data_cfg("csv", f"data.source.interactions={tmp_path / 'b.csv'}", "data.source.time_field=day",
                             "data.source.time_format=%Y-%m-%d"), None)
    assert t.interactions.timestamp.tolist() == [1704153600, 1704067200]


def test_missing_file_names_path_and_key(tmp_path, data_cfg):
    write_csv_set(tmp_path)
    with pytest.raises(DataError, match=r"nope\.csv: file not found \(data\.source\.items;"):
        _load(data_cfg, tmp_path, "data.source.items=nope.csv")


def test_missing_mapped_column_names_file_column_and_key(tmp_path, data_cfg):
    write_csv_set(tmp_path)
    with pytest.raises(DataError, match=r"interactions\.csv:1: field\(s\) 'when' \(data\.source\.time_field\) not in the header"):
        _load(data_cfg, tmp_path, "data.source.time_field=when")
    with pytest.raises(DataError, match=r"items\.csv:1: field\(s\) 'genres' \(data\.source\.category_field\)"):
        _load(data_cfg, tmp_path, "data.source.category_field=genres")


def test_wrong_type_names_file_line_field_or_is_counted(tmp_path, data_cfg):
    write_csv_set(tmp_path)
    text = (tmp_path / "interactions.csv").read_text().replace("u3,F,9,1", "u3,F,nine,1")
    (tmp_path / "interactions.csv").write_text(text)
    with pytest.raises(DataError, match=r"interactions\.csv:12: field 'ts': not a number: 'nine'"):
        _load(data_cfg, tmp_path)
    t = _load(data_cfg, tmp_path, "data.on_bad_rows=skip")
    assert len(t.interactions) == 19 and t.report["bad_rows"]["by_file_field"] == {"interactions.csv:ts": 1}
    (tmp_path / "b.csv").write_text("user_id,item_id,day\nx,1,02/01/2024\n")
    with pytest.raises(DataError, match=r"b\.csv:2: field 'day': cannot read '02/01/2024'"):
        load_tables(data_cfg("csv", f"data.source.interactions={tmp_path / 'b.csv'}", "data.source.time_field=day",
                             "data.source.time_format=%Y-%m-%d"), None)


def test_misspelt_key_is_named(tmp_path, data_cfg):
    write_csv_set(tmp_path)
    with pytest.raises(DataError, match=r"unknown key\(s\) \['user_field'\]"):
        load_tables(data_cfg("csv", f"data.source.dir={tmp_path}", "+data.source.user_field=uid"), None)
