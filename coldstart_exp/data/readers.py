"""Line-by-line readers for delimited and JSON-lines files that validate every row.

Pandas' fast readers silently coerce or drop malformed rows; research data needs the opposite, so
these readers check field counts and numeric fields and report `file:line: field` on failure.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

from .errors import BadRowLog, DataError


def open_text(path: Path) -> io.TextIOBase:
    """Open plain, .gz or single-member .zip text files."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    if path.suffix == ".zip":
        zf = zipfile.ZipFile(path)
        members = [n for n in zf.namelist() if not n.endswith("/")]
        return io.TextIOWrapper(zf.open(members[0]), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_delimited(
    path: Path,
    numeric: dict[str, type] | None = None,
    log: BadRowLog | None = None,
    sep: str = "\t",
    strip_types: bool = True,
) -> dict[str, list]:
    """Read a delimited file with a header into column lists.

    `numeric` maps column name -> int/float; those fields must parse. Headers in RecBole's atomic
    format (`name:type`) are reduced to `name` when `strip_types`.
    """
    log = log or BadRowLog()
    numeric = numeric or {}
    with open_text(path) as fh:
        reader = csv.reader(fh, delimiter=sep, quotechar='"', strict=False)  # quoted fields may hold newlines
        try:
            header_row = next(reader)
        except StopIteration:
            header_row = []
        if not header_row:
            raise DataError(f"{path}:1: empty file or missing header")
        header = [h.split(":")[0] if strip_types else h for h in header_row]
        missing = [c for c in numeric if c not in header]
        if missing:
            raise DataError(f"{path}:1: header {header} lacks required column(s) {missing}")
        cols: dict[str, list] = {h: [] for h in header}
        conv = [(i, h, numeric.get(h)) for i, h in enumerate(header)]
        n = len(header)
        start = reader.line_num + 1
        for parts in reader:
            lineno, start = start, reader.line_num + 1  # first physical line of this record
            if not parts:
                continue
            if len(parts) != n:
                log.bad(str(path), lineno, "<row>", f"expected {n} fields {header}, found {len(parts)}")
                continue
            row = []
            ok = True
            for i, h, typ in conv:
                v = parts[i]
                if typ is not None:
                    try:
                        v = typ(float(v)) if typ is int else typ(v)
                    except ValueError:
                        if v == "" and typ is float and h not in ("timestamp",):
                            v = float("nan")
                        else:
                            log.bad(str(path), lineno, h, f"not a number: {v!r}")
                            ok = False
                            break
                row.append(v)
            if ok:
                for (_, h, _), v in zip(conv, row):
                    cols[h].append(v)
    return cols


def iter_json_lines(path: Path, log: BadRowLog) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) from a JSON-lines file; also accepts Python-literal lines
    (the McAuley 2014 metadata files are written with `repr`, not JSON)."""
    import ast

    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                try:
                    obj = ast.literal_eval(line)
                except (ValueError, SyntaxError):
                    log.bad(str(path), lineno, "<row>", "not valid JSON")
                    continue
            if not isinstance(obj, dict):
                log.bad(str(path), lineno, "<row>", "not a JSON object")
                continue
            yield lineno, obj
