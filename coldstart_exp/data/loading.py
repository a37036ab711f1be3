"""Load a data set's standard tables, from the on-disk Parquet cache when possible.

What every data source is (`Source`): a class built from `data.source` (`_target_` + its keys) that lists
its files (for the cache key) and reads them into `RawData` (raw ids, validated rows); `resolve_dir` and
`resolve_file` say where those files are. The source is built from `data.source`. The
cache key hashes the source files' bytes and the data config (less folder locations), so editing a
file or a filter invalidates it, and a second load skips parsing entirely.
"""

from __future__ import annotations

import json
import logging
import os
import time
from abc import ABC, abstractmethod
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from ..retrieval.keys import cache_key
from .errors import BadRowLog, DataError
from .tables import RawData, Tables, build_tables

log = logging.getLogger(__name__)
CACHE_FORMAT = 3  # bump when the table layout changes (3: sources as `_target_` classes, optional reviews table)


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


def _cache_key(cfg: DictConfig, paths: list[Path]) -> str:
    pre = OmegaConf.to_container(cfg, resolve=True)
    pre.pop("cache", None)
    if pre.get("duplicates", "keep") == "keep":
        pre.pop("duplicates", None)  # the default: caches built before the knob existed stay valid
    if isinstance(pre.get("source"), dict):
        pre["source"].pop("dir", None)  # where the files are is not what they hold
    return cache_key(f"format={CACHE_FORMAT}", pre, length=16, files=paths)


def build_source(cfg: DictConfig) -> Source:
    """`hydra.utils.instantiate(data.source)`, with errors that name the config key."""
    node = cfg.get("source")
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise DataError(f"data.source of data set '{cfg.get('name')}' must be a node with a `_target_` Source class "
                        f"(see conf/data/*.yaml), got {node!r}")
    try:
        source = hydra.utils.instantiate(node, _convert_="all")
    except InstantiationException as e:
        cause = e.__cause__ or e
        if isinstance(cause, DataError):
            raise cause from None
        raise DataError(f"data.source ({node._target_}) of data set '{cfg.get('name')}': {cause}") from e
    if not isinstance(source, Source):
        raise DataError(f"data.source._target_={node._target_} is not a coldstart_exp.data.sources.Source")
    return source


def load_tables(cfg: DictConfig, cache_dir: str | Path | None = None) -> Tables:
    """Read (or fetch from cache) the `data` config's data set as standard tables."""
    source = build_source(cfg)
    paths = source.files()
    use_cache = cache_dir is not None and cfg.get("cache", True)
    folder = None
    if use_cache:
        folder = Path(cache_dir) / "tables" / f"{cfg.name}-{_cache_key(cfg, paths)}"
        _remove_stale_tmp(folder)
        if (folder / "report.json").exists():
            t0 = time.perf_counter()
            try:
                tables = _read_cache(cfg.name, folder)
            except Exception as e:  # truncated/corrupt Parquet or JSON: set aside and rebuild from the source
                aside = folder.with_name(f"{folder.name}.corrupt-{int(time.time())}")
                log.warning("data cache %s is damaged (%s: %s); moved to %s and rebuilding", folder,
                            type(e).__name__, str(e)[:200], aside)
                os.replace(folder, aside)
            else:
                tables.report["loaded_from_cache"] = str(folder)
                log.info("loaded %s from cache %s in %.2fs", cfg.name, folder, time.perf_counter() - t0)
                return tables
    t0 = time.perf_counter()
    bad = BadRowLog(cfg.get("on_bad_rows", "error"))
    raw = source.read(bad)
    if raw.interactions is None or len(raw.interactions) == 0:
        why = f"all {bad.total} rows were skipped as bad" if bad.total else "the file has a header but no rows?"
        raise DataError(f"data set '{cfg.name}': no interaction rows read ({why}); files: "
                        f"{', '.join(str(p) for p in paths)}")
    tables = build_tables(cfg.name, raw, cfg.get("rating_threshold"), int(cfg.get("kcore", 0)),
                          cfg.get("duplicates", "keep"))
    tables.report["bad_rows"] = bad.as_dict()
    tables.report["parse_seconds"] = round(time.perf_counter() - t0, 3)
    if bad.multiline:
        log.warning("%s: %d record(s) run over several lines (a quoted field with line breaks, or an unbalanced "
                    "quote that swallowed rows; check them): %s", cfg.name, len(bad.multiline), bad.multiline[:5])
    if bad.total:
        log.warning("%s: skipped %d bad rows (data.on_bad_rows=skip): %s", cfg.name, bad.total, dict(bad.counts))
    kc = tables.report["kcore"]
    if kc["removed_interactions"]:
        log.info("%s: %d-core filter removed %d interactions, %d users, %d items", cfg.name, kc["k"],
                 kc["removed_interactions"], kc["removed_users"], kc["removed_items"])
    if folder is not None:
        _write_cache(tables, folder)
    return tables


def _remove_stale_tmp(folder: Path) -> None:
    """Temp folders of cache builds whose process is gone (killed mid-write)."""
    for tmp in folder.parent.glob(folder.name + ".tmp*") if folder.parent.exists() else []:
        pid = tmp.name.rsplit(".tmp", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            log.info("removed %s, left by a cache build that was killed", tmp)


def _write_cache(t: Tables, folder: Path) -> None:
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    t.interactions.to_parquet(tmp / "interactions.parquet")
    items = t.items.copy()
    items["categories"] = [list(map(str, c)) for c in items["categories"]]
    items.insert(0, "raw_id", t.item_ids.astype(str))
    items.to_parquet(tmp / "items.parquet")
    pd.DataFrame({"raw_id": t.user_ids.astype(str)}).to_parquet(tmp / "user_ids.parquet")
    if t.users is not None:
        t.users.astype("string").to_parquet(tmp / "users.parquet")
    if t.reviews is not None:
        t.reviews.to_parquet(tmp / "reviews.parquet")
    (tmp / "report.json").write_text(json.dumps(t.report, default=str, indent=1))
    try:
        os.replace(tmp, folder)  # atomic: concurrent writers race harmlessly
    except OSError:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def _read_cache(name: str, folder: Path) -> Tables:
    inter = pd.read_parquet(folder / "interactions.parquet")
    items = pd.read_parquet(folder / "items.parquet")
    item_ids = items.pop("raw_id").to_numpy(dtype=object)
    items["categories"] = [list(c) for c in items["categories"]]
    user_ids = pd.read_parquet(folder / "user_ids.parquet").raw_id.to_numpy(dtype=object)
    users = pd.read_parquet(folder / "users.parquet") if (folder / "users.parquet").exists() else None
    if users is not None:
        users = users.astype(object).where(users.notna(), None)
    reviews = pd.read_parquet(folder / "reviews.parquet") if (folder / "reviews.parquet").exists() else None
    report = json.loads((folder / "report.json").read_text())
    return Tables(name, inter, user_ids, np.asarray(item_ids, dtype=object), users, items, report, reviews)
