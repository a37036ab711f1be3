"""HF backend logic on a tiny random Llama (no downloads, milliseconds)."""
import numpy as np
import pytest
import torch

from coldstart_exp.llm import GenerationParams, normalize_logprobs
from coldstart_exp.llm.backends.hf import HFBackend
from coldstart_exp.llm.backends.hf_score import score_group
from coldstart_exp.llm.errors import PromptTooLong

P = GenerationParams(max_new_tokens=6)
PROMPTS = ["the user likes action", "paris", "what is the capital of france answer with one word", "yes"]


def test_render_uses_chat_template_and_prefill(tiny_backend):
    r = tiny_backend.render([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "1."}])
    assert r == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n1."


def test_batched_left_padded_equals_single_and_keeps_order(tiny_backend):
    batched = tiny_backend.generate(PROMPTS, P)
    singles = [tiny_backend.generate([p], P)[0] for p in PROMPTS]
    assert batched == singles
    assert tiny_backend.counters.tokens_generated > 0
    assert tiny_backend.counters.prompts == 2 * len(PROMPTS)


def test_prefill_is_returned(tiny_backend):
    out = tiny_backend.generate([[{"role": "user", "content": "x"}, {"role": "assistant", "content": "1."}]], P)
    assert out[0].startswith("1.")


def test_seeded_sampling_reproducible(tiny_backend):
    p = GenerationParams(max_new_tokens=8, temperature=1.0, seed=3)
    a = tiny_backend.generate(PROMPTS[:2], p)
    b = tiny_backend.generate(PROMPTS[:2], p)
    c = tiny_backend.generate(PROMPTS[:2], p.replace(seed=4))
    assert a == b and a != c


def test_stop_strings_cut(tiny_hf):
    model, tok = tiny_hf
    b = HFBackend(model, tok, progress=False)
    full = b.generate(["paris"], GenerationParams(max_new_tokens=10))[0]
    assert len(full) > 2
    stop = full[1:3]
    cut = b.generate(["paris"], GenerationParams(max_new_tokens=10, stop=(stop,)))[0]
    assert stop not in cut and full.startswith(cut)


def test_truncation_left_counts_and_error_raises(tiny_hf):
    model, tok = tiny_hf
    long = "the user likes action movies and comedy films " * 20
    b = HFBackend(model, tok, max_prompt_tokens=16, progress=False)
    assert len(b.generate([long, "yes"], P)) == 2
    assert b.counters.truncated == 1
    strict = HFBackend(model, tok, max_prompt_tokens=16, truncation="error", progress=False)
    with pytest.raises(PromptTooLong, match="budget 16"):
        strict.generate([long], P)


def _manual_logprob(model, tok, text, n_opt):
    ids = tok(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
    return float(sum(lp[i - 1, ids[i]] for i in range(len(ids) - n_opt, len(ids))))


def test_score_matches_unbatched_manual_computation(tiny_backend, tiny_hf):
    model, tok = tiny_hf
    prompt = "what is the capital of france"
    opts = ["paris", "no", "maybe yes"]
    got = tiny_backend.score(prompt, opts)
    ptxt = tiny_backend.render(prompt)
    for o, g in zip(opts, got):
        enc = tok(ptxt + o, add_special_tokens=False, return_offsets_mapping=True)
        n_opt = sum(e > len(ptxt) for _, e in enc["offset_mapping"])
        assert n_opt == len(tok(o, add_special_tokens=False)["input_ids"])  # boundary after "\n"
        assert g == pytest.approx(_manual_logprob(model, tok, ptxt + o, n_opt), abs=1e-4)
    assert np.all(got < 0)


def test_score_many_batched_equals_individual(tiny_hf):
    model, tok = tiny_hf
    b = HFBackend(model, tok, score_batch_size=64, progress=False)
    prompts = ["paris", "the user likes action movies"]
    opts = [["yes", "no"], ["drama", "horror", "comedy films"]]
    many = b.score_many(prompts, opts)
    for p, o, m in zip(prompts, opts, many):
        np.testing.assert_allclose(m, b.score(p, o), atol=1e-4)
    assert b.counters.scored_options == 5 * 2
    probs = normalize_logprobs(many[1])
    assert probs.sum() == pytest.approx(1.0) and np.all(probs > 0)


def test_score_rejects_empty(tiny_backend):
    with pytest.raises(ValueError):
        tiny_backend.score("x", [])
    with pytest.raises(ValueError):
        tiny_backend.score("x", [""])


def test_kv_shared_prefix_scoring_equals_full_pass(tiny_backend):
    ptxt = tiny_backend.render("the user likes action movies")
    encs = [tiny_backend._encode_pair(ptxt, o) for o in ["drama", "horror films", "comedy"]]
    np.testing.assert_allclose(score_group(tiny_backend.model, [encs], tiny_backend.tok.pad_token_id)[0],
                               tiny_backend._score_full(encs), atol=1e-4)
