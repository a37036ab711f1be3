"""Training batches: how windows are grouped and how much each target weighs in the loss (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coldstart_exp.backbones.base import sequence_loss
from coldstart_exp.data.datamodule import SequenceDataModule
from coldstart_exp.data.loading import load_tables
from coldstart_exp.data.splits import make_split


@pytest.fixture(scope="module")
def ml100k(tmp_path_factory):
    from tests.conftest import compose

    cfg = compose(["data=ml100k"], tmp_path_factory.mktemp("batches"))
    tables = load_tables(cfg.data, cfg.paths.cache_dir)
    return tables, make_split(tables, cfg.split)


def _targets(batch) -> int:
    return int((batch["pos"] > 0).sum())


@pytest.mark.parametrize("order", ["length_grouped", "random"])
def test_every_window_once_per_epoch_and_replayable(ml100k, order):
    dm = SequenceDataModule(*ml100k, max_len=50, batch_size=64, train_batches=order, seed=3)
    loader = dm.train_dataloader()
    epochs = [[b["user"].tolist() for b in loader] for _ in range(2)]
    for epoch in epochs:
        assert sorted(u for b in epoch for u in b) == sorted(u for u, _ in dm.windows)
    assert epochs[0] != epochs[1]
    resumed = dm.train_dataloader()  # what Lightning does when a run resumes at epoch 1
    for s in (resumed.sampler, resumed.batch_sampler):
        if hasattr(s, "set_epoch"):
            s.set_epoch(1)
    assert [b["user"].tolist() for b in resumed] == epochs[1]


def test_length_grouped_batches_differ_widely_in_targets(ml100k):
    """Why the default weighs targets uniformly: length-grouped batches of 64 windows range widely in targets, so
    the batch-mean loss weighs a target in a batch of short windows many times more than one among long windows."""
    g = np.array([_targets(b) for b in SequenceDataModule(*ml100k, max_len=50, batch_size=64).train_dataloader()])
    assert g.max() / g.min() > 5


def test_uniform_target_weight_is_the_sum_over_a_constant(ml100k):
    """target_weight=uniform: the batch's loss is sum over targets / the epoch's mean targets per batch, so a target
    weighs the same in a batch of short windows as in one of long windows; the default is the batch mean."""
    dm = SequenceDataModule(*ml100k, max_len=50, batch_size=64)
    batches = list(dm.train_dataloader())
    total = sum(_targets(b) for b in batches)
    assert float(batches[0]["target_norm"]) == pytest.approx(total / len(batches))
    torch.manual_seed(0)
    emb = torch.nn.Embedding(2000, 8)
    b = batches[0]
    h = torch.randn(*b["pos"].shape, 8)
    mean = sequence_loss(h, b["pos"], emb, "ce", 1999)
    uniform = sequence_loss(h, b["pos"], emb, "ce", 1999, target_norm=b["target_norm"])
    assert float(uniform) == pytest.approx(float(mean) * _targets(b) / float(b["target_norm"]), rel=1e-5)
    old = SequenceDataModule(*ml100k, max_len=50, batch_size=64, target_weight="batch")
    assert "target_norm" not in next(iter(old.train_dataloader()))


def test_bad_batching_options_are_named(ml100k):
    with pytest.raises(ValueError, match="datamodule.train_batches"):
        SequenceDataModule(*ml100k, train_batches="sorted")
    with pytest.raises(ValueError, match="datamodule.target_weight"):
        SequenceDataModule(*ml100k, target_weight="per_user")
