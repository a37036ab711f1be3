"""SCoTER around TIGER: a closed gate decodes exactly what TIGER decodes; fusion reaches the decoder."""

import numpy as np
import torch

from coldstart_exp.backbones.tiger import TIGER
from coldstart_exp.methods.scoter.model import StepFusion
from coldstart_exp.methods.scoter.tiger import ScoterTIGER

N_ITEMS = 40


def _tiger():
    torch.manual_seed(0)
    tg = TIGER(n_items=N_ITEMS, n_users=10, max_len=6, d_model=16, enc_layers=1, dec_layers=1, heads=2,
               head_dim=8, ffn=32, dropout=0.0, user_buckets=10, levels=2, codes=8, collision_codes=8,
               beam_size=10, decode_batch=3)
    rng = np.random.default_rng(0)
    ids = np.zeros((N_ITEMS + 1, 3), np.int64)
    ids[1:, :2] = rng.integers(0, 8, size=(N_ITEMS, 2))
    seen: dict = {}
    for i in range(1, N_ITEMS + 1):  # collision token makes IDs unique
        key = tuple(ids[i, :2])
        ids[i, 2] = seen.get(key, 0)
        seen[key] = ids[i, 2] + 1
    tg.set_semantic_ids(ids)
    return tg.eval()


def _batch(B=5, K=3, D=12):
    g = torch.Generator().manual_seed(1)
    seq = torch.randint(1, N_ITEMS + 1, (B, 6), generator=g)
    seq[0, :3] = 0
    return {"seq": seq, "pos": torch.randint(1, N_ITEMS + 1, (B, 6), generator=g), "user": torch.arange(B),
            "steps": torch.randn(B, K, D, generator=g), "has_steps": torch.ones(B, dtype=torch.bool)}


def test_closed_gate_decodes_like_tiger():
    tg = _tiger()
    model = ScoterTIGER(tg, StepFusion(16, 12, 3, heads=2, dropout=0.0, gate="closed")).eval()
    b = _batch()
    assert torch.equal(model.topk(b, 5), tg.topk({"seq": b["seq"], "user": b["user"]}, 5))


def test_steps_line_up_with_rows_across_decode_chunks():
    """The fused memory of each decode chunk reads the steps of that chunk's rows."""
    tg = _tiger()
    model = ScoterTIGER(tg, StepFusion(16, 12, 3, heads=2, dropout=0.0, gate="open")).eval()
    with torch.no_grad():
        for p in model.fusion.proj.parameters():
            p.mul_(50)
    b = _batch()
    tg.decode_batch = 2  # 5 rows -> chunks of 2, 2, 1
    whole = model.topk(b, 5)
    one_by_one = torch.cat([model.topk({k: v[r:r + 1] for k, v in b.items()}, 5) for r in range(len(b["seq"]))])
    assert torch.equal(whole, one_by_one)


def test_open_gate_changes_decoding_and_trains():
    tg = _tiger()
    model = ScoterTIGER(tg, StepFusion(16, 12, 3, heads=2, dropout=0.0, gate="open"), nce_weight=0.1).eval()
    b = _batch()
    with torch.no_grad():
        for p in model.fusion.proj.parameters():
            p.mul_(50)  # make the steps matter at init
    assert not torch.equal(model.topk(b, 5), tg.topk({"seq": b["seq"], "user": b["user"]}, 5))
    model.train()
    loss = model.loss(b)
    loss.backward()
    assert model.fusion.proj.weight.grad.abs().sum() > 0
