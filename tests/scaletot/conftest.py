"""Fixtures for ScaleToT tests: a chain spec, a scripted LLM and a tiny local causal LM."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)  # shared CI/dev CPUs: avoid OpenMP oversubscription stalls


@pytest.fixture(scope="session")
def method_cfg():
    return OmegaConf.load(ROOT / "conf" / "method" / "scaletot.yaml")


@pytest.fixture(scope="session")
def spec(method_cfg):
    from coldstart_exp.methods.scaletot.chain import load_chain

    return load_chain(method_cfg.chain)


@pytest.fixture(scope="session")
def scripted_llm():
    """Factory: a CachedLLM around the scripted backend with a custom (rendered prompt, option) -> logp."""
    from coldstart_exp.llm import LLMCache
    from coldstart_exp.llm.backends.fake import ScriptedBackend
    from coldstart_exp.llm.cache import CachedLLM

    return lambda scorer: CachedLLM(ScriptedBackend(scorer=scorer), LLMCache("/nonexistent", mode="off"))


@pytest.fixture(scope="session")
def tiny_lm():
    """A 2-layer random Llama with an in-memory word-level tokenizer (no files, no network)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ("[PAD] [UNK] viewer viewer: user q1 q2 a1 a2 is it or ( ) , . : ? \n years old man woman works as "
             "student teen professional parent senior retired young adult busy social family intellectual quiet "
             "active excitement humor emotions imagination mystery action comedy drama romance crime horror "
             "fantasy kids war popular classic fun new life stage lifestyle interests favourite genre intent "
             "which what does this person enjoy most movie will like tonight looking for in a the we about "
             "reason step by and pick exactly one option per profile of zip code 1 2 3 4 5 6 7 8 9 0 check "
             "again given answers so far no information").split(" ")
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit()])
    from tokenizers import normalizers

    tk.normalizer = normalizers.Lowercase()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    model = LlamaForCausalLM(cfg).eval()
    return model, tok
