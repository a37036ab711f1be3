"""The one interface every LLM backend implements.

Why: ScaleToT, PAT and SCoTER only write prompts and parsers; they must not
care whether text comes from the embedded SmolLM2, a local 7B model or a vLLM
server. The base class owns what is common: batching with length sorting,
progress bar with tokens/s, counters, empty-input handling, stop strings.
"""
from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from ..counters import LLMCounters
from ..params import GenerationParams

log = logging.getLogger(__name__)

Message = dict  # {"role": ..., "content": ...}
Prompt = str | Sequence[Message]
OnBatch = Callable[[list[int], list[str]], None]


def as_messages(prompt: Prompt) -> list[Message]:
    """A bare string is a single user turn."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]


def prefill_of(prompt: Prompt) -> str:
    """A trailing assistant message is a prefill: the answer continues from it.

    Why: the 135M model ignores format instructions but reliably continues a
    started answer ("1."); the returned text includes the prefill.
    """
    if isinstance(prompt, str) or not prompt:
        return ""
    last = prompt[-1]
    return str(last.get("content", "")) if last.get("role") == "assistant" else ""


def apply_stop(text: str, stop: Sequence[str]) -> str:
    """Cut at the first stop string (servers do it too; local backends do not)."""
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if s and i != -1:
            cut = min(cut, i)
    return text[:cut]


class LLMBackend(ABC):
    """Abstract backend. Subclasses implement ``_generate_batch`` and ``_score_batch``."""

    name: str = "base"
    version: str = "0"
    batch_size: int = 8
    progress: bool = True

    def __init__(self, counters: LLMCounters | None = None) -> None:
        self.counters = counters or LLMCounters()

    # ---- prompt rendering (identity for chat servers, chat template locally) ----
    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees; it is what the cache keys on."""
        msgs = as_messages(prompt)
        return "\n".join(f"{m['role']}: {m['content']}" for m in msgs)

    # ---- generation ----
    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams | None = None,
        on_batch: OnBatch | None = None,
        desc: str = "llm.generate",
    ) -> list[str]:
        """Generate one completion per prompt, in input order.

        Prompts are length-sorted so a batch pads little; ``on_batch`` is called
        after each batch with (original indices, texts) so callers (the cache)
        can persist progress and a killed run loses at most one batch.
        """
        params = params or GenerationParams()
        prompts = list(prompts)
        if not prompts:
            return []
        rendered = [self.render(p) for p in prompts]
        log.info("%s: %d prompts on %s (batch %d, max_new_tokens %d, %s)", desc, len(prompts), self.name,
                 self.batch_size, params.max_new_tokens, "greedy" if params.greedy else f"T={params.temperature}")
        order = sorted(range(len(prompts)), key=lambda i: -len(rendered[i]))
        out: list[str | None] = [None] * len(prompts)
        self.counters.add(prompts=len(prompts))  # CachedLLM adds the ones it serves itself
        bar = _progress(len(prompts), desc, self.progress)
        try:
            for s in range(0, len(order), self.batch_size):
                idx = order[s : s + self.batch_size]
                t0 = time.perf_counter()
                texts, ntok = self._generate_batch([prompts[i] for i in idx], params)
                dt = time.perf_counter() - t0
                texts = [apply_stop(prefill_of(prompts[i]) + t, params.stop) for i, t in zip(idx, texts)]
                self.counters.add(tokens_generated=int(ntok), gen_seconds=dt)
                for i, t in zip(idx, texts):
                    out[i] = t
                if on_batch is not None:
                    on_batch(idx, texts)
                if bar is not None:
                    bar.update(len(idx))
                    bar.set_postfix(tok_s=f"{self.counters.tokens_per_s:.1f}")
        finally:
            if bar is not None:
                bar.close()
        return [t or "" for t in out]

    @abstractmethod
    def _generate_batch(self, prompts: list[Prompt], params: GenerationParams) -> tuple[list[str], int]:
        """Return (texts, number of new tokens generated)."""

    # ---- closed-set scoring ----
    def score(self, prompt: Prompt, options: Sequence[str]) -> np.ndarray:
        """Log-probability (sum over the option's tokens) of each option given the prompt."""
        return self.score_many([prompt], [options])[0]

    def score_many(self, prompts: Sequence[Prompt], options_list: Sequence[Sequence[str]]) -> list[np.ndarray]:
        if len(prompts) != len(options_list):
            raise ValueError("score_many: prompts and options_list differ in length")
        for opts in options_list:
            if len(opts) == 0:
                raise ValueError("score: empty option set")
        out = self._score_batch(list(prompts), [list(o) for o in options_list])
        self.counters.add(scored_options=sum(len(o) for o in options_list))
        return out

    @abstractmethod
    def _score_batch(self, prompts: list[Prompt], options_list: list[list[str]]) -> list[np.ndarray]:
        ...

    def close(self) -> None:  # pragma: no cover - optional
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r})"


def _progress(total: int, desc: str, enabled: bool):
    """tqdm bar only for long runs; tests and tiny calls stay quiet."""
    if not enabled or total < 2:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc=desc, unit="item", leave=False, mininterval=1.0)
