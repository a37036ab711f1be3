"""Dispatch a composed config to its method; return the value an Optuna sweep optimises."""

from __future__ import annotations

import logging

from hydra.utils import get_method
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> float | None:
    payload = get_method(cfg.method.entry)(cfg)
    if not payload:
        return None  # non-zero DDP rank
    metric = cfg.get("optimized_metric")
    if metric:
        set_name, name = metric.rsplit("/", 1)
        return float(payload["metrics"][set_name]["overall"][name])
    return None
