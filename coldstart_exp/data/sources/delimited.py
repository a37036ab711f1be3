"""Any delimited interactions file (CSV, TSV; plain, .gz or .zip) with its columns named in config,
plus optional item and user files read the same way (see `mapped.py` for the field rules)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from ..errors import BadRowLog, DataError
from ..loading import Source, resolve_file
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

SEPARATORS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def _sep_for(path: Path, sep: str) -> str:
    if sep != "auto":
        return SEPARATORS.get(sep, sep)
    name = path.name.lower().removesuffix(".gz").removesuffix(".zip")
    return "\t" if name.endswith((".tsv", ".tab", ".inter", ".item", ".user")) else ","


def _time_parser(fmt: str):
    def parse(v: str) -> int:
        return int(datetime.strptime(v, fmt).replace(tzinfo=timezone.utc).timestamp())

    return parse


class Delimited(Source):
    """`interactions` (required), `items`, `users`: paths, relative to `dir` when that is set.
    `time_format`: null reads numbers (unix time); a strptime format (e.g. "%Y-%m-%d") reads dates as UTC."""

    def __init__(self, interactions: str = "interactions.csv", items: str | None = None, users: str | None = None,
                 dir: str | None = None, sep: str = "auto", encoding: str = "utf-8", time_format: str | None = None,
                 category_sep: str = "|", **fields) -> None:
        unknown = set(fields) - set(FieldMap.__dataclass_fields__)
        if unknown:
            raise DataError(f"data.source: unknown key(s) {sorted(unknown)}; field keys are "
                            f"{sorted(FieldMap.__dataclass_fields__)}")
        self.paths = {"interactions": interactions, "items": items, "users": users}
        self.dir, self.sep, self.encoding, self.time_format = dir, sep, encoding, time_format
        self.category_sep = category_sep
        self.fields = FieldMap(**fields)

    def _files(self) -> dict[str, Path | None]:
        return {k: resolve_file(v, self.dir, k) for k, v in self.paths.items()}

    def files(self) -> list[Path]:
        return [p for p in self._files().values() if p is not None]

    def _format(self, path: Path) -> FileFormat:
        tc = _time_parser(self.time_format) if self.time_format else int
        return FileFormat(_sep_for(path, self.sep), self.encoding, False, None, tc, self.category_sep)

    def read(self, log: BadRowLog) -> RawData:
        f = self._files()
        report: dict = {}
        readers = {"interactions": read_interactions, "items": read_items, "users": read_users}
        out = {}
        for key, path in f.items():
            if path is not None:
                ff = self._format(path)
                out[key] = readers[key](path, read_header(path, ff.sep, ff.encoding), self.fields, ff, log, report)
        inter, items, users = out["interactions"], out.get("items"), out.get("users")
        report.pop("rows_before", None)
        if items is not None:
            if "text" not in items:
                items["text"] = default_text(items)
            items = drop_unknown_items(items, inter, report)
        return RawData(inter, users, items, {"source_fields": report})
