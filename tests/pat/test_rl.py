"""Iterative dual reasoning on a tiny random LM: rounds run, save adapters, and resume."""

import json

import pytest
import torch
from omegaconf import OmegaConf

from coldstart_exp.eval.generation import GenerationEvaluator
from coldstart_exp.llm import GenerationParams, LLMCache
from coldstart_exp.llm.backends.hf import HFBackend
from coldstart_exp.llm.cache import CachedLLM
from coldstart_exp.methods.pat.agents import Agents
from coldstart_exp.methods.pat.retrieval import Retriever
from coldstart_exp.methods.pat.rl import DualReasoner
from coldstart_exp.methods.pat.split import make_generation_split

from .synthetic import WORDS, synthetic_reviews

RL = {"rounds": 2, "n_candidates": 3, "temperature": 1.0, "reward_metrics": ["rouge1", "rougeL", "meteor_nosyn"],
      "min_gap": 0.0, "require_gain": False, "dpo_steps": 3, "dpo_batch": 2, "lr": 0.01, "beta": 0.1,
      "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}}


@pytest.fixture(scope="module")
def tiny_llm():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "[EOS]", *sorted({w for v in WORDS.values() for w in v.split()} | set(WORDS)),
             "the", "has", "i", "like", "they", "write", "say", ".", "!", ":", "-"]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit()])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=1024, eos_token_id=2, pad_token_id=0))
    return model, tok


def make(tiny_llm, tmp_path):
    model, tok = tiny_llm
    backend = HFBackend(model, tok, name="tiny", version="1", batch_size=8, use_chat_template=False, progress=False,
                        context_length=1024)
    llm = CachedLLM(backend, LLMCache(tmp_path / "llm", mode="use"))
    split = make_generation_split(synthetic_reviews(n_users=24), n_test=4, n_valid=0, n_train=6, seed=0)
    agents = Agents(llm, "text", GenerationParams(max_new_tokens=6), GenerationParams(max_new_tokens=8))
    retriever = Retriever(split, k=2, sage_epochs=5)
    rl = DualReasoner(OmegaConf.create(RL), agents, retriever, GenerationEvaluator(), tmp_path / "cache", {"t": 1})
    return rl, split, agents


def test_rounds_train_adapters_and_resume(tiny_llm, tmp_path):
    rl, split, agents = make(tiny_llm, tmp_path)
    train = split.examples["train"]
    facts = rl.train(train)
    assert [(f["round"], f["kind"]) for f in facts["rounds"]] == [(0, "style"), (1, "topic")]
    for f in facts["rounds"]:
        assert f["examples"] == len(train) and f["dpo_pairs"] > 0 and f["dpo_steps"] == 3
        assert (rl.root / f"round{f['round']}_{f['kind']}" / "DONE").exists()
    pair = json.loads((rl.root / "round0_style" / "pairs.jsonl").read_text().splitlines()[0])
    assert pair["prompt"].endswith("They write") and not pair["chosen"].lstrip().startswith("They write")
    trained = {n: p.detach().clone() for n, p in rl.peft_model().named_parameters() if "lora_B" in n}
    assert any(p.abs().sum() > 0 for p in trained.values())  # LoRA B starts at zero: DPO moved it
    test = split.examples["test"]
    snips = [agents.snippets(split.reviews, rl.retriever.profile(ex, "style")) for ex in test]
    first = agents.summarize("style", test, snips, llm=rl.view("style"))

    again, _, _ = make(tiny_llm, tmp_path)  # a new process would see the same cache folder
    facts2 = again.train(train)
    assert all(f["reused"] for f in facts2["rounds"]) and again._peft is None  # nothing rebuilt yet
    reloaded = {n: p for n, p in again.peft_model().named_parameters() if "lora_B" in n}
    assert all(torch.equal(trained[n], reloaded[n]) for n in trained)
    again.llm.cache.mode = "refresh"  # regenerate instead of reading the cache: the same adapter, the same text
    fresh, _, _ = make(tiny_llm, tmp_path)
    fresh.train(train)
    fresh.llm.cache.mode = "refresh"
    topic_snips = [agents.snippets(split.reviews, rl.retriever.profile(ex, "topic")) for ex in test]
    # a view builds the peft model lazily and must then use its own adapter, not the first one created
    assert agents.summarize("topic", test, topic_snips, llm=fresh.view("topic")) == \
        agents.summarize("topic", test, topic_snips, llm=again.view("topic"))
    assert fresh._peft.active_adapter == "topic"
    assert agents.summarize("style", test, snips, llm=again.view("style")) == first
    assert rl.view("style").llm.backend.version != rl.view("topic").llm.backend.version != "1"
