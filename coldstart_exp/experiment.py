"""The one pipeline every method and task uses: seed -> tables -> split -> model -> fit -> evaluate -> outputs.

A method's `run(cfg)` is a recipe: `ctx = prepare(cfg)`, then either
`fit_and_evaluate(ctx, ctx.module(model), ctx.datamodule(model))` for anything trained by Lightning, or its
own scoring followed by `finish(ctx, per_user_tables)`. Every object named in config (split, task evaluator,
backbone, datamodule, module, loggers) is built here with `hydra.utils.instantiate`; every path ends in
`finish`, which writes metrics.json and the bucket table/chart and hands them to the loggers.
"""

from __future__ import annotations

import json
import logging
import platform
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import lightning as L
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from .backbones import build_backbone, write_facts
from .data.loading import load_tables
from .data.splits import Split, make_split
from .data.tables import Tables
from .eval.report import best_epoch, format_summary, run_record, write_eval_outputs
from .schema import check_against_data, validate_config
from .training.lightning import build_loggers, build_trainer, check_strategy, close_loggers, log_payload
from .training.resume import ResumeState, check_resume, lock_run_dir, trim_csv

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    cfg: DictConfig
    run_dir: Path
    tables: Tables
    split: Split
    evaluator: object = None  # the task's evaluator (cfg.task.evaluator)
    timings: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    extra: dict = field(default_factory=dict)  # method-specific facts for metrics.json
    loggers: list = field(default_factory=list)
    resume_from: tuple | None = None  # (last.ckpt, its global step, its epoch) when resuming, checked by check_resume
    lock: object = None  # the run dir's lock (training/resume.py), released by finish

    def backbone(self):
        """The configured backbone, sized for these tables (and its item codes prepared, e.g. TIGER's)."""
        cfg = self.cfg
        _, cards = self.tables.profile_codes()
        model = build_backbone(cfg.backbone.model, self.tables.n_items, self.tables.n_users, cards, cfg.data.max_len)
        if hasattr(model, "prepare_items"):  # e.g. TIGER: semantic IDs from item text, before training
            write_facts(self.run_dir, model.prepare_items(self.tables, cfg.paths.cache_dir))
        self.extra.update(getattr(model, "facts", {}))  # e.g. TIGER's codebook utilisation, collisions
        return model

    def datamodule(self, model, **extra):
        """`cfg.datamodule` (a `_partial_`) for this split; `extra` = a method's own inputs (bank=, drops=)."""
        return hydra.utils.instantiate(self.cfg.datamodule)(tables=self.tables, split=self.split,
                                                             train_from_empty=model.train_from_empty, **extra)

    def module(self, model, **extra):
        """`cfg.module` (a `_partial_`) training `model`, evaluated by the task's evaluator."""
        return hydra.utils.instantiate(self.cfg.module)(backbone=model, evaluator=self.evaluator,
                                                         eval_names=list(self.split.tests), **extra)


def prepare(cfg: DictConfig) -> RunContext:
    validate_config(cfg)  # types and ranges of the shared knobs, before any data is read
    check_strategy(cfg)
    if cfg.get("ablation_of") and cfg.ablation_of != cfg.method.name:
        raise ValueError(f"ablation {cfg.ablation_of}/{cfg.get('variant')} is a switch set of method={cfg.ablation_of}, "
                         f"but method={cfg.method.name}; pick one from conf/ablation/{cfg.method.name}/")
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    torch.set_num_threads(cfg.get("threads") or torch.get_num_threads())
    run_dir = Path(cfg.paths.output_dir)
    resume_from = check_resume(cfg, run_dir)  # before anything in run_dir is overwritten
    lock = lock_run_dir(run_dir)  # one run per dir at a time
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    started = t0 = time.perf_counter()
    tables = load_tables(cfg.data, cfg.paths.cache_dir)
    t1 = time.perf_counter()
    split = make_split(tables, cfg.split)
    check_against_data(cfg, tables, split)
    t2 = time.perf_counter()
    log.info("data %s: %d users, %d items, %d interactions; split %s", tables.name, tables.n_users,
             tables.n_items, len(tables.interactions), split.info)
    return RunContext(cfg, run_dir, tables, split, evaluator=make_evaluator(cfg), started=started,
                      timings={"load_s": round(t1 - t0, 3), "split_s": round(t2 - t1, 3)},
                      loggers=build_loggers(cfg), resume_from=resume_from, lock=lock)


def make_evaluator(cfg: DictConfig):
    """The task's evaluator (conf/task/*.yaml `evaluator`)."""
    return hydra.utils.instantiate(cfg.task.evaluator, _convert_="all")


def fit_and_evaluate(ctx: RunContext, module, datamodule) -> dict:
    """Train with checkpoints/early stopping (resumable), then test the best checkpoint."""
    cfg = ctx.cfg
    trainer = build_trainer(cfg, ctx.run_dir, ctx.loggers)
    backbone = module.backbone
    backbone.fit_statistics(ctx.split.train)
    t0 = time.perf_counter()
    ckpt = "best"
    if backbone.trainable and cfg.trainer.max_epochs > 0:
        resume = None
        if ctx.resume_from:  # checked against this config in prepare; log rows after its step are dropped
            resume, step, epoch = ctx.resume_from
            trim_csv(ctx.run_dir / "csv" / "metrics.csv", step, epoch)
            log.info("resuming from %s (step %d)", resume, step)
            ctx.extra["resumed_from"] = {"checkpoint": str(resume), "step": step}
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
        # the reported validation metrics belong to the tested (best) model, not the last epoch
        trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
    else:
        ckpt = None
    t1 = time.perf_counter()
    trainer.test(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
    t2 = time.perf_counter()
    prior = next((c.prior_fit_s for c in trainer.callbacks if isinstance(c, ResumeState)), 0.0)
    t0 -= prior  # a resumed fit counts the killed run's fit seconds too
    ctx.timings.update(fit_s=round(t1 - t0, 2), test_s=round(t2 - t1, 2), epochs=trainer.current_epoch,
                       steps=trainer.global_step)
    if module.curve:
        ctx.timings["train_samples_per_s"] = round(
            len(datamodule.windows) * max(1, trainer.current_epoch) / max(t1 - t0, 1e-9), 1)
    ctx.extra["world_size"] = trainer.world_size
    ctx.extra["is_global_zero"] = trainer.is_global_zero
    tables = {name: module.evaluator.table(es, *module.results[name])
              for name, es in datamodule.eval_sets().items() if name in module.results}
    if not trainer.is_global_zero:
        return {}
    return finish(ctx, tables, curve=module.curve, best_ckpt=trainer.checkpoint_callback.best_model_path)


def finish(ctx: RunContext, tables_by_set: dict[str, pd.DataFrame], curve: list[dict] | None = None,
           curve_logged: bool = True, log_tables: dict[str, pd.DataFrame] | None = None, **facts) -> dict:
    """Every run ends here: val_curve.csv, metrics.json & co, the printed summary, the loggers.
    `curve_logged=False`: the curve comes from a loop outside Lightning, so its rows go to the loggers here.
    `log_tables`: more tables for W&B (e.g. PAT's generated samples)."""
    cfg, ev = ctx.cfg, ctx.evaluator
    tables_by_set = {k: _with_data_ids(v, ctx.tables) for k, v in tables_by_set.items()}
    if curve:
        pd.DataFrame(curve).to_csv(ctx.run_dir / "val_curve.csv", index=False)
    ctx.timings["total_s"] = round(time.perf_counter() - ctx.started, 2)
    ctx.timings["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    backbone = cfg.get("backbone") or {}
    payload = write_eval_outputs(
        ctx.run_dir, tables_by_set, ev.names, list(ev.bucket_edges),
        {
            "task": cfg.task.name, "data": cfg.data.name, "method": cfg.method.name,
            "backbone": backbone.get("name"), "split": cfg.split.name, "seed": cfg.seed,
            **ev.facts(ctx.split),
            "study": cfg.get("study"), "variant": cfg.get("variant"),
            "key_config": {"method": _knobs(cfg.method), "backbone": _knobs(backbone.get("model") or {}),
                           "trainer": {k: cfg.trainer[k] for k in ("lr", "batch_size", "max_epochs", "patience")},
                           "data": {k: v for k, v in cfg.data.items() if k in ("max_len", "rating_threshold", "kcore")}},
            "data_report": ctx.tables.report, "split_info": ctx.split.info, "timings": ctx.timings,
            "machine": {"host": platform.node(), "cpu_threads": torch.get_num_threads(),
                        "torch": torch.__version__, "python": platform.python_version()},
            "best": best_epoch(curve, cfg.trainer.monitor), "run": run_record(ctx.timings["total_s"]),
            **ctx.extra, **facts,
        },
        chart=list(cfg.task.chart),
    )
    print(f"\n== {cfg.method.name} / {payload.get('backbone') or '-'} on {cfg.data.name} ({cfg.split.name}, "
          f"seed {cfg.seed}, variant {cfg.get('variant')}) ==")
    print(format_summary(payload["metrics"], tuple(cfg.task.summary)))
    print(f"run dir: {ctx.run_dir}")
    log_payload(ctx.loggers, payload, ctx.run_dir, curve, log_rows=not curve_logged, tables=log_tables,
                chart=list(cfg.task.chart))
    close_loggers(ctx.loggers)
    if ctx.lock is not None:
        ctx.lock.release()
    return payload


def _with_data_ids(per_user: pd.DataFrame, tables: Tables) -> pd.DataFrame:
    """Per-user tables carry the data set's own user id (`user_id`, as in the raw files) next to the internal
    position (`user`), so a row can be traced back to the input."""
    if "user" not in per_user or "user_id" in per_user or not len(per_user):
        return per_user
    out = per_user.copy()
    out.insert(int(out.columns.get_loc("user")) + 1, "user_id", tables.user_ids[out["user"].to_numpy()].astype(str))
    return out


def _knobs(node) -> dict:
    d = OmegaConf.to_container(node, resolve=True) if not isinstance(node, dict) else dict(node)
    return {k: v for k, v in d.items() if k not in ("entry", "_target_", "name")}


def read_metrics(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "metrics.json").read_text())
