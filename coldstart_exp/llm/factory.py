"""``build_llm(cfg.llm)``: config node → cached backend.

Why one entry point: methods never construct backends themselves, so the
cache, counters and offline guards are always on, and switching backend is a
Hydra override (``llm=hf llm.model_path=...``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .cache import CachedLLM, LLMCache
from .counters import LLMCounters
from .params import GenerationParams

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path("~/.cache/coldstart_exp/llm")


def _as_dict_like(cfg: Any):
    if cfg is None:
        return {}
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return dict(cfg)


def build_backend(cfg: Any, counters: LLMCounters | None = None):
    """The raw (uncached) backend named by ``cfg.backend``."""
    c = _as_dict_like(cfg)
    kind = c.get("backend", "smollm2")
    if kind in ("smollm2", "hf"):
        from .backends.hf_load import build_hf_backend

        if kind == "smollm2":
            c.setdefault("model_path", None)
        elif c.get("model_path") in (None, "", "???"):
            raise ValueError("llm.backend=hf needs llm.model_path (a local folder or a cached hub id)")
        return build_hf_backend(c, counters=counters)
    if kind == "openai":
        from .backends.openai import OpenAIBackend

        return OpenAIBackend.from_cfg(c, counters=counters)
    if kind == "fake":
        from .backends.fake import ScriptedBackend

        return ScriptedBackend(batch_size=int(c.get("batch_size") or 8), counters=counters)
    raise ValueError(f"unknown llm.backend {kind!r}; expected smollm2, hf, openai or fake")


def build_cache(cfg: Any) -> LLMCache:
    c = _as_dict_like(cfg).get("cache") or {}
    mode = str(c.get("mode", "use"))
    d = c.get("dir") or DEFAULT_CACHE_DIR
    return LLMCache(d, mode=mode, timeout_s=float(c.get("timeout_s", 60.0)))


def build_llm(cfg: Any, counters: LLMCounters | None = None) -> CachedLLM:
    """Backend from ``cfg.llm`` wrapped in the persistent cache (mode off = pass-through)."""
    backend = build_backend(cfg, counters=counters)
    cache = build_cache(cfg)
    log.info("LLM %s (%s), cache %s at %s", backend.name, backend.version, cache.mode, cache.path)
    return CachedLLM(backend, cache)


def generation_params(cfg: Any, **overrides: Any) -> GenerationParams:
    """Decoding params from ``cfg.llm`` (max_new_tokens, temperature, ...)."""
    return GenerationParams.from_cfg(cfg, **overrides)


def structured_options(cfg: Any) -> dict:
    """``generate_structured`` keyword arguments from ``cfg.llm`` (retries, bound)."""
    c = _as_dict_like(cfg)
    return {"max_retries": int(c.get("parse_retries", 2)), "retry_temperature": float(c.get("retry_temperature", 0.7)),
            "max_items": c.get("max_users")}
