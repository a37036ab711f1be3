"""Build the Lightning Trainer from config: strategy checks, loggers, checkpoints, early stopping."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class StrategyError(RuntimeError):
    pass


def check_strategy(cfg: DictConfig) -> None:
    """Fail at start, not mid-run, when the chosen strategy cannot run on this machine."""
    acc = cfg.strategy.accelerator
    if acc in ("gpu", "cuda") and not torch.cuda.is_available():
        raise StrategyError(
            f"strategy={cfg.strategy.name} needs a CUDA GPU, but torch {torch.__version__} sees none "
            f"(CUDA build: {torch.version.cuda is not None}). Use strategy=cpu, or strategy=ddp_cpu for "
            f"multi-process DDP on CPU, or install a CUDA build of torch on a GPU machine."
        )


def build_loggers(cfg: DictConfig, run_dir: Path) -> list:
    kind = cfg.logger.name
    if kind == "none":
        return []
    if kind == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return [CSVLogger(save_dir=str(run_dir), name="csv", version="")]
    if kind == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        online = bool(os.environ.get("WANDB_API_KEY")) and cfg.logger.mode != "offline"
        mode = cfg.logger.mode if cfg.logger.mode != "auto" else ("online" if online else "offline")
        os.environ.setdefault("WANDB_MODE", mode)
        os.environ.setdefault("WANDB_SILENT", "true")
        (run_dir / "wandb").mkdir(parents=True, exist_ok=True)
        return [WandbLogger(project=cfg.logger.project, entity=cfg.logger.get("entity"), name=cfg.run_name,
                            group=cfg.logger.get("group"), save_dir=str(run_dir), mode=mode, log_model=False,
                            config=OmegaConf.to_container(cfg, resolve=True))]
    raise ValueError(f"unknown logger {kind!r}; known: wandb, csv, none")


def build_trainer(cfg: DictConfig, run_dir: Path, loggers: list) -> L.Trainer:
    t = cfg.trainer
    ckpt_dir = run_dir / "checkpoints"
    callbacks = [
        ModelCheckpoint(dirpath=str(ckpt_dir), filename="best", monitor=t.monitor, mode="max",
                        save_last=True, save_top_k=1),
        EarlyStopping(monitor=t.monitor, mode="max", patience=t.patience),
        TQDMProgressBar(refresh_rate=t.progress_refresh),
    ]
    s = cfg.strategy
    kwargs = {k: v for k, v in OmegaConf.to_container(s, resolve=True).items() if k not in ("name",)}
    return L.Trainer(
        **kwargs,
        max_epochs=t.max_epochs,
        max_time=t.get("max_time"),
        check_val_every_n_epoch=t.val_every,
        gradient_clip_val=t.get("grad_clip"),
        logger=loggers or False,
        callbacks=callbacks,
        default_root_dir=str(run_dir),
        deterministic=t.deterministic,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=t.log_every,
    )
