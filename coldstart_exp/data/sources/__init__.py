"""Source readers: each turns one data set's files into `RawData` (raw ids, validated rows)."""

from __future__ import annotations

import importlib

SOURCES = {
    "ml100k": "coldstart_exp.data.sources.ml100k",
    "amazon": "coldstart_exp.data.sources.amazon",
    "synthetic": "coldstart_exp.data.sources.synthetic",
}


def get_source(name: str):
    """Return the reader module for `data.source` (it exposes `files(cfg)` and `read(cfg, log)`)."""
    if name not in SOURCES:
        from ..errors import DataError

        raise DataError(f"unknown data.source {name!r}; known: {sorted(SOURCES)}")
    return importlib.import_module(SOURCES[name])
