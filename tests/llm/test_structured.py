import logging
import re
from pathlib import Path

import numpy as np
import pytest

from coldstart_exp.llm import (
    CachedLLM,
    LLMCache,
    PromptTemplate,
    entropy,
    generate_structured,
    load_template,
    normalize_logprobs,
    parse_numbered_steps,
)
from coldstart_exp.llm.backends.fake import ScriptedBackend
from coldstart_exp.llm.scoring import choose

T = PromptTemplate(name="t", version="1", system="Be brief.", user="Describe {name}.", prefix="1.")


def steps3(text):
    return parse_numbered_steps(text, min_steps=3)


def test_valid_answers_parse_first_try(tmp_path):
    llm = CachedLLM(ScriptedBackend(lambda r, p: " a\n2. b\n3. c"), LLMCache(tmp_path))
    res = generate_structured(llm, T, [{"name": "x"}, {"name": "y"}], steps3, fallback=[])
    assert [r.value for r in res] == [["a", "b", "c"]] * 2
    assert all(r.attempts == 1 and not r.fallback for r in res)
    assert llm.counters.retries == 0 and llm.counters.fallbacks == 0


def test_invalid_then_valid_on_retry(tmp_path):
    # greedy answer is malformed; sampled retries (temperature > 0) are valid
    script = lambda r, p: " only one" if p.greedy else " a\n2. b\n3. c"  # noqa: E731
    llm = CachedLLM(ScriptedBackend(script), LLMCache(tmp_path))
    res = generate_structured(llm, T, [{"name": "x"}], steps3, fallback=["fb"], max_retries=2)
    assert res[0].value == ["a", "b", "c"] and res[0].attempts == 2
    assert llm.counters.retries == 1 and llm.counters.parse_failures == 1 and llm.counters.fallbacks == 0


def test_always_invalid_falls_back_bounded(tmp_path, caplog):
    llm = CachedLLM(ScriptedBackend(lambda r, p: "garbage"), LLMCache(tmp_path))
    with caplog.at_level(logging.WARNING):
        res = generate_structured(llm, T, [{"name": "x"}, {"name": "y"}], steps3,
                                  fallback=lambda v: [f"fallback {v['name']}"], max_retries=2)
    assert [r.value for r in res] == [["fallback x"], ["fallback y"]]
    assert all(r.fallback and r.attempts == 3 and r.error for r in res)
    assert llm.backend.calls == 6  # 2 items x (1 + 2 retries), then stop
    assert llm.counters.fallbacks == 2 and llm.counters.retries == 4
    assert "fell back" in caplog.text


def test_max_items_bound_logged_and_empty(tmp_path, caplog):
    llm = CachedLLM(ScriptedBackend(lambda r, p: " a\n2. b\n3. c"), LLMCache(tmp_path))
    with caplog.at_level(logging.WARNING):
        res = generate_structured(llm, T, [{"name": str(i)} for i in range(10)], steps3, max_items=3)
    assert len(res) == 3 and llm.backend.calls == 3 and "bounded to 3 of 10" in caplog.text
    assert generate_structured(llm, T, [], steps3) == []


def test_structured_rerun_is_served_from_cache(tmp_path):
    mk = lambda: CachedLLM(ScriptedBackend(lambda r, p: " a\n2. b\n3. c"), LLMCache(tmp_path))  # noqa: E731
    generate_structured(mk(), T, [{"name": "x"}], steps3)
    again = mk()
    generate_structured(again, T, [{"name": "x"}], steps3)
    assert again.backend.calls == 0 and again.counters.cache_hits == 1


def test_template_render_and_missing_vars():
    msgs = T.render(name="Bob")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
    assert msgs[1]["content"] == "Describe Bob." and msgs[2]["content"] == "1."
    with pytest.raises(KeyError, match="name"):
        T.render()
    edited = PromptTemplate(name="t", version="1", system="Be brief.", user="Describe {name}!", prefix="1.")
    assert edited.version_key != T.version_key  # text edits invalidate the cache even without a version bump


def test_shipped_templates_load_and_render():
    d = Path(__file__).resolve().parents[2] / "conf" / "prompts"
    for f in d.glob("*.yaml"):
        t = load_template(f.stem)
        msgs = t.render(**{k: "v" for k in t.fields})
        assert msgs[-1]["content"] and not re.search(r"\{\w+\}", msgs[-1]["content"])
    with pytest.raises(FileNotFoundError, match="available"):
        load_template("does_not_exist")


def test_normalize_and_entropy():
    p = normalize_logprobs([-1.0, -1.0, -1.0, -1.0])
    assert p.sum() == pytest.approx(1.0) and entropy(p) == pytest.approx(np.log(4))
    assert entropy(p, normalized=True) == pytest.approx(1.0)
    q = normalize_logprobs([-0.1, -30.0])
    assert q[0] > 0.99 and entropy(q) < 0.01
    # length normalisation changes the ranking when a long option has a larger total
    assert np.argmax(normalize_logprobs([-2.0, -3.0], length=[1, 6])) == 1


def test_choose_with_fake_scorer():
    best, p, h = choose(ScriptedBackend(), "the answer is paris", ["london", "paris", "tokyo"])
    assert best == "paris" and p.sum() == pytest.approx(1.0) and 0 < h < np.log(3)


def test_counters_pickle_and_reset():
    import pickle

    from coldstart_exp.llm import LLMCounters
    c = LLMCounters()
    c.add(prompts=3, tokens_generated=10, gen_seconds=2.0)
    d = pickle.loads(pickle.dumps(c))
    assert d.as_dict()["tokens_per_s"] == 5.0
    d.add(prompts=1)
    d.reset()
    assert d.prompts == 0 and d.gen_seconds == 0.0 and isinstance(d.gen_seconds, float)
