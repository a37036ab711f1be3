"""Each loss, trained alone, decreases on a tiny synthetic set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from coldstart_exp.methods.next_user import build_model
from coldstart_exp.methods.next_user.towers import UserTower
from coldstart_exp.methods.next_user.train import train_generator


@pytest.mark.parametrize("which", ["infonce", "bce", "aux", "user_side"])
def test_each_loss_decreases(synth, which):
    cfg, tables, split = synth
    cfg = OmegaConf.merge(cfg, {"method": {"loss": {k: float(k == which) for k in ("infonce", "bce", "aux", "user_side")},
                                           "epochs": 8, "use_text": False, "patience": 0, "dropout": 0.0,
                                           "exposed_negatives": "sampled", "batch_size": 16, "dim": 32}})
    torch.manual_seed(0)  # model init independent of the tests that ran before
    codes, cards = tables.profile_codes()
    tower = UserTower(tables.n_users, cards, 32, True, 0.0)
    tower.set_profiles(codes)
    model = build_model(cfg, tables, tower, "/tmp/nu_test_cache")
    fit = train_generator(model, split.train, cfg.method, tables.n_users, seed=0)
    curve = [row[which] for row in fit["curve"]]
    assert np.isfinite(curve).all()
    print(which, [round(c, 4) for c in curve])
    assert curve[-1] < 0.9 * curve[0], curve
    assert set(fit["curve"][0]) == {"epoch", "seconds", "total", which}  # the other losses were really off


def test_content_warmup_trains_the_content_task_first_and_keeps_its_best_epoch(synth):
    cfg, tables, split = synth
    cfg = OmegaConf.merge(cfg, {"method": {"epochs": 2, "use_text": False, "patience": 0, "dropout": 0.0,
                                           "exposed_negatives": "sampled", "batch_size": 16, "dim": 32,
                                           "content_warmup": 4}})
    torch.manual_seed(0)
    codes, cards = tables.profile_codes()
    tower = UserTower(tables.n_users, cards, 32, True, 0.0)
    tower.set_profiles(codes)
    model = build_model(cfg, tables, tower, "/tmp/nu_test_cache")
    modes, scores = [], iter([0.1, 0.3, 0.2, 0.25])  # the warm-up's best is its second epoch

    def judge_content(mdl):
        modes.append(mdl.content_only)
        return next(scores)

    fit = train_generator(model, split.train, cfg.method, tables.n_users, seed=0,
                          validate=lambda mdl: modes.append(mdl.content_only) or 0.0, validate_content=judge_content)
    assert modes == [True] * 4 + [False] * 2  # four content-only epochs, then the generator's own two
    assert [row["epoch"] for row in fit["curve"]] == [-4, -3, -2, -1, 0, 1]
    assert "aux" not in fit["curve"][0] and "aux" in fit["curve"][-1]  # no seed users are read in the warm-up
    assert fit["warmup_best_epoch"] == 1 and fit["warmup_best_val"] == 0.3 and model.content_only is False
