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
    assert set(fit["curve"][0]) == {"epoch", "total", which}  # the other losses were really off
