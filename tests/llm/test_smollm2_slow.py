"""Smoke tests with the real embedded SmolLM2 (loaded once per session)."""
import numpy as np
import pytest

from coldstart_exp.llm import GenerationParams, load_template, normalize_logprobs, parse_numbered_steps

pytestmark = pytest.mark.slow


def test_label_scoring_ranks_obvious_answer_first(smollm2):
    q = [{"role": "user", "content": "What is the capital of France? Answer with one word."}]
    lp = smollm2.score(q, ["Paris", "Banana", "Tokyo", "London"])
    p = normalize_logprobs(lp)
    assert p.sum() == pytest.approx(1.0) and int(np.argmax(p)) == 0 and p[0] > 0.5


def test_structured_steps_with_prefill(smollm2):
    t = load_template("user_reasoning_steps")
    msgs = t.render(age=24, gender_word="man", occupation="technician", k=3,
                    liked="Star Wars (1977), Alien (1979), Terminator 2 (1991)",
                    genres="Action, Comedy, Drama, Sci-Fi")
    out = smollm2.generate([msgs], GenerationParams(max_new_tokens=24, repetition_penalty=1.2))[0]
    assert out.startswith("1.")
    assert len(parse_numbered_steps(out)) >= 2
    assert smollm2.counters.tokens_generated > 0 and "smollm2" in smollm2.name


def test_light_renderer_matches_transformers(smollm2):
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "q"}]
    assert smollm2.renderer is not None
    assert smollm2.render(msgs) == smollm2.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


def test_decode_loop_equals_generate_on_smollm2(smollm2):
    """The fast path's greedy answers are the reference path's, token for token (same cache key)."""
    qs = [[{"role": "user", "content": f"User {i} liked {m}. Which genre will they enjoy most? Answer in one word."}]
          for i, m in enumerate(["Star Wars (1977)", "Toy Story (1995), Babe (1995)", "Scream (1996)", "Fargo (1996)"])]
    p = GenerationParams(max_new_tokens=16, repetition_penalty=1.2)
    smollm2.decoder = "generate"
    ref = smollm2.generate(qs, p)
    smollm2.decoder = "loop"
    assert smollm2.generate(qs, p) == ref
