"""method=baseline: train the chosen backbone as is (SASRec, GRU4Rec, popularity, two-tower, TIGER...)."""

from __future__ import annotations

from omegaconf import DictConfig

from ...experiment import fit_and_evaluate, prepare


def run(cfg: DictConfig) -> dict:
    ctx = prepare(cfg)
    model = ctx.backbone()
    return fit_and_evaluate(ctx, ctx.module(model), ctx.datamodule(model))
