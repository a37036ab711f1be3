"""Run counters for the LLM layer.

Why: offline LLM passes over thousands of users are expensive and fail in
quiet ways (fallbacks, truncation, cache misses). Every backend and wrapper
updates one shared :class:`LLMCounters` so a run can log exactly what it did.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, fields

log = logging.getLogger(__name__)


@dataclass
class LLMCounters:
    prompts: int = 0            # prompts requested from generate()
    cache_hits: int = 0         # prompts answered from the cache
    cache_misses: int = 0       # prompts sent to the backend
    retries: int = 0            # structured-output re-generations
    fallbacks: int = 0          # answers replaced by the declared fallback
    parse_failures: int = 0     # raw answers the parser rejected (incl. retried ones)
    truncated: int = 0          # prompts cut to fit the context
    tokens_generated: int = 0   # new tokens produced by the backend
    gen_seconds: float = 0.0    # wall time spent inside backend generation
    scored_options: int = 0     # (prompt, option) pairs scored
    errors: int = 0             # backend requests that failed after all retries
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **kw) -> None:
        """Thread-safe increment (the OpenAI backend updates from worker threads)."""
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_generated / self.gen_seconds if self.gen_seconds > 0 else 0.0

    @property
    def cache_hit_rate(self) -> float:
        n = self.cache_hits + self.cache_misses
        return self.cache_hits / n if n else 0.0

    def as_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        d["gen_seconds"] = round(d["gen_seconds"], 3)
        d["tokens_per_s"] = round(self.tokens_per_s, 2)
        d["cache_hit_rate"] = round(self.cache_hit_rate, 4)
        return d

    def log(self, prefix: str = "llm") -> dict:
        """Log and return the counters (prefixed keys, ready for a metrics logger)."""
        d = {f"{prefix}/{k}": v for k, v in self.as_dict().items()}
        log.info("LLM counters: %s", self.as_dict())
        return d

    def __getstate__(self):  # picklable (Lightning / multiprocessing); the lock is recreated
        d = self.__dict__.copy()
        d.pop("_lock", None)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            for f in fields(self):
                if not f.name.startswith("_"):
                    setattr(self, f.name, 0.0 if isinstance(getattr(self, f.name), float) else 0)
