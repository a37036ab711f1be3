"""CONTROL teachers of ScaleToT (issue #17): informed / shuffled / oracle chains from data, same schema."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coldstart_exp.methods.scaletot.controls import ControlTeacher, check_kind, shuffle_chains
from coldstart_exp.methods.scaletot.teacher import Chain

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def make_cfg(tmp_path, *overrides):  # as in test_transfer.py: synthetic data, the fake LLM, tiny budgets
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("config", overrides=[
            "method=scaletot", "data=synthetic", "llm=fake", "logger=none", "trainer.max_epochs=1", "threads=1",
            f"paths.output_dir={tmp_path}/run", f"paths.cache_dir={tmp_path}/cache", "method.teacher.max_users=24",
            "method.stress.consistency_users=4", "method.transfer.epochs=20", *overrides])


def build(cfg, mutate=None, mode="distilled"):
    from coldstart_exp.experiment import prepare
    from coldstart_exp.methods.scaletot.chain import load_chain
    from coldstart_exp.methods.scaletot.pipeline import Pipeline

    ctx = prepare(cfg)
    if mutate:
        mutate(ctx)
    codes, cards = ctx.tables.profile_codes()
    pipe = Pipeline(cfg, ctx, load_chain(cfg.method.chain), codes)
    return ctx, pipe, pipe.build_reason(mode, cards)

GEN = {1: ["Comedy"], 2: ["Comedy", "Romance"], 3: ["Drama"], 4: ["Action"], 5: ["Horror"], 6: ["Documentary"]}


def items() -> pd.DataFrame:
    return pd.DataFrame({"categories": [[]] + [GEN[i] for i in range(1, 7)]})


def inter(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "item", "timestamp", "rating"])


def teacher(spec, method_cfg, train):
    rules = OmegaConf.to_container(method_cfg.teacher.control.rules, resolve=True)
    return ControlTeacher(spec, rules, train, items(), 6, smooth=0.3)


def test_informed_labels_match_hand_computed(spec, method_cfg):
    # user 0: Comedy x3 (items 1, 2, 2), Romance x2, Drama x1; mean rating 2.0; items of popularity 2, 3, 3, 2
    # user 1: Action x2, Horror x1; mean rating 5.0;   user 2: Drama x1, Documentary x2; mean rating 3.5
    train = inter([(0, 1, 1, 2), (0, 2, 2, 1), (0, 2, 3, 3), (0, 3, 4, 2),
                   (1, 4, 1, 5), (1, 4, 2, 5), (1, 5, 3, 5),
                   (2, 6, 1, 3), (2, 6, 2, 4), (2, 1, 3, 3.5)])
    t = teacher(spec, method_cfg, train)
    ch = t.chains(train, [0, 1, 2])
    names = [s.name for s in spec.steps]
    lab = {u: dict(zip(names, c.labels)) for u, c in ch.items()}
    # genre steps: the most-watched genre, mapped through the step's table
    assert lab[0]["genre_affinity"] == "comedy" and lab[0]["interests"] == "humor"
    assert lab[1]["genre_affinity"] == "action" and lab[1]["interests"] == "excitement"
    # user 2: Documentary (2) is in no genre_affinity label -> the next most-watched genre, Comedy (1)
    assert lab[2]["genre_affinity"] == "comedy"
    assert lab[2]["lifestyle"] == "intellectual"  # Documentary is in the control's own lifestyle table
    assert lab[0]["lifestyle"] == "social" and lab[1]["lifestyle"] == "active"
    # band steps: 3 users, 6 labels; mean ratings 2.0 < 3.5 < 5.0 -> lowest, middle, highest bands
    assert (lab[0]["life_stage"], lab[2]["life_stage"], lab[1]["life_stage"]) == ("teen", "parent", "retired")
    # popularity (item counts in train: 1->2, 2->2, 3->1, 4->2, 5->1, 6->2): u0 1.75, u1 5/3, u2 2.0;
    # quartile edges of [5/3, 1.75, 2.0] = 1.708, 1.75, 1.875 -> bands 0, 2 (1.75 sits on an edge: right), 3
    assert (lab[1]["intent"], lab[0]["intent"], lab[2]["intent"]) == ("new", "classic", "popular")
    # schema of the LLM teacher's chain: a distribution per step whose argmax is the committed label
    for c in ch.values():
        assert isinstance(c, Chain) and len(c.probs) == spec.k == len(c.entropy) == len(c.expansions)
        for s, p, lab_ in zip(spec.steps, c.probs, c.labels):
            assert len(p) == len(s.labels) and abs(sum(p) - 1) < 1e-4 and s.labels[int(np.argmax(p))] == lab_


def test_shuffled_is_a_permutation_of_informed(spec, method_cfg):
    rng = np.random.default_rng(0)
    train = inter([(u, int(rng.integers(1, 7)), t, float(rng.integers(1, 6))) for u in range(40) for t in range(6)])
    ch = teacher(spec, method_cfg, train).chains(train, list(range(40)))
    sh = shuffle_chains(ch, seed=0)
    assert sorted(sh) == sorted(ch)
    assert sorted(id(c) for c in sh.values()) == sorted(id(c) for c in ch.values())  # each chain used once
    assert sum(sh[u] is not ch[u] for u in ch) > 30
    assert shuffle_chains(ch, seed=0) == sh and shuffle_chains(ch, seed=1) != sh


def test_bad_kind_and_rule_are_named(spec, method_cfg):
    with pytest.raises(ValueError, match="teacher.kind"):
        check_kind("informd")
    rules = OmegaConf.to_container(method_cfg.teacher.control.rules, resolve=True)
    rules["intent"] = {"rule": "band", "of": "age"}
    with pytest.raises(ValueError, match="rules.intent.of"):
        ControlTeacher(spec, rules, inter([(0, 1, 1, 3)]), items(), 6)


def test_oracle_labels_cold_users_from_held_out_and_leaks_through_transfer(tmp_path):
    cfg = make_cfg(tmp_path, "ablation=scaletot/control_oracle")
    ctx, pipe, enc = build(cfg)
    cold = set(int(u) for u in ctx.split.cold_users)
    assert cold and cold <= set(pipe.teacher_users)  # the leak: cold users get chains and reach the encoder
    assert pipe.facts["transfer"]["encoder_users"] >= len(cold) + 24
    assert pipe.facts["control"]["kind"] == "oracle" and "CONTROL (not the method)" in pipe.facts["control"]["banner"]

    def scramble(c):  # new held-out behaviour for the cold users -> new oracle labels and a new encoder
        rng = np.random.default_rng(3)
        c.split.held_out = c.split.held_out.assign(item=rng.integers(1, c.tables.n_items + 1, len(c.split.held_out)))

    _, pipe2, enc2 = build(cfg, scramble)
    assert pipe2.control_key[3] != pipe.control_key[3]
    train_users = set(pipe.control_key[3]) - cold
    assert all(pipe2.control_key[3][u] == pipe.control_key[3][u] for u in train_users)  # training users: train rows
    assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(enc.state_dict().values(), enc2.state_dict().values()))


def test_oracle_labels_reach_the_recommender_directly_with_reasoning_teacher(tmp_path):
    """method.reasoning=teacher with a CONTROL teacher: no transfer, no LLM at serving; each cold user's oracle
    labels (from its held-out behaviour) are what the user tower looks up."""
    cfg = make_cfg(tmp_path, "ablation=scaletot/control_oracle", "method.reasoning=teacher")
    ctx, pipe, reason = build(cfg, mode="teacher")
    cold = [int(u) for u in ctx.split.cold_users]
    labels = pipe.control_key[3]
    steps = pipe.spec.steps
    for u in cold:
        assert reason.table[u].tolist() == [s.labels.index(lab) + 1 for s, lab in zip(steps, labels[u])]
    assert pipe.facts["teacher_serving_users"] == len(cold) and pipe.facts["llm_counters"] is None


@pytest.mark.parametrize("kind", ["informed", "shuffled"])
def test_controls_use_training_users_only_and_the_same_downstream(tmp_path, kind):
    from coldstart_exp.methods.scaletot import run

    cfg = make_cfg(tmp_path, f"ablation=scaletot/control_{kind}")
    run(cfg)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["variant"] == f"control_{kind}" and m["scaletot"]["teacher_kind"] == kind
    assert m["scaletot"]["control"]["banner"].startswith("CONTROL (not the method)")
    assert m["scaletot"]["teacher"]["users"] == 24 and "transfer" in m["scaletot"] and "test/n=0" in m["metrics"]


def test_llm_teacher_reports_agreement_with_the_informed_control(tmp_path):
    """The LLM teacher's run records how often its labels are the informed control's (issue 17), with the
    informed labels shuffled across the same users as the chance level; computed from data, no extra LLM call."""
    ctx, pipe, _ = build(make_cfg(tmp_path))
    names = [s.name for s in pipe.spec.steps]
    a = pipe.facts["teacher"]["agreement_with_informed"]
    assert set(a) == {*names, "all_steps", "users"} and a["users"] == len(pipe.teacher_users) == 24
    informed = pipe.control_teacher().chains(ctx.split.train, pipe.teacher_users)
    same = pipe.agreement_with_informed(informed)  # a teacher that restates the data agrees on every step
    assert all(same["agreement_with_informed"][n] == 1.0 for n in names) and same["agreement_with_informed"]["all_steps"] == 1.0
    chance = pipe.facts["teacher"]["agreement_informed_vs_shuffled"]
    assert same["agreement_informed_vs_shuffled"] == chance and chance["all_steps"] < 1.0
    assert "control" not in pipe.facts  # the LLM run itself is not a control


def test_a_control_can_label_every_training_user(tmp_path):
    """method.teacher.control.users=all: every training user carries informed labels (a control costs no LLM
    time), so the tower can learn what a label means; null keeps the LLM teacher's users; bad values are named."""
    ctx, pipe, reason = build(make_cfg(tmp_path, "ablation=scaletot/control_oracle_labels_all"), mode="teacher")
    train, cold = sorted(pipe.train_pool), [int(u) for u in ctx.split.cold_users]
    assert len(train) > 24 and (reason.table[train] > 0).all() and (reason.table[cold] > 0).all()
    _, pipe2, reason2 = build(make_cfg(tmp_path / "b", "ablation=scaletot/control_oracle_labels"), mode="teacher")
    assert int((reason2.table[train] > 0).all(1).sum()) == 24
    with pytest.raises(ValueError, match="control.users"):
        build(make_cfg(tmp_path / "c", "ablation=scaletot/control_oracle_labels_all", "method.teacher.control.users=most"),
              mode="teacher")
