"""The decode loop (``decoder: loop``) equals ``model.generate`` token for token on a fixed prompt set."""
import numpy as np
import pytest
import torch

from coldstart_exp.llm import GenerationParams
from coldstart_exp.llm.backends.hf import HFBackend
from coldstart_exp.llm.backends.hf_decode import common_prefix, decode, prefill
from coldstart_exp.llm.backends.hf_score import chunks, score_group

SYSTEM = "you are a helpful model answer with one word yes no maybe"
PROMPTS = ["the user likes action", "paris", "what is the capital of france answer with one word", "yes",
           "1. first step 2. second step", "comedy films and drama", "no", "the user likes horror movies and comedy"]
CHAT = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": p}] for p in PROMPTS]


def _pair(tiny_hf, **kw):
    model, tok = tiny_hf
    return (HFBackend(model, tok, decoder="loop", progress=False, **kw),
            HFBackend(model, tok, decoder="generate", progress=False, **kw))


@pytest.mark.parametrize("rp", [1.0, 1.3])
@pytest.mark.parametrize("prompts", [PROMPTS, CHAT], ids=["plain", "shared-system-prefix"])
def test_greedy_loop_equals_generate(tiny_hf, prompts, rp):
    fast, ref = _pair(tiny_hf, batch_size=8)
    p = GenerationParams(max_new_tokens=12, repetition_penalty=rp)
    assert fast.generate(prompts, p) == ref.generate(prompts, p)
    assert fast.counters.tokens_generated == ref.counters.tokens_generated > 0


def test_shared_prefix_is_detected_and_batched_rows_match_single(tiny_hf):
    model, tok = tiny_hf
    fast, _ = _pair(tiny_hf)
    seqs = [tok(fast.render(c), add_special_tokens=False)["input_ids"] for c in CHAT]
    assert common_prefix(seqs, 10_000) >= 8  # the system turn is shared
    with torch.inference_mode():
        shared = prefill(model, seqs, tok.pad_token_id, share_prefix=True)
        plain = prefill(model, seqs, tok.pad_token_id, share_prefix=False)
    torch.testing.assert_close(shared.logits, plain.logits, atol=1e-4, rtol=1e-4)
    assert shared.next_pos.tolist() == [len(s) for s in seqs]


def test_early_eos_rows_are_dropped_and_outputs_still_equal(tiny_hf):
    """A frequent token as EOS makes rows finish at different steps (exercises compaction)."""
    model, tok = tiny_hf
    seqs = [tok(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    ref_rows = decode(model, seqs, max_new_tokens=10, eos_ids=[0], pad_id=tok.pad_token_id)
    common = np.bincount([t for r in ref_rows for t in r]).argsort()[::-1][:3].tolist()
    rows = decode(model, seqs, max_new_tokens=10, eos_ids=common, pad_id=tok.pad_token_id, repetition_penalty=1.1)
    lens = {len(r) for r in rows}
    assert len(lens) > 1, "the chosen EOS ids did not end rows at different steps"
    ids = torch.full((len(seqs), max(map(len, seqs))), tok.pad_token_id)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, ids.shape[1] - len(s):], mask[i, ids.shape[1] - len(s):] = torch.tensor(s), 1
    gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False, eos_token_id=common,
                         pad_token_id=tok.pad_token_id, repetition_penalty=1.1)[:, ids.shape[1]:].tolist()
    for r, g in zip(rows, gen):
        cut = next((j + 1 for j, t in enumerate(g) if t in common), len(g))
        assert r == g[:cut]


def test_seeded_sampling_equals_generate(tiny_hf):
    fast, ref = _pair(tiny_hf, batch_size=4)
    p = GenerationParams(max_new_tokens=10, temperature=0.9, top_p=0.9, repetition_penalty=1.2, seed=5)
    a = fast.generate(CHAT, p)
    assert a == ref.generate(CHAT, p)
    assert a != fast.generate(CHAT, p.replace(seed=6))


def test_stop_strings_give_the_same_text(tiny_hf):
    fast, ref = _pair(tiny_hf)
    full = ref.generate(PROMPTS[:3], GenerationParams(max_new_tokens=12))
    stop = (full[0][2:4],)
    p = GenerationParams(max_new_tokens=12, stop=stop)
    cut = fast.generate(PROMPTS[:3], p)
    assert cut == ref.generate(PROMPTS[:3], p)
    assert stop[0] not in cut[0] and full[0].startswith(cut[0])


def test_bad_decoder_name_is_rejected(tiny_hf):
    model, tok = tiny_hf
    with pytest.raises(ValueError, match="llm.decoder"):
        HFBackend(model, tok, decoder="fast")


def test_packed_scoring_equals_full_pass_per_prompt(tiny_backend):
    """Several prompts with different option counts in one packed pass = each pair scored in full."""
    prompts = CHAT[:3] + PROMPTS[:2]
    opts = [["drama", "horror films"], ["yes", "no", "maybe"], ["paris"], ["comedy", "action movies"], ["no", "yes"]]
    groups = [[tiny_backend._encode_pair(tiny_backend.render(p), o) for o in os_] for p, os_ in zip(prompts, opts)]
    packed = score_group(tiny_backend.model, groups, tiny_backend.tok.pad_token_id)
    for g, got in zip(groups, packed):
        np.testing.assert_allclose(got, tiny_backend._score_full(g), atol=1e-4)
    assert chunks([2, 3, 1, 2, 2], 4) == [[0], [1, 2], [3, 4]]
