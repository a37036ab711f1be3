"""Transfer encoder (no test-user targets), stress eval sets, hybrid routing, and the run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from coldstart_exp.methods.scaletot.transfer import HybridRouter, ProfileEncoder, fit_encoder

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def make_cfg(tmp_path, *overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("config", overrides=[
            "method=scaletot", "data=synthetic", "llm=fake", "logger=none", "trainer.max_epochs=1", "threads=1",
            f"paths.output_dir={tmp_path}/run", f"paths.cache_dir={tmp_path}/cache", "method.teacher.max_users=24",
            "method.stress.consistency_users=4", "method.transfer.epochs=20", *overrides])


def build(cfg, mutate=None):
    from coldstart_exp.experiment import prepare
    from coldstart_exp.methods.scaletot.chain import load_chain
    from coldstart_exp.methods.scaletot.pipeline import Pipeline

    ctx = prepare(cfg)
    if mutate:
        mutate(ctx)
    codes, cards = ctx.tables.profile_codes()
    pipe = Pipeline(cfg, ctx, load_chain(cfg.method.chain), codes)
    enc = pipe.build_reason("distilled", cards)
    return ctx, pipe, enc


def test_transfer_encoder_never_sees_test_users_targets(tmp_path):
    cfg = make_cfg(tmp_path)
    ctx, pipe, enc = build(cfg)
    cold = set(int(u) for u in ctx.split.cold_users)
    assert cold and not cold & set(pipe.teacher_users)
    assert not cold & set(pipe.shares)  # verification reads training behaviour only

    rng = np.random.default_rng(1)

    def scramble(c):  # replace every held-out target and interaction of the cold users
        for es in [c.split.valid, *c.split.tests.values()]:
            es.targets = [rng.integers(1, c.tables.n_items + 1, len(t)) for t in es.targets]
        c.split.held_out = c.split.held_out.assign(item=rng.integers(1, c.tables.n_items + 1, len(c.split.held_out)))
        inter = c.tables.interactions
        is_cold = inter.user.isin(list(cold))
        inter.loc[is_cold, "item"] = rng.integers(1, c.tables.n_items + 1, int(is_cold.sum()))

    _, pipe2, enc2 = build(cfg, scramble)
    assert pipe2.shares == pipe.shares and pipe2.facts["verify"] == pipe.facts["verify"]
    for (n, a), (_, b) in zip(enc.state_dict().items(), enc2.state_dict().items()):
        assert torch.equal(a, b), n

    def drop_train_user(c):  # control: changing *training* behaviour does change what is verified
        u = pipe.teacher_users[0]
        c.split.train = c.split.train[c.split.train.user != u]

    _, pipe3, _ = build(cfg, drop_train_user)
    assert pipe3.shares != pipe.shares


def test_profile_encoder_learns_targets():
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(1, 5, 64), rng.integers(1, 3, 64)], 1)
    tgt = np.eye(8, dtype=np.float32)[(codes[:, 0] * 2 + codes[:, 1]) % 8][:, None, :]  # a function of the profile
    enc = ProfileEncoder([5, 3], 1, 8, hidden=32)
    info = fit_encoder(enc, codes, tgt, epochs=150, lr=0.01, temperature=0.1, nce_weight=1.0, field_dropout=0.0)
    assert info["encoder_cos_last"] > 0.9 and not any(p.requires_grad for p in enc.parameters())


class Const(torch.nn.Module):
    def __init__(self, item):
        super().__init__()
        self.item = item

    def topk(self, batch, k, exclude=None, candidates=None):
        return torch.full((batch["seq"].shape[0], k), self.item)

    def loss(self, batch):
        return torch.tensor(0.0)


def test_hybrid_router_sends_active_users_to_behavioural_backbone():
    r = HybridRouter(Const(1), Const(2), threshold=2)
    seq = torch.tensor([[0, 0, 0, 5], [0, 5, 6, 7], [0, 0, 5, 6]])
    out = r.topk({"seq": seq, "user": torch.arange(3)}, 3, exclude=torch.zeros(3, 1, dtype=torch.long))
    assert out[:, 0].tolist() == [1, 2, 1]


@pytest.mark.parametrize("reasoning", ["distilled", "teacher"])
def test_run_end_to_end_with_stress_sets(tmp_path, reasoning):
    from coldstart_exp.methods.scaletot import run

    cfg = make_cfg(tmp_path, f"method.reasoning={reasoning}", f"variant={reasoning}")
    payload = run(cfg)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["method"] == "scaletot" and m["variant"] == reasoning and m["split"] == "cold_user"
    sets = set(m["metrics"])
    assert {"test/n=0", "test/n=0,drop=1", "test/n=0,drop=2", "test/n=0,drop=3"} <= sets
    assert (tmp_path / "run" / "buckets.csv").exists() and payload["metrics"]
    facts = m["scaletot"]
    assert facts["routing"]["routed_eval_sets"] == ["test/n=10", "test/n=20"]
    if reasoning != "none":
        assert facts["verify"]["verified"] + facts["verify"]["rejected"] == facts["teacher"]["users"] == 24
        assert set(facts["consistency_reordered"]["teacher"]) >= {"genre_affinity", "all_steps", "users"}
    if reasoning == "teacher":
        assert facts["teacher_serving_users"] == m["split_info"]["cold_users_valid"] + m["split_info"]["cold_users_test"]


def test_drop_fields_hides_only_in_named_sets(tmp_path):
    from coldstart_exp.experiment import prepare
    from coldstart_exp.methods.scaletot.stress import DropFieldsDataModule, add_drop_sets

    cfg = make_cfg(tmp_path)
    ctx = prepare(cfg)
    codes, _ = ctx.tables.profile_codes()
    drops = add_drop_sets(ctx.split, codes.shape[1], [1, 2], 0, ctx.tables.n_users)
    dm = DropFieldsDataModule(ctx.tables, ctx.split, 20, 32, 64, 0, True, 0, drops=drops)
    full = next(iter(dm.eval_loader("test/n=0")))["profile"]
    one = next(iter(dm.eval_loader("test/n=0,drop=1")))["profile"]
    two = next(iter(dm.eval_loader("test/n=0,drop=2")))["profile"]
    assert (full > 0).all()
    assert ((one == 0).sum(1) == 1).all() and ((two == 0).sum(1) == 2).all()
    assert ((one == full) | (one == 0)).all()
