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
    """The raw (uncached) backend: ``cfg._target_`` names a factory taking the whole ``llm`` node
    (conf/llm/*.yaml), so a new backend is a factory plus a YAML file."""
    c = _as_dict_like(cfg)
    target = c.get("_target_")
    if not target:
        raise ValueError(f"llm config {c.get('_name_') or c.get('backend')!r} names no `_target_` backend factory "
                         "(see conf/llm/*.yaml)")
    from hydra.utils import get_method

    return get_method(target)(c, counters=counters)


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
