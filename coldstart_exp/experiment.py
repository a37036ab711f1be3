"""The shared run pipeline every method uses: seed -> tables -> split -> fit -> evaluate -> outputs.

Methods call `prepare` for the data, then either `fit_and_evaluate` with their own module/backbone
(as `methods/baseline` does) or their own evaluation, and finally `finish` to write the run files.
"""

from __future__ import annotations

import json
import logging
import platform
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from .data.loading import load_tables
from .data.splits import Split, make_split
from .data.tables import Tables
from .eval.evaluator import RankingEvaluator
from .eval.report import format_summary, write_eval_outputs
from .training.trainer import build_loggers, build_trainer, check_strategy

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    cfg: DictConfig
    run_dir: Path
    tables: Tables
    split: Split
    timings: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    extra: dict = field(default_factory=dict)  # method-specific facts for metrics.json
    loggers: list = field(default_factory=list)


def prepare(cfg: DictConfig) -> RunContext:
    check_strategy(cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    torch.set_num_threads(cfg.get("threads") or torch.get_num_threads())
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    started = t0 = time.perf_counter()
    tables = load_tables(cfg.data, cfg.paths.cache_dir)
    t1 = time.perf_counter()
    split = make_split(tables, cfg.split)
    t2 = time.perf_counter()
    log.info("data %s: %d users, %d items, %d interactions; split %s", tables.name, tables.n_users,
             tables.n_items, len(tables.interactions), split.info)
    return RunContext(cfg, run_dir, tables, split, started=started, timings={"load_s": round(t1 - t0, 3), "split_s": round(t2 - t1, 3)})


def make_evaluator(cfg: DictConfig) -> RankingEvaluator:
    return RankingEvaluator(list(cfg.eval.ks), list(cfg.eval.metrics), bool(cfg.eval.mask_seen),
                            list(cfg.eval.bucket_edges))


def fit_and_evaluate(ctx: RunContext, module, datamodule) -> dict:
    """Train with checkpoints/early stopping (resumable), then test the best checkpoint."""
    cfg = ctx.cfg
    ctx.loggers = build_loggers(cfg, ctx.run_dir)
    trainer = build_trainer(cfg, ctx.run_dir, ctx.loggers)
    backbone = module.backbone
    backbone.fit_statistics(ctx.split.train)
    t0 = time.perf_counter()
    ckpt = "best"
    if backbone.trainable and cfg.trainer.max_epochs > 0:
        last = ctx.run_dir / "checkpoints" / "last.ckpt"
        resume = str(last) if cfg.trainer.resume and last.exists() else None
        if resume:
            log.info("resuming from %s", resume)
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
        # the reported validation metrics belong to the tested (best) model, not the last epoch
        trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
    else:
        ckpt = None
    t1 = time.perf_counter()
    trainer.test(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
    t2 = time.perf_counter()
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
    if module.curve:
        pd.DataFrame(module.curve).to_csv(ctx.run_dir / "val_curve.csv", index=False)
    return finish(ctx, tables, module.evaluator.names, best_ckpt=trainer.checkpoint_callback.best_model_path)


def finish(ctx: RunContext, tables_by_set: dict[str, pd.DataFrame], names: list[str], **facts) -> dict:
    """Write metrics.json & co, print the summary, forward it to the loggers."""
    cfg = ctx.cfg
    ctx.timings["total_s"] = round(time.perf_counter() - ctx.started, 2)
    ctx.timings["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    payload = write_eval_outputs(
        ctx.run_dir, tables_by_set, names, list(cfg.eval.bucket_edges),
        {
            "data": cfg.data.name, "method": cfg.method.name, "backbone": cfg.backbone.name,
            "split": cfg.split.name, "seed": cfg.seed, "mask_seen": bool(cfg.eval.mask_seen),
            "study": cfg.get("study"), "variant": cfg.get("variant"),
            "key_config": {"method": _knobs(cfg.method), "backbone": _knobs(cfg.backbone.get("model", {})),
                           "trainer": {k: cfg.trainer[k] for k in ("lr", "batch_size", "max_epochs", "patience")},
                           "data": {k: v for k, v in cfg.data.items() if k in ("max_len", "rating_threshold", "kcore")}},
            "protocol": {"ranking": "full" if ctx.split.kind != "cold_item" else "cold items only",
                         "mask_seen": bool(cfg.eval.mask_seen), "ks": list(cfg.eval.ks)},
            "data_report": ctx.tables.report, "split_info": ctx.split.info, "timings": ctx.timings,
            "machine": {"host": platform.node(), "cpu_threads": torch.get_num_threads(),
                        "torch": torch.__version__, "python": platform.python_version()},
            **ctx.extra, **facts,
        },
    )
    print(f"\n== {cfg.method.name} / {cfg.backbone.name} on {cfg.data.name} ({cfg.split.name}, seed {cfg.seed}, "
          f"mask_seen={bool(cfg.eval.mask_seen)}) ==")
    print(format_summary(payload["metrics"]))
    print(f"run dir: {ctx.run_dir}")
    _to_loggers(ctx, payload)
    return payload


def _to_loggers(ctx: RunContext, payload: dict) -> None:
    flat = {f"{s}/{n}": v for s, m in payload["metrics"].items() for n, v in m["overall"].items()}
    for lg in ctx.loggers:
        lg.log_metrics(flat)
        if type(lg).__name__ == "WandbLogger":
            import wandb

            table = pd.read_csv(ctx.run_dir / "buckets.csv")
            lg.experiment.log({"buckets": wandb.Table(dataframe=table)})
            if (ctx.run_dir / "buckets.png").exists():
                lg.experiment.log({"buckets_chart": wandb.Image(str(ctx.run_dir / "buckets.png"))})
        lg.finalize("success")


def _knobs(node) -> dict:
    d = OmegaConf.to_container(node, resolve=True) if not isinstance(node, dict) else dict(node)
    return {k: v for k, v in d.items() if k not in ("entry", "_target_", "name")}


def read_metrics(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "metrics.json").read_text())
