"""Prompt → generate → parse → retry → fallback, for a whole population.

Why: every method (ScaleToT, PAT, SCoTER) needs the same loop over many
users. Invalid answers are re-generated a bounded number of times with
sampling (greedy would repeat the same mistake), then replaced by a declared
fallback; all of it is counted so a run reports how much was real output.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ParseError
from .params import GenerationParams
from .templates import PromptTemplate

log = logging.getLogger(__name__)


@dataclass
class StructuredResult:
    value: Any            # parsed value, or the fallback
    raw: str              # last raw answer ("" if none)
    attempts: int         # generations used (1 = first try)
    fallback: bool        # True when value is the fallback
    error: str | None = None  # last parse error message


def generate_structured(
    llm: Any,
    template: PromptTemplate,
    variables: Sequence[dict],
    parser: Callable[[str], Any],
    fallback: Any = None,
    params: GenerationParams | None = None,
    max_retries: int = 2,
    retry_temperature: float = 0.7,
    max_items: int | None = None,
    desc: str = "llm.structured",
) -> list[StructuredResult]:
    """Run ``template`` over ``variables`` and parse each answer.

    ``fallback`` may be a value or a callable ``(variables) -> value``.
    ``max_items`` (``llm.max_users``) bounds the run: only the first items are
    processed and the bound is logged. Returns one result per processed item.
    """
    params = params or GenerationParams()
    items = list(variables)
    if max_items is not None and len(items) > int(max_items):
        log.warning("%s: bounded to %d of %d items (llm.max_users)", desc, int(max_items), len(items))
        items = items[: int(max_items)]
    if not items:
        log.warning("%s: no items to generate for", desc)
        return []
    counters = llm.counters
    prompts = [template.render(**v) for v in items]
    results: list[StructuredResult | None] = [None] * len(items)
    todo = list(range(len(items)))
    last_raw: dict[int, str] = {}
    last_err: dict[int, str] = {}
    for attempt in range(max_retries + 1):
        if attempt == 0:
            p = params
        else:
            counters.add(retries=len(todo))
            p = params.replace(seed=params.seed + attempt, temperature=max(params.temperature, retry_temperature))
        kw = {"template_version": template.version_key} if _accepts_template_version(llm) else {}
        texts = llm.generate([prompts[i] for i in todo], p, desc=f"{desc}[try {attempt + 1}]", **kw)
        still = []
        for i, t in zip(todo, texts):
            last_raw[i] = t
            try:
                results[i] = StructuredResult(parser(t), t, attempt + 1, False)
            except (ParseError, ValueError, KeyError, TypeError) as e:
                counters.add(parse_failures=1)
                last_err[i] = str(e)
                still.append(i)
        todo = still
        if not todo:
            break
    for i in todo:
        counters.add(fallbacks=1)
        fb = fallback(items[i]) if callable(fallback) else fallback
        results[i] = StructuredResult(fb, last_raw.get(i, ""), max_retries + 1, True, last_err.get(i))
    if todo:
        log.warning("%s: %d/%d items fell back after %d retries", desc, len(todo), len(items), max_retries)
    log.info("%s done: %s", desc, counters.as_dict())
    return [r for r in results if r is not None]


def _accepts_template_version(llm: Any) -> bool:
    from .cache import CachedLLM

    return isinstance(llm, CachedLLM)
