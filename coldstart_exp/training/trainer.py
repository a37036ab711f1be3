"""Build the Lightning Trainer from config: strategy checks, checkpoints, early stopping (loggers: loggers.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from omegaconf import DictConfig, OmegaConf

from .resume import ResumeState

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


def build_trainer(cfg: DictConfig, run_dir: Path, loggers: list) -> L.Trainer:
    t = cfg.trainer
    ckpt_dir = run_dir / "checkpoints"
    callbacks = [
        ModelCheckpoint(dirpath=str(ckpt_dir), filename="best", monitor=t.monitor, mode="max",
                        save_last=True, save_top_k=1),
        EarlyStopping(monitor=t.monitor, mode="max", patience=t.patience),
        TQDMProgressBar(refresh_rate=t.progress_refresh),
        ResumeState(cfg),  # config, RNG states, curve and fit seconds in every checkpoint (exact resume)
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
