"""DPO on a LoRA adapter: the loss formula, and the loss decreasing on a toy preference set."""

import math

import pytest
import torch

from coldstart_exp.methods.pat.dpo import dpo_loss, encode_pairs, sequence_logps, train_dpo


class CharTok:
    """Character-level tokenizer: enough of the HF interface for encode_pairs."""

    eos_token, pad_token_id = "\x03", 0

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [min(ord(c), 127) for c in text]}


@pytest.fixture
def lora_model():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    base = LlamaForCausalLM(LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128))
    return get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))


def test_dpo_loss_formula():
    z = torch.zeros(3)
    assert float(dpo_loss(z, z, z, z, 0.1)) == pytest.approx(math.log(2))
    # margin 2 with beta .5 -> -log sigmoid(1)
    assert float(dpo_loss(torch.tensor([1.0]), torch.tensor([-1.0]), torch.zeros(1), torch.zeros(1), 0.5)) == \
        pytest.approx(-math.log(1 / (1 + math.exp(-1))))


def test_sequence_logps_count_only_completion_tokens(lora_model):
    tok = CharTok()
    a = encode_pairs(tok, ["prompt A"], ["yes"])
    b = encode_pairs(tok, ["a different, longer prompt A"], ["yes"])
    assert a[0][1] == len("prompt A") and len(a[0][0]) == len("prompt A") + 4
    with torch.no_grad():
        la, lb = sequence_logps(lora_model, a, 0), sequence_logps(lora_model, a + b, 0)
    assert float(la[0]) == pytest.approx(float(lb[0]), abs=1e-4)  # padding does not change a row
    assert float(la[0]) < 0


def test_dpo_loss_decreases_on_toy_preferences(lora_model):
    tok = CharTok()
    pairs = [{"prompt": f"review {i}:", "chosen": "warm tone", "rejected": "bad cable"} for i in range(6)]
    trainable = [n for n, p in lora_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora" in n for n in trainable)
    base_before = {n: p.detach().clone() for n, p in lora_model.named_parameters() if not p.requires_grad}
    info = train_dpo(lora_model, tok, pairs, steps=25, batch=3, lr=5e-3, beta=0.5, seed=0)
    assert info["dpo_loss_last"] < info["dpo_loss_first"] - 0.1
    assert info["dpo_reward_acc_last5"] == 1.0
    for n, p in lora_model.named_parameters():  # only the adapter moved
        if n in base_before:
            assert torch.equal(p, base_before[n])
    with pytest.raises(ValueError, match="no trainable"):
        for p in lora_model.parameters():
            p.requires_grad_(False)
        train_dpo(lora_model, tok, pairs, steps=1, batch=1, lr=1e-3, beta=0.1)
