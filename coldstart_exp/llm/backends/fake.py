"""Deterministic scripted backend for tests and dry runs (no model, instant).

Why: method code (ScaleToT, PAT, SCoTER) must be testable in milliseconds.
``script`` maps the rendered prompt to an answer; ``scorer`` maps (prompt,
option) to a log-prob. Defaults are simple but deterministic.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ..params import GenerationParams
from .base import LLMBackend, Prompt


def _default_script(rendered: str, params: GenerationParams) -> str:
    last = rendered.strip().splitlines()[-1] if rendered.strip() else ""
    return f"1. Read the request: {last[:40]}\n2. Think about it.\n3. Answer: done"


def _default_scorer(rendered: str, option: str) -> float:
    """Options sharing more words with the prompt score higher; ties by length."""
    words = set(rendered.lower().split())
    overlap = sum(w in words for w in option.lower().split())
    return float(overlap) * 2.0 - 0.1 * len(option.split()) - 1.0


class ScriptedBackend(LLMBackend):
    def __init__(
        self,
        script: Callable[[str, GenerationParams], str] | Sequence[str] | None = None,
        scorer: Callable[[str, str], float] | None = None,
        name: str = "fake",
        version: str = "1",
        batch_size: int = 8,
        delay_s: float = 0.0,
        counters=None,
    ) -> None:
        super().__init__(counters)
        if script is None:
            script = _default_script
        elif not callable(script):
            answers = list(script)
            script = lambda r, p, _a=answers: _a[self.calls % len(_a)]  # noqa: E731 - cycle through canned answers
        self.script, self.scorer = script, scorer or _default_scorer
        self.name, self.version, self.batch_size = name, version, batch_size
        self.delay_s, self.calls, self.progress = delay_s, 0, False
        self.seen: list[str] = []

    def _generate_batch(self, prompts: list[Prompt], params: GenerationParams) -> tuple[list[str], int]:
        if self.delay_s:
            time.sleep(self.delay_s)
        out = []
        for p in prompts:
            r = self.render(p)
            self.seen.append(r)
            out.append(self.script(r, params))
            self.calls += 1
        return out, sum(len(t.split()) for t in out)

    def _score_batch(self, prompts: list[Prompt], options_list: list[list[str]]) -> list[np.ndarray]:
        return [np.array([self.scorer(self.render(p), o) for o in opts]) for p, opts in zip(prompts, options_list)]


def fake_backend(cfg: dict, counters=None) -> ScriptedBackend:
    """`llm=fake` (tests): a scripted backend with the configured batch size."""
    return ScriptedBackend(batch_size=int(cfg.get("batch_size") or 8), counters=counters)
