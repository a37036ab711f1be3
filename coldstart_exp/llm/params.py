"""Decoding parameters.

Why a dataclass: the same object drives HF ``generate``, the OpenAI request
body and the cache key, so what was cached is exactly what was asked for.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 128
    temperature: float = 0.0        # 0 → greedy
    top_p: float = 1.0
    repetition_penalty: float = 1.0  # >1 stops the small model from looping
    seed: int = 0
    stop: tuple[str, ...] = ()       # extra stop strings (server + post-hoc cut)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def key(self) -> str:
        """Canonical JSON used in cache keys (the seed is part of it, also under greedy)."""
        return json.dumps(asdict(self), sort_keys=True)

    def replace(self, **kw: Any) -> GenerationParams:
        return replace(self, **kw)

    @classmethod
    def from_cfg(cls, cfg: Any, **overrides: Any) -> GenerationParams:
        """Build from the ``cfg.llm`` node (missing keys keep defaults)."""
        get = (lambda k, d: cfg.get(k, d)) if cfg is not None else (lambda k, d: d)
        kw = dict(
            max_new_tokens=int(get("max_new_tokens", cls.max_new_tokens)),
            temperature=float(get("temperature", cls.temperature)),
            top_p=float(get("top_p", cls.top_p)),
            repetition_penalty=float(get("repetition_penalty", cls.repetition_penalty)),
            seed=int(get("seed", cls.seed)),
            stop=tuple(get("stop", ()) or ()),
        )
        kw.update(overrides)
        return cls(**kw)
