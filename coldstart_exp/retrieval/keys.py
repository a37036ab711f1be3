"""`cache_key`: the one way every on-disk cache names its entries.

Why one helper: the data tables, LLM answers, item/text embeddings and method artifacts are all
cached by a hash of what they depend on; hashing those parts the same way everywhere keeps keys
stable (same content -> same key) and the rules in one place.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from typing import Any


def cache_key(*parts: Any, algo: str = "sha256", length: int | None = None, sep: str | None = None,
              files: Iterable[str | os.PathLike] = ()) -> str:
    """Hex digest of ``parts`` (and then the bytes of ``files``), cut to ``length`` characters.

    Parts are serialised as JSON (sorted dict keys, ``str()`` for anything JSON cannot write): one
    part as itself, several as one list; so equal content gives an equal key across processes. ``sep`` instead joins string
    parts with that separator (keys over raw text, e.g. one key per sentence). ``algo`` is any
    ``hashlib`` name; the LLM cache uses the default (full sha256), shorter keys name files.
    """
    if sep is not None:
        blob = sep.join(map(str, parts))
    else:
        blob = json.dumps(parts[0] if len(parts) == 1 else parts, sort_keys=True, default=str)
    h = hashlib.new(algo, blob.encode())
    for p in files:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:length] if length else h.hexdigest()
