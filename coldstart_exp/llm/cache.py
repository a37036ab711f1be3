"""Persistent LLM answer cache (SQLite, WAL) and the ``CachedLLM`` wrapper.

Why SQLite: one file, atomic transactions (a killed process leaves either the
whole batch or none of it), and WAL + busy timeout let several processes (DDP
ranks, multirun jobs) write at once without corrupting anything. Do not put
the cache on NFS: SQLite locking is unreliable there.

Key = sha256 of (backend name, backend version, template version, rendered
prompt, decoding params incl. seed, kind), so a different model, template
revision or decoding setting never reads a stale answer.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..retrieval.keys import cache_key
from .backends.base import LLMBackend, Prompt
from .params import GenerationParams

log = logging.getLogger(__name__)

MODES = ("use", "refresh", "off")


def make_key(*parts: Any) -> str:
    """Full sha256 of the parts (`cache_key`'s default), so existing cache entries keep their keys."""
    return cache_key(*parts)


class LLMCache:
    """Key → JSON value store safe for concurrent processes and interruption."""

    def __init__(self, path: str | Path, mode: str = "use", timeout_s: float = 60.0) -> None:
        if mode not in MODES:
            raise ValueError(f"llm.cache.mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        p = Path(path).expanduser()
        if p.suffix != ".sqlite":  # a directory was given
            p = p / "llm_cache.sqlite"
        self.path = p
        self.timeout_s = timeout_s
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._lock = threading.Lock()
        if mode != "off":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._connect()
            except sqlite3.DatabaseError as e:  # not a database / malformed: set it aside, start a fresh one
                aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
                log.warning("LLM cache %s is damaged (%s); moved to %s, starting an empty cache", self.path, e, aside)
                self._conn = None
                for suffix in ("", "-wal", "-shm"):
                    src = Path(str(self.path) + suffix)
                    if src.exists():
                        os.replace(src, Path(str(aside) + suffix))
                self._connect()

    def _connect(self) -> sqlite3.Connection:
        # Reconnect after fork: SQLite connections must not cross processes.
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(str(self.path), timeout=self.timeout_s, check_same_thread=False,
                                   isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            for _ in range(50):  # switching to WAL itself needs the lock briefly
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError:
                    time.sleep(0.1)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                         "meta TEXT, created REAL)")
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """Values for the keys present (nothing in ``refresh``/``off`` mode)."""
        if self.mode != "use" or not keys:
            return {}
        out: dict[str, Any] = {}
        with self._lock:
            conn = self._connect()
            for s in range(0, len(keys), 500):
                chunk = list(keys[s : s + 500])
                q = f"SELECT key, value FROM entries WHERE key IN ({','.join('?' * len(chunk))})"
                for k, v in conn.execute(q, chunk):
                    out[k] = json.loads(v)
        return out

    def get(self, key: str, default: Any = None) -> Any:
        return self.get_many([key]).get(key, default)

    def put_many(self, items: Sequence[tuple[str, Any]], meta: dict | None = None) -> None:
        """Write a batch in one transaction: all or nothing if the process dies."""
        if self.mode == "off" or not items:
            return
        m = json.dumps(meta) if meta else None
        now = time.time()
        rows = [(k, json.dumps(v), m, now) for k, v in items]
        with self._lock:
            conn = self._connect()
            for attempt in range(20):
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.executemany("INSERT OR REPLACE INTO entries VALUES (?,?,?,?)", rows)
                    conn.execute("COMMIT")
                    return
                except sqlite3.OperationalError as e:  # busy beyond timeout: back off, retry
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.OperationalError:
                        pass
                    if "locked" not in str(e) and "busy" not in str(e):
                        raise
                    time.sleep(min(0.05 * 2 ** attempt, 2.0))
            raise RuntimeError(f"LLM cache {self.path} stayed locked; is another process stuck?")

    def put(self, key: str, value: Any, meta: dict | None = None) -> None:
        self.put_many([(key, value)], meta)

    def __len__(self) -> int:
        if self.mode == "off":
            return 0
        with self._lock:
            return self._connect().execute("SELECT COUNT(*) FROM entries").fetchone()[0]

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __getstate__(self):  # picklable for DataLoader workers / spawn
        d = self.__dict__.copy()
        d["_conn"], d["_pid"], d["_lock"] = None, -1, None
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._lock = threading.Lock()


class CachedLLM:
    """Wrap any backend with the cache; same interface as the backend.

    Why a wrapper: methods call ``build_llm`` and get caching, resumption and
    hit-rate counting for free. Misses are generated in backend batches and
    written after every batch, so a killed run redoes at most one batch.
    """

    def __init__(self, backend: LLMBackend, cache: LLMCache, template_version: str = "") -> None:
        self.backend = backend
        self.cache = cache
        self.template_version = template_version

    name = property(lambda self: self.backend.name)
    version = property(lambda self: self.backend.version)
    counters = property(lambda self: self.backend.counters)

    def render(self, prompt: Prompt) -> str:
        return self.backend.render(prompt)

    def __getattr__(self, item):  # batch_size, model, tok, ... pass through
        if item == "backend":
            raise AttributeError(item)
        return getattr(self.backend, item)

    def key(self, rendered: str, params: GenerationParams, kind: str = "gen", template_version: str | None = None) -> str:
        tv = self.template_version if template_version is None else template_version
        return make_key(kind, self.backend.name, self.backend.version, tv, rendered, params.key())

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None,
                 template_version: str | None = None, desc: str = "llm.generate") -> list[str]:
        params = params or GenerationParams()
        prompts = list(prompts)
        if not prompts:
            return []
        keys = [self.key(self.backend.render(p), params, template_version=template_version) for p in prompts]
        hits = self.cache.get_many(keys)
        out: list[str | None] = [hits.get(k) for k in keys]
        miss = [i for i, v in enumerate(out) if v is None]
        n_hit = len(prompts) - len(miss)
        self.counters.add(prompts=n_hit, cache_hits=n_hit, cache_misses=len(miss))
        if miss:
            meta = {"backend": self.backend.name, "version": self.backend.version, "params": params.key()}

            def on_batch(idx: list[int], texts: list[str]) -> None:
                self.cache.put_many([(keys[miss[j]], t) for j, t in zip(idx, texts)], meta)

            texts = self.backend.generate([prompts[i] for i in miss], params, on_batch=on_batch, desc=desc)
            for i, t in zip(miss, texts):
                out[i] = t
        return [t if t is not None else "" for t in out]

    def score(self, prompt: Prompt, options: Sequence[str]) -> np.ndarray:
        return self.score_many([prompt], [options])[0]

    def score_many(self, prompts: Sequence[Prompt], options_list: Sequence[Sequence[str]]) -> list[np.ndarray]:
        p0 = GenerationParams(max_new_tokens=0)
        keys = [make_key("score", self.backend.name, self.backend.version, self.template_version,
                         self.backend.render(p), list(o), p0.key()) for p, o in zip(prompts, options_list)]
        hits = self.cache.get_many(keys)
        miss = [i for i, k in enumerate(keys) if k not in hits]
        self.counters.add(cache_hits=len(keys) - len(miss), cache_misses=len(miss))
        res: dict[int, np.ndarray] = {i: np.asarray(hits[k], dtype=np.float64) for i, k in enumerate(keys) if k in hits}
        if miss:
            scored = self.backend.score_many([prompts[i] for i in miss], [options_list[i] for i in miss])
            for i, s in zip(miss, scored):
                res[i] = s
            self.cache.put_many([(keys[i], res[i].tolist()) for i in miss])
        return [res[i] for i in range(len(keys))]

    def close(self) -> None:
        self.cache.close()
        self.backend.close()
