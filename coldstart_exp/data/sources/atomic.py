"""RecBole atomic files (https://recbole.io/docs/user_guide/data/atomic_files.html) from any folder:
`<dataset>.inter`, optional `<dataset>.item` and `<dataset>.user`, tab-separated with typed headers
`name:token|token_seq|float|float_seq`; field names mapped in config (see `mapped.py`).

Pre-split benchmark files (`<dataset>.train.inter`, `.valid.inter`, `.test.inter`, RecBole's
`benchmark_filename`) are read as one interaction table whose `fold` column (0/1/2) `split=given` uses;
they are read when `benchmark_filename` is set, or when `<dataset>.inter` is absent and they exist.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import BadRowLog, DataError
from ..loading import Source, resolve_dir
from ..readers import read_header
from ..tables import RawData
from .mapped import (
    FieldMap,
    FileFormat,
    default_text,
    drop_unknown_items,
    read_interactions,
    read_items,
    read_users,
)

TYPES = ("token", "token_seq", "float", "float_seq")
FOLDS = ("train", "valid", "test")


def _float_seq(sep: str):
    def check(v: str) -> str:
        for x in v.split(sep) if v else []:
            float(x)
        return v

    return check


class Atomic(Source):
    """`dir`: RecBole's `data_path` (the folder, or its parent holding `<dataset>/`); `dataset`: the
    file-name stem, null = the folder's name."""

    def __init__(self, dir: str | None = None, dataset: str | None = None, benchmark_filename: list[str] | None = None,
                 seq_separator: str = " ", encoding: str = "utf-8", **fields) -> None:
        unknown = set(fields) - set(FieldMap.__dataclass_fields__)
        if unknown:
            raise DataError(f"data.source: unknown key(s) {sorted(unknown)}; field keys are "
                            f"{sorted(FieldMap.__dataclass_fields__)}")
        if benchmark_filename is not None and len(benchmark_filename) != 3:
            raise DataError(f"data.source.benchmark_filename must name 3 files (train, valid, test), "
                            f"got {benchmark_filename}")
        self.dir, self.dataset, self.benchmark = dir, dataset, benchmark_filename
        self.seq_separator, self.encoding = seq_separator, encoding
        self.fields = FieldMap(**fields)

    def _layout(self) -> tuple[list[Path], Path | None, Path | None]:
        """(interaction files, item file, user file)."""
        if self.dir is None:
            raise DataError("data.source.dir is not set: point it at the folder holding the <dataset>.inter file")
        d = resolve_dir(self.dir, self.dataset, "")
        name = self.dataset or d.name
        whole = d / f"{name}.inter"
        suffixes = self.benchmark or list(FOLDS)
        parts = [d / f"{name}.{s}.inter" for s in suffixes]
        if self.benchmark is None and whole.is_file():
            inters = [whole]
        elif all(p.is_file() for p in parts):
            inters = parts
        else:
            want = " + ".join(p.name for p in parts) if self.benchmark else f"{whole.name} (or {' + '.join(p.name for p in parts)})"
            raise DataError(f"RecBole atomic data '{name}': expected {want} in {d} (looked in {d.resolve()}; "
                            f"data.source.dir / data.source.dataset choose the folder and the file names)")
        item, user = d / f"{name}.item", d / f"{name}.user"
        return inters, item if item.is_file() else None, user if user.is_file() else None

    def files(self) -> list[Path]:
        inters, item, user = self._layout()
        return [*inters, *(p for p in (item, user) if p is not None)]

    def _format(self, path: Path) -> tuple[list[str], FileFormat]:
        """The header's names, and converters that enforce its declared types."""
        raw = read_header(path, "\t", self.encoding)
        names, conv = [], {}
        for h in raw:
            name, _, typ = h.partition(":")
            if typ not in TYPES:
                raise DataError(f"{path}:1: field '{name}': type {typ!r} is not a RecBole atomic type "
                                f"({', '.join(TYPES)}); headers read `name:type`")
            names.append(name)
            if typ == "float":
                conv[name] = float
            elif typ == "float_seq":
                conv[name] = _float_seq(self.seq_separator)
        if "item_id_list" in names:
            raise DataError(f"{path}:1: field 'item_id_list': sequence-format benchmark rows (one history per row) are "
                            f"not interactions; give the plain <dataset>.inter (or per-fold interaction files)")
        return names, FileFormat("\t", self.encoding, True, conv, int, self.seq_separator)

    def read(self, log: BadRowLog) -> RawData:
        inters, item_p, user_p = self._layout()
        report: dict = {}
        parts = []
        for fold, path in enumerate(inters):
            header, ff = self._format(path)
            df = read_interactions(path, header, self.fields, ff, log, report)
            if len(inters) > 1:
                df["fold"] = fold
            parts.append(df)
        inter = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        report.pop("rows_before", None)
        items = users = None
        if item_p is not None:
            header, ff = self._format(item_p)
            items = read_items(item_p, header, self.fields, ff, log, report)
            if "text" not in items:
                items["text"] = default_text(items)
            items = drop_unknown_items(items, inter, report)
        if user_p is not None:
            header, ff = self._format(user_p)
            users = read_users(user_p, header, self.fields, ff, log, report)
        return RawData(inter, users, items, {"source_fields": report, "pre_split": len(inters) > 1})
