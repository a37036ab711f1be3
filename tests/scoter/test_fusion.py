"""Fusion: a closed gate reproduces the backbone exactly; an open one changes it and learns."""

import numpy as np
import torch

from coldstart_exp.backbones.sasrec import SASRec
from coldstart_exp.methods.scoter.model import ScoterSeqRec, StepFusion


def _batch(B=6, L=8, K=3, D=12, n_items=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(1, n_items + 1, (B, L), generator=g)
    seq[0, :5] = 0  # padding
    pos = torch.randint(1, n_items + 1, (B, L), generator=g)
    return {"seq": seq, "pos": pos, "user": torch.arange(B), "steps": torch.randn(B, K, D, generator=g),
            "has_steps": torch.tensor([True] * (B - 1) + [False])}


def _models(gate, **kw):
    torch.manual_seed(0)
    bb = SASRec(n_items=30, max_len=8, hidden=16, heads=2, dropout=0.0)
    fusion = StepFusion(16, 12, 3, heads=2, dropout=0.0, gate=gate, **kw)
    return bb, ScoterSeqRec(bb, fusion, nce_weight=0.1).eval()


def test_closed_gate_reproduces_backbone_scores():
    bb, model = _models("closed")
    b = _batch()
    with torch.no_grad():
        assert torch.equal(model.scores(b), bb.eval().scores(b))
        assert torch.equal(model.topk(b, 5), bb.topk(b, 5))


def test_rows_without_steps_keep_backbone_scores_and_others_change():
    bb, model = _models("open")
    b = _batch()
    with torch.no_grad():
        fused, plain = model.scores(b), bb.eval().scores(b)
    assert torch.equal(fused[-1], plain[-1])  # has_steps False
    assert not torch.allclose(fused[:-1], plain[:-1])


def test_step_order_matters_only_with_step_positions():
    b = _batch()
    rev = dict(b, steps=b["steps"].flip(1))
    for positions, same in ((True, False), (False, True)):
        _, model = _models("open", step_positions=positions)
        with torch.no_grad():
            eq = torch.allclose(model.scores(b), model.scores(rev), atol=1e-5)
        assert eq == same


def test_training_step_reduces_loss_and_reaches_fusion():
    _, model = _models("adaptive")
    model.train()
    b = _batch(B=16)
    b["has_steps"][:] = True
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        loss = model.loss(b)
        opt.zero_grad()
        loss.backward()
        losses.append(float(loss))
        assert model.fusion.gate.weight.grad is not None and model.fusion.gate.weight.grad.abs().sum() > 0
        opt.step()
    assert losses[-1] < losses[0]


def test_gate_mean_is_recorded_during_eval():
    _, model = _models("adaptive", gate_bias=-1.0)
    with torch.no_grad():
        model.scores(_batch())
    m = model.meters["valid"].mean
    assert abs(m - 1 / (1 + np.exp(1.0))) < 1e-3  # zero-initialised gate weights: sigmoid(bias)


def test_closed_gate_training_loss_equals_backbone_loss():
    bb, model = _models("closed")
    model.fusion.nce_head.requires_grad_(False)
    model.nce_weight = 0.0
    b = _batch(B=8)
    b["has_steps"][:] = True
    assert torch.allclose(model.loss(b), bb.loss(b))
