"""method=baseline: train the chosen backbone as is (SASRec, GRU4Rec, popularity, two-tower...)."""

from __future__ import annotations

from omegaconf import DictConfig

from ...backbones import build_backbone, write_facts
from ...data.datamodule import SequenceDataModule
from ...experiment import fit_and_evaluate, make_evaluator, prepare
from ...training.module import RecModule


def run(cfg: DictConfig) -> dict:
    ctx = prepare(cfg)
    codes, cards = ctx.tables.profile_codes()
    backbone = build_backbone(cfg.backbone.model, ctx.tables.n_items, ctx.tables.n_users, cards, cfg.data.max_len)
    if hasattr(backbone, "prepare_items"):  # e.g. TIGER: semantic IDs from item text, before training
        write_facts(ctx.run_dir, backbone.prepare_items(ctx.tables, cfg.paths.cache_dir))
    dm = SequenceDataModule(ctx.tables, ctx.split, cfg.data.max_len, cfg.trainer.batch_size,
                            cfg.trainer.eval_batch_size, cfg.trainer.num_workers, backbone.train_from_empty, cfg.seed)
    module = RecModule(backbone, make_evaluator(cfg), cfg.trainer.lr, cfg.trainer.weight_decay,
                       eval_names=list(ctx.split.tests))
    ctx.extra.update(getattr(backbone, "facts", {}))  # e.g. TIGER's codebook utilisation, collisions
    return fit_and_evaluate(ctx, module, dm)
