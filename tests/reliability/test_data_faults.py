"""Data faults, one line each: a small corrupted file the test writes, the overrides, and the expected outcome
(a DataError matching a regex that names file, line and field; or a check on the loaded tables/report).
Add a fault by adding a row to FAULTS."""

from __future__ import annotations

import gzip
import os

import pytest

from coldstart_exp.data.errors import DataError
from coldstart_exp.data.loading import load_tables
from tests.conftest import compose

INTER = "user_id,item_id,timestamp\n" + "".join(f"u{u},i{i},{10 * u + i}\n" for u in range(4) for i in range(5))
ITEMS = "item_id,title\n" + "".join(f"i{i},Title {i}\n" for i in range(5))


def _inter(*extra: str, header: str = "") -> bytes:
    return (header + INTER + "".join(extra)).encode()


def _items_bad_quote(closed: bool = False) -> bytes:
    """The quote opening i1's title swallows i2..i4: to the end of the file (a short record), or, `closed`,
    up to a stray quote in i4's title (a record with the right field count)."""
    end = 'i4,Title" 4,b' if closed else "i4,Title 4,b"
    return f'item_id,title,brand\ni0,Title 0,b\ni1,"Title 1,b\ni2,Title 2,b\ni3,Title 3,b\n{end}\n'.encode()


def _gz(data: bytes) -> bytes:
    return gzip.compress(data)


# (id, {file: bytes}, overrides, expected): expected is a regex for the DataError, or a callable on the tables
FAULTS = [
    ("timestamp_inf", {"i.csv": _inter("u9,i1,inf\n")}, [], r"i\.csv:22: field 'timestamp': .*64-bit integer range"),
    ("timestamp_1e30", {"i.csv": _inter("u9,i1,1e30\n")}, [], r"i\.csv:22: field 'timestamp'"),
    ("timestamp_inf_skip", {"i.csv": _inter("u9,i1,inf\n")}, ["data.on_bad_rows=skip"],
     lambda t: t.report["bad_rows"]["skipped_rows"] == 1 and len(t.interactions) == 20),
    ("truncated_gz", {"i.csv.gz": _gz(_inter())[:-30]}, [], r"i\.csv\.gz:\d+: the file is damaged or truncated"),
    ("random_bytes_gz", {"i.csv.gz": os.urandom(300)}, [], r"i\.csv\.gz:1: the file is damaged or truncated"),
    ("latin1_byte", {"i.csv": _inter("u9,i\xe9,99\n").replace(b"i\xc3\xa9", b"i\xe9")}, [],
     r"i\.csv:22: field 'item_id': byte 0xe9 is not valid utf-8"),
    ("latin1_byte_skip", {"i.csv": _inter("u9,i\xe9,99\n").replace(b"i\xc3\xa9", b"i\xe9")},
     ["data.on_bad_rows=skip"], lambda t: t.report["bad_rows"]["skipped_rows"] == 1),
    ("utf8_bom_header", {"i.csv": b"\xef\xbb\xbf" + _inter()}, [], lambda t: len(t.interactions) == 20),
    ("bad_quote_skip_counts_lost_lines", {"i.csv": _inter(), "it.csv": _items_bad_quote()},
     ["data.source.items=it.csv", "data.on_bad_rows=skip"],
     lambda t: t.report["bad_rows"]["skipped_rows"] == 4),  # lines 3-6 lost, not 1
    ("bad_quote_right_field_count_reported", {"i.csv": _inter(), "it.csv": _items_bad_quote(closed=True)},
     ["data.source.items=it.csv"],  # cannot tell from a quoted line break: kept, and its line range reported
     lambda t: t.report["bad_rows"]["multiline_examples"][0].endswith("it.csv:3-6")),
    ("bad_quote_error_names_lines", {"i.csv": _inter(), "it.csv": _items_bad_quote()},
     ["data.source.items=it.csv"], r"it\.csv:3: .*runs over lines 3-6 \(unbalanced quote\?\), so 4 lines are lost"),
    ("duplicates_counted", {"i.csv": _inter("u0,i0,0\nu0,i0,0\n")}, [],
     lambda t: t.report["duplicates"] == {"policy": "keep", "exact_duplicate_rows": 2} and len(t.interactions) == 22),
    ("duplicates_drop", {"i.csv": _inter("u0,i0,0\nu0,i0,0\n")}, ["data.duplicates=drop"],
     lambda t: t.report["duplicates"]["exact_duplicate_rows"] == 2 and len(t.interactions) == 20),
    ("duplicates_error", {"i.csv": _inter("u0,i0,0\n")}, ["data.duplicates=error"],
     r"1 exact duplicate interaction rows .*data\.duplicates=drop"),
    ("header_only_interactions", {"i.csv": b"user_id,item_id,timestamp\n", "it.csv": ITEMS.encode()},
     ["data.source.items=it.csv"], r"no interaction rows read \(the file has a header but no rows\?\); files: \S*i\.csv"),
    ("latin1_title_skip", {"i.csv": _inter(), "it.csv": ITEMS.replace("Title 3", "Titl\xe9 3").encode("latin-1")},
     ["data.source.items=it.csv", "data.on_bad_rows=skip"],
     lambda t: t.report["bad_rows"]["by_file_field"] == {"it.csv:title": 1}),
    ("garbage_items_file", {"i.csv": _inter(), "it.csv": bytes(range(256)) * 4}, ["data.source.items=it.csv"],
     r"it\.csv:1: field"),
    ("missing_column", {"i.csv": b"user_id,item\nu1,i1\n"}, [], r"i\.csv:1: field\(s\) 'item_id'"),
]


@pytest.mark.parametrize("name,files,overrides,expected", FAULTS, ids=[f[0] for f in FAULTS])
def test_data_fault(tmp_path, name, files, overrides, expected):
    for fname, data in files.items():
        (tmp_path / fname).write_bytes(data)
    inter = next(f for f in files if f.startswith("i."))
    cfg = compose(["data=csv", f"data.source.dir={tmp_path}", f"data.source.interactions={inter}", "data.cache=false",
                   *overrides], tmp_path).data
    if callable(expected):
        assert expected(load_tables(cfg, None))
    else:
        with pytest.raises(DataError, match=expected):
            load_tables(cfg, None)
