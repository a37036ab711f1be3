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
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import BadRowLog, DataError


def open_text(path: Path, encoding: str = "utf-8") -> io.TextIOBase:
    """Open plain, .gz or single-member .zip text files. A UTF-8 byte-order mark is dropped; bytes that do
    not decode are kept as surrogates so that the row holding them is reported (`bad_encoding`)."""
    path = Path(path)
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding, newline="", errors="surrogateescape")
    if path.suffix == ".zip":
        zf = zipfile.ZipFile(path)
        members = [n for n in zf.namelist() if not n.endswith("/")]
        if len(members) != 1:
            raise DataError(f"{path}: expected one file in the zip archive, found {members}")
        return io.TextIOWrapper(zf.open(members[0]), encoding=encoding, newline="", errors="surrogateescape")
    return open(path, encoding=encoding, newline="", errors="surrogateescape")


def bad_encoding(v: str, encoding: str = "utf-8") -> str | None:
    """The problem with a field read by `open_text` that held bytes invalid in `encoding`, else None."""
    bad = [c for c in v if "\udc80" <= c <= "\udcff"]
    if not bad:
        return None
    return f"byte 0x{ord(bad[0]) - 0xDC00:02x} is not valid {encoding} (set the source's encoding, e.g. latin-1)"


@contextmanager
def reading(path: Path, where: Callable[[], int]):
    """Turn a damaged-file error while reading `path` (truncated or non-gzip .gz, a bad zip) into a
    DataError naming the file and the line reached."""
    try:
        yield
    except (EOFError, gzip.BadGzipFile, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}:{where()}: the file is damaged or truncated ({type(e).__name__}: {e}); "
                        f"download or decompress it again") from None


Converter = type | Callable[[str], object]


def _convert(typ: Converter, v: str, h: str):
    """int/float: a number (empty float -> NaN except for a timestamp); a callable raises ValueError."""
    if typ is int:
        x = float(v)
        if not -(2**63) <= x < 2**63:  # inf, 1e30: would overflow the int64 columns later, far from the file
            raise ValueError("outside the 64-bit integer range")
        return int(x)
    if typ is float:
        try:
            return float(v)
        except ValueError:
            if v == "" and h != "timestamp":
                return float("nan")
            raise
    return typ(v)


def _problem(typ: Converter, v: str, e: ValueError) -> str:
    if typ in (int, float):
        return f"{v!r} is {e}" if "range" in str(e) else f"not a number: {v!r}"
    return f"cannot read {v!r}: {e}"


def read_header(path: Path, sep: str = "\t", encoding: str = "utf-8") -> list[str]:
    """The raw header fields of a delimited file (with RecBole `name:type` suffixes, if any)."""
    with open_text(path, encoding) as fh, reading(path, lambda: 1):
        row = next(csv.reader(fh, delimiter=sep, quotechar='"', strict=False), [])
    if not row:
        raise DataError(f"{path}:1: empty file or missing header")
    return row


def check_columns(path: Path, header: list[str], required: dict[str, str]) -> None:
    """One error naming every required column (and the config key that asked for it) not in the header."""
    missing = [f"'{c}' ({why})" if why else f"'{c}'" for c, why in required.items() if c not in header]
    if missing:
        raise DataError(f"{path}:1: field(s) {', '.join(missing)} not in the header {header}")


def read_delimited(
    path: Path,
    numeric: dict[str, Converter] | None = None,
    log: BadRowLog | None = None,
    sep: str = "\t",
    strip_types: bool = True,
    required: dict[str, str] | None = None,
    encoding: str = "utf-8",
) -> dict[str, list]:
    """Read a delimited file with a header into column lists.

    `numeric` maps column name -> int/float (those fields must parse) or a converter raising
    ValueError. `required` maps further column names that must be in the header -> the config key
    that named them (for the error). Headers in RecBole's atomic format (`name:type`) are reduced to
    `name` when `strip_types`.
    """
    log = log or BadRowLog()
    numeric = numeric or {}
    with open_text(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=sep, quotechar='"', strict=False)  # quoted fields may hold newlines
        try:
            with reading(path, lambda: 1):
                header_row = next(reader)
        except StopIteration:
            header_row = []
        if not header_row:
            raise DataError(f"{path}:1: empty file or missing header")
        header = [h.split(":")[0] if strip_types else h for h in header_row]
        check_columns(path, header, {**{c: "" for c in numeric}, **(required or {})})
        cols: dict[str, list] = {h: [] for h in header}
        conv = [(i, h, numeric.get(h)) for i, h in enumerate(header)]
        n = len(header)
        start = reader.line_num + 1
        with reading(path, lambda: reader.line_num):
            for parts in reader:
                lineno, start = start, reader.line_num + 1  # first physical line of this record
                if not parts:
                    continue
                if len(parts) != n:
                    last = reader.line_num
                    if last > lineno:  # an unbalanced quote swallowed the lines up to the next quote
                        log.bad(str(path), lineno, "<row>", f"expected {n} fields {header}, found {len(parts)}; "
                                f"a quoted field runs over lines {lineno}-{last} (unbalanced quote?), so "
                                f"{last - lineno + 1} lines are lost", n=last - lineno + 1)
                    else:
                        log.bad(str(path), lineno, "<row>", f"expected {n} fields {header}, found {len(parts)}")
                    continue
                if reader.line_num > lineno:
                    log.spans(str(path), lineno, reader.line_num)
                row = _convert_row(parts, conv, path, lineno, log)
                if row is not None:
                    for (_, h, _), v in zip(conv, row):
                        cols[h].append(v)
    return cols


def _convert_row(parts: list[str], conv, path: Path, lineno: int, log: BadRowLog) -> list | None:
    row = []
    for i, h, typ in conv:
        v = parts[i]
        problem = bad_encoding(v)
        if problem:
            log.bad(str(path), lineno, h, problem)
            return None
        if typ is not None:
            try:
                v = _convert(typ, v, h)
            except (ValueError, OverflowError) as e:
                log.bad(str(path), lineno, h, _problem(typ, v, e))
                return None
        row.append(v)
    return row


def read_separated(
    path: Path,
    names: list[str],
    numeric: dict[str, Converter] | None = None,
    log: BadRowLog | None = None,
    sep: str = "::",
    encoding: str = "utf-8",
) -> dict[str, list]:
    """Read a header-less file whose fields are split by a (multi-character) separator, such as
    MovieLens-1M's `::` files; `names` are the fields in order."""
    log = log or BadRowLog()
    numeric = numeric or {}
    conv = [(i, h, numeric.get(h)) for i, h in enumerate(names)]
    cols: dict[str, list] = {h: [] for h in names}
    lineno = 0
    with open_text(path, encoding) as fh, reading(path, lambda: lineno + 1):
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            parts = line.split(sep)
            if len(parts) != len(names):
                log.bad(str(path), lineno, "<row>", f"expected {len(names)} fields {names} separated by {sep!r}, "
                        f"found {len(parts)}")
                continue
            row = _convert_row(parts, conv, path, lineno, log)
            if row is not None:
                for h, v in zip(names, row):
                    cols[h].append(v)
    return cols


def iter_json_lines(path: Path, log: BadRowLog) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) from a JSON-lines file; also accepts Python-literal lines
    (the McAuley 2014 metadata files are written with `repr`, not JSON)."""
    import ast

    lineno = 0
    with open_text(path) as fh, reading(path, lambda: lineno + 1):
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if bad_encoding(line):
                log.bad(str(path), lineno, "<row>", bad_encoding(line))
                continue
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


def pick_column(header: list[str], mapped: str | None, default: str, key: str, required: dict[str, str]) -> str | None:
    """The column a field comes from: the mapped name (which must then exist: added to `required`), or,
    when unmapped (null), the standard name if the file has it, else None."""
    if mapped is not None:
        required[mapped] = f"data.source.{key}"
        return mapped
    return default if default in header else None
