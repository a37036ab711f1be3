"""What every data source is: a class built from `data.source` (`_target_` + its keys) that lists
its files (for the cache key) and reads them into `RawData` (raw ids, validated rows)."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

from ..errors import BadRowLog, DataError
from ..tables import RawData


class Source(ABC):
    """A data set. Subclasses take their YAML keys (under `data.source`) as constructor arguments."""

    @abstractmethod
    def files(self) -> list[Path]:
        """The files `read` parses, in a fixed order: their bytes key the Parquet cache. Raises a
        `DataError` naming the folder and the expected names when any is missing."""

    @abstractmethod
    def read(self, log: BadRowLog) -> RawData:
        """Parse `files()`; bad rows go to `log` (which raises or counts them, per data.on_bad_rows)."""


def resolve_dir(base: str | None, subdir: str | None, holds: str) -> Path:
    """`base` (default env COLDSTART_DATA_DIR), or `base/subdir` when that folder exists."""
    base = base or os.environ.get("COLDSTART_DATA_DIR")
    if not base:
        raise DataError(f"data.source.dir is not set (nor env COLDSTART_DATA_DIR): point it at the folder that "
                        f"holds {holds}")
    p = Path(base)
    return p / subdir if subdir and (p / subdir).is_dir() else p


def resolve_file(path: str | None, base: str | None, key: str) -> Path | None:
    """A configured file path (relative to `base` when given); None stays None; absent -> error."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_absolute() and base:
        p = Path(base) / p
    if not p.is_file():
        raise DataError(f"{p}: file not found (data.source.{key}; looked in {p.resolve().parent})")
    return p


def pick_column(header: list[str], mapped: str | None, default: str, key: str, required: dict[str, str]) -> str | None:
    """The column a field comes from: the mapped name (which must then exist: added to `required`), or,
    when unmapped (null), the standard name if the file has it, else None."""
    if mapped is not None:
        required[mapped] = f"data.source.{key}"
        return mapped
    return default if default in header else None
