"""Loggers assembled from `conf/logger/*.yaml` (every `_target_` node of `cfg.logger`), and the one place
where a finished run's results reach them (metrics, the bucket table and chart, the validation curve)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def build_loggers(cfg: DictConfig) -> list:
    """One Lightning logger per `_target_` entry of `cfg.logger` (none for `logger=none`), with the
    resolved config recorded as the run's hyperparameters."""
    loggers = [hydra.utils.instantiate(node) for node in (cfg.get("logger") or {}).values()
               if isinstance(node, DictConfig) and "_target_" in node]
    if loggers:
        hparams = OmegaConf.to_container(cfg, resolve=True)
        for lg in loggers:
            lg.log_hyperparams(hparams)
    return loggers


def wandb_logger(project: str, name: str, save_dir: str, mode: str = "auto", entity: str | None = None,
                 group: str | None = None, **kwargs):
    """Lightning's WandbLogger; `mode=auto` is online when WANDB_API_KEY is set, else offline in
    <run dir>/wandb (`wandb sync` uploads it later)."""
    from lightning.pytorch.loggers import WandbLogger

    if mode == "auto":
        mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
    os.environ.setdefault("WANDB_MODE", mode)
    os.environ.setdefault("WANDB_SILENT", "true")
    (Path(save_dir) / "wandb").mkdir(parents=True, exist_ok=True)
    return WandbLogger(project=project, name=name, save_dir=save_dir, mode=mode, entity=entity, group=group,
                       **kwargs)


def log_payload(loggers: list, payload: dict, run_dir: Path, curve: list[dict] | None = None,
                log_rows: bool = False, tables: dict[str, pd.DataFrame] | None = None) -> None:
    """Final metrics to every logger; for W&B also the bucket table, the chart and the curve as tables.
    `log_rows`: also log each curve row as a step (for training loops that ran outside Lightning)."""
    flat = {f"{s}/{n}": v for s, m in payload["metrics"].items() for n, v in m["overall"].items()}
    for lg in loggers:
        for step, row in enumerate((curve or []) if log_rows else []):
            lg.log_metrics({f"curve/{k}": float(v) for k, v in row.items() if isinstance(v, int | float)}, step=step)
        lg.log_metrics(flat)
        if _is_wandb(lg):
            import wandb

            run = lg.experiment
            if (run_dir / "buckets.csv").exists():
                run.log({"buckets": wandb.Table(dataframe=pd.read_csv(run_dir / "buckets.csv"))})
            if (run_dir / "buckets.png").exists():
                run.log({"buckets_chart": wandb.Image(str(run_dir / "buckets.png"))})
            if curve:
                run.log({"val_curve": wandb.Table(dataframe=pd.DataFrame(curve))})
            for name, df in (tables or {}).items():
                run.log({name: wandb.Table(dataframe=df)})


def close_loggers(loggers: list) -> None:
    """Finalize every logger; end the W&B run so the next job of a --multirun starts its own."""
    for lg in loggers:
        lg.finalize("success")
        if _is_wandb(lg):
            lg.experiment.finish()


def _is_wandb(lg) -> bool:
    return type(lg).__name__ == "WandbLogger"
