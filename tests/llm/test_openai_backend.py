"""OpenAI-compatible backend against the local fake server (127.0.0.1, random port)."""
import time

import numpy as np
import pytest
from fake_openai_server import free_port

from coldstart_exp.llm import CachedLLM, GenerationParams, LLMCache, normalize_logprobs
from coldstart_exp.llm.backends.openai import OpenAIBackend
from coldstart_exp.llm.errors import BackendUnavailable, LLMError, PromptTooLong, ScoringUnsupported

P = GenerationParams(max_new_tokens=16, seed=7)


def backend(url, **kw):
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("max_retries", 2)
    kw.setdefault("backoff_s", 0.01)
    return OpenAIBackend(url, "fake-model", progress=False, **kw)


def test_generate_order_concurrency_and_request_body(fake_server, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sekret")
    fake_server.delay_s = 0.05
    b = OpenAIBackend.from_cfg({"base_url": fake_server.base_url, "model": "fake-model", "api_key_env": "MY_KEY",
                                "concurrency": 3, "progress": False})
    prompts = [f"user {i}" for i in range(9)]
    out = b.generate(prompts, P)
    assert [o.splitlines()[0] for o in out] == [f"1. You said: user {i}" for i in range(9)]
    assert 1 < fake_server.max_inflight <= 3  # parallel, but bounded by llm.concurrency
    req = fake_server.requests[0]
    assert req["auth"] == "Bearer sekret" and req["body"]["seed"] == 7 and req["body"]["max_tokens"] == 16
    assert b.counters.tokens_generated > 0 and b.counters.prompts == 9


def test_prefill_and_stop(fake_server):
    b = backend(fake_server.base_url)
    out = b.generate([[{"role": "user", "content": "x"}, {"role": "assistant", "content": "1."}]],
                     P.replace(stop=("\n3.",)))
    assert out[0].startswith("1. You said: x") and "Genre" not in out[0]


def test_retries_on_500_then_success(fake_server):
    fake_server.mode, fake_server.fail_first = "flaky", 2
    assert backend(fake_server.base_url).generate(["hi"], P)[0].startswith("1.")
    assert len(fake_server.requests) == 3


def test_persistent_500_gives_clear_error(fake_server):
    fake_server.mode = "error500"
    b = backend(fake_server.base_url)
    with pytest.raises(BackendUnavailable, match="failed after 3 attempts"):
        b.generate(["hi"], P)
    assert len(fake_server.requests) == 3 and b.counters.errors == 1


def test_timeout_does_not_hang(fake_server):
    fake_server.mode = "slow"
    b = backend(fake_server.base_url, timeout_s=0.3, max_retries=1)
    t0 = time.time()
    with pytest.raises(BackendUnavailable, match="Timeout"):
        b.generate(["hi"], P)
    assert time.time() - t0 < 5


def test_server_down():
    b = backend(f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    t0 = time.time()
    with pytest.raises(BackendUnavailable, match="Is the server running"):
        b.generate(["hi"], P)
    assert time.time() - t0 < 5


def test_malformed_response(fake_server):
    fake_server.mode = "garbage"
    with pytest.raises(LLMError, match="malformed"):
        backend(fake_server.base_url).generate(["hi"], P)


def test_empty_prompt_list_makes_no_request(fake_server):
    assert backend(fake_server.base_url).generate([], P) == [] and not fake_server.requests


def test_truncation_policy(fake_server):
    long = "word " * 400
    b = backend(fake_server.base_url, max_prompt_tokens=50)
    b.generate([long], P)
    sent = fake_server.requests[-1]["body"]["messages"][-1]["content"]
    assert len(sent) <= 200 and b.counters.truncated == 1
    with pytest.raises(PromptTooLong):
        backend(fake_server.base_url, max_prompt_tokens=50, truncation="error").generate([long], P)


def test_score_via_echo_logprobs_ranks_obvious_first(fake_server):
    b = backend(fake_server.base_url)
    prompt = "the capital of france is paris . the capital of france is"
    lp = b.score(prompt, [" paris", " banana", " tokyo"])
    probs = normalize_logprobs(lp)
    assert probs.sum() == pytest.approx(1.0) and np.argmax(probs) == 0
    body = fake_server.requests[-1]["body"]
    assert body["echo"] is True and body["logprobs"]


def test_score_without_logprobs_is_a_clear_error(fake_server):
    fake_server.mode = "nologprobs"
    with pytest.raises(ScoringUnsupported, match="no prompt logprobs"):
        backend(fake_server.base_url).score("x", ["a", "b"])


def test_cached_openai_second_run_makes_no_requests(fake_server, tmp_path):
    llm = CachedLLM(backend(fake_server.base_url), LLMCache(tmp_path))
    a = llm.generate(["a", "b"], P)
    n = len(fake_server.requests)
    assert llm.generate(["a", "b"], P) == a and len(fake_server.requests) == n
