"""OpenAI-compatible chat-completions backend (vLLM, llama.cpp server, hosted APIs).

Why: large models run better behind a server; the layer only needs HTTP.
Requests run in a bounded thread pool (``concurrency``), each with a timeout
and retries with exponential backoff on connection errors, timeouts, 429 and
5xx. Anything else fails fast with the server's message. Nothing hangs: every
request has a deadline and the retry count is finite.
"""
from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import BackendUnavailable, LLMError, PromptTooLong, ScoringUnsupported
from ..params import GenerationParams
from .base import LLMBackend, Prompt, as_messages, prefill_of

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4  # prompt-length estimate when the server's tokenizer is unknown


def chatml(messages: list[dict], add_generation_prompt: bool = True) -> str:
    s = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return s + ("<|im_start|>assistant\n" if add_generation_prompt else "")


class _Retryable(Exception):
    pass


class OpenAIBackend(LLMBackend):
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        concurrency: int = 4,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        batch_size: int | None = None,
        max_prompt_tokens: int | None = None,
        truncation: str = "left",
        repetition_penalty_field: str | None = None,
        extra_body: dict | None = None,
        score_format: str = "chatml",
        version: str | None = None,
        progress: bool = True,
        counters=None,
    ) -> None:
        super().__init__(counters)
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}"
        self.version = version or self.base_url
        self.concurrency = max(1, int(concurrency))
        self.batch_size = int(batch_size or self.concurrency * 4)
        self.timeout_s, self.max_retries, self.backoff_s = float(timeout_s), int(max_retries), float(backoff_s)
        self.max_prompt_tokens = max_prompt_tokens
        if truncation not in ("left", "error"):
            raise ValueError(f"llm.truncation must be 'left' or 'error', got {truncation!r}")
        self.truncation = truncation
        self.repetition_penalty_field = repetition_penalty_field
        self.extra_body = dict(extra_body or {})
        self.score_format = score_format
        self.progress = progress
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 10.0)),
                                    headers=headers, limits=httpx.Limits(max_connections=self.concurrency * 2))

    @classmethod
    def from_cfg(cls, c: dict, counters=None) -> OpenAIBackend:
        key_env = c.get("api_key_env") or "OPENAI_API_KEY"
        return cls(
            base_url=c.get("base_url") or "http://127.0.0.1:8000/v1", model=c.get("model") or "default",
            api_key=os.environ.get(key_env), concurrency=int(c.get("concurrency", 4)),
            timeout_s=float(c.get("timeout_s", 60)), max_retries=int(c.get("max_retries", 3)),
            backoff_s=float(c.get("backoff_s", 1.0)), batch_size=c.get("batch_size"),
            max_prompt_tokens=c.get("max_prompt_tokens"), truncation=str(c.get("truncation", "left")),
            repetition_penalty_field=c.get("repetition_penalty_field"), extra_body=c.get("extra_body"),
            score_format=str(c.get("score_format", "chatml")), version=c.get("version"),
            progress=bool(c.get("progress", True)), counters=counters)

    def render(self, prompt: Prompt) -> str:
        """Messages as canonical JSON: the server applies its own chat template.

        A trailing assistant message (prefill) is sent as-is; vLLM continues it
        with ``extra_body: {continue_final_message: true, add_generation_prompt: false}``.
        """
        return json.dumps(as_messages(prompt), ensure_ascii=False)

    # ------------------------------------------------------------ transport
    def _post(self, path: str, body: dict) -> dict:
        import httpx

        url = f"{self.base_url}{path}"
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                r = self._client.post(url, json=body)
                if r.status_code == 429 or r.status_code >= 500:
                    raise _Retryable(f"HTTP {r.status_code}: {r.text[:200]}")
                if r.status_code >= 400:
                    msg = r.text[:300]
                    if "context" in msg.lower() and "length" in msg.lower():
                        raise PromptTooLong(f"server rejected prompt as too long: {msg}")
                    raise LLMError(f"{url} returned HTTP {r.status_code}: {msg}")
                return r.json()
            except (httpx.TransportError, _Retryable) as e:  # connect errors and timeouts included
                last = e
                if attempt < self.max_retries:
                    wait = self.backoff_s * 2 ** attempt
                    log.warning("LLM server %s: %s; retry %d/%d in %.1fs", url, type(e).__name__,
                                attempt + 1, self.max_retries, wait)
                    time.sleep(wait)
        self.counters.add(errors=1)
        raise BackendUnavailable(
            f"LLM server {url} failed after {self.max_retries + 1} attempts "
            f"(timeout {self.timeout_s}s): {type(last).__name__}: {last}. Is the server running at llm.base_url?")

    def _fit(self, msgs: list[dict], max_new_tokens: int) -> list[dict]:
        """Apply the truncation policy using a character estimate of tokens."""
        if not self.max_prompt_tokens:
            return msgs
        budget = int(self.max_prompt_tokens) * CHARS_PER_TOKEN
        total = sum(len(m["content"]) for m in msgs)
        if total <= budget:
            return msgs
        if self.truncation == "error":
            raise PromptTooLong(f"prompt ~{total // CHARS_PER_TOKEN} tokens > llm.max_prompt_tokens "
                                f"{self.max_prompt_tokens}; shorten it or set llm.truncation=left")
        self.counters.add(truncated=1)
        msgs = [dict(m) for m in msgs]
        over = total - budget
        last = msgs[-1]
        last["content"] = last["content"][min(over, len(last["content"])):]  # keep the most recent text
        return msgs

    def _chat(self, prompt: Prompt, params: GenerationParams) -> tuple[str, int]:
        body: dict[str, Any] = {
            "model": self.model, "messages": self._fit(as_messages(prompt), params.max_new_tokens),
            "max_tokens": params.max_new_tokens, "temperature": params.temperature,
            "top_p": params.top_p, "seed": params.seed, **self.extra_body}
        if params.stop:
            body["stop"] = list(params.stop)
        if self.repetition_penalty_field and params.repetition_penalty != 1.0:
            body[self.repetition_penalty_field] = params.repetition_penalty
        data = self._post("/chat/completions", body)
        try:
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as e:
            raise LLMError(f"malformed chat-completions response: {str(data)[:200]}") from e
        ntok = (data.get("usage") or {}).get("completion_tokens") or len(text.split())
        text = text.rstrip() if prefill_of(prompt) else text.strip()  # keep the space after a prefill
        return text, int(ntok)

    def _generate_batch(self, prompts: list[Prompt], params: GenerationParams) -> tuple[list[str], int]:
        with ThreadPoolExecutor(self.concurrency) as ex:
            res = list(ex.map(lambda p: self._chat(p, params), prompts))
        return [t for t, _ in res], sum(n for _, n in res)

    # -------------------------------------------------------------- scoring
    def _score_text(self, prompt: Prompt) -> str:
        if isinstance(prompt, str) or self.score_format == "raw":
            return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
        return chatml(as_messages(prompt))

    def _score_one(self, ptxt: str, option: str) -> float:
        """Prompt log-probs via legacy /completions with echo (vLLM supports it)."""
        full = ptxt + option
        try:
            data = self._post("/completions", {"model": self.model, "prompt": full, "echo": True,
                                               "max_tokens": 1, "logprobs": 1, "temperature": 0.0})
        except LLMError as e:
            if isinstance(e, BackendUnavailable):
                raise
            raise ScoringUnsupported(f"{self.base_url} cannot score options: {e}") from e
        lp = ((data.get("choices") or [{}])[0]).get("logprobs") or {}
        toks, tlp, offs = lp.get("tokens"), lp.get("token_logprobs"), lp.get("text_offset")
        if not toks or tlp is None or offs is None:
            raise ScoringUnsupported(
                f"{self.base_url} returned no prompt logprobs (needs /v1/completions with echo=true and "
                "logprobs, as vLLM offers); use llm=smollm2 or llm=hf for label scoring")
        total, n = 0.0, 0
        for t, lp, o in zip(toks, tlp, offs):
            if o + len(t) > len(ptxt) and o < len(full) and lp is not None:
                total += float(lp)
                n += 1
        if n == 0:
            raise ScoringUnsupported("server logprobs did not cover the option tokens")
        return total

    def _score_batch(self, prompts: list[Prompt], options_list: list[list[str]]) -> list[np.ndarray]:
        jobs = [(self._score_text(p), o) for p, opts in zip(prompts, options_list) for o in opts]
        with ThreadPoolExecutor(self.concurrency) as ex:
            flat = list(ex.map(lambda j: self._score_one(*j), jobs))
        out, k = [], 0
        for opts in options_list:
            out.append(np.asarray(flat[k : k + len(opts)], dtype=np.float64))
            k += len(opts)
        return out

    def close(self) -> None:
        self._client.close()
