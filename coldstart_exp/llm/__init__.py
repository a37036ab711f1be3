"""The LLM reasoning layer shared by ScaleToT, PAT and SCoTER.

Import is cheap: names load from their submodules on first use (PEP 562), and torch/transformers/httpx
only when a backend is built, so a run whose LLM answers are all cached touches only what it reads.

    llm = build_llm(cfg.llm)                       # cached backend
    texts = llm.generate(prompts, GenerationParams.from_cfg(cfg.llm))
    logp = llm.score(prompt, ["Drama", "Comedy"])  # closed-set log-probs
"""
from __future__ import annotations

import importlib

_WHERE = {
    "CachedLLM": "cache", "LLMCache": "cache", "LLMCounters": "counters",
    "BackendUnavailable": "errors", "LLMError": "errors", "ParseError": "errors", "PromptTooLong": "errors",
    "ScoringUnsupported": "errors",
    "build_backend": "factory", "build_llm": "factory", "generation_params": "factory", "structured_options": "factory",
    "GenerationParams": "params",
    "parse_choice": "parsing", "parse_json": "parsing", "parse_numbered_steps": "parsing",
    "choose": "scoring", "entropy": "scoring", "normalize_logprobs": "scoring",
    "StructuredResult": "structured", "generate_structured": "structured",
    "PromptTemplate": "templates", "load_template": "templates",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
