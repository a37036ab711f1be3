"""`python -m coldstart_exp [overrides]`: compose the config and run the chosen method.

Also here: `run` (dispatch a composed config to its method's `run()`; the value an Optuna sweep optimises)
and a quiet console (Lightning's advertisements dropped; a failed run's traceback printed once: Hydra prints
it, and the job's own log file gets it too, so a --multirun job's log is not empty)."""

from __future__ import annotations

import logging
import sys

import hydra
from hydra.utils import get_method
from omegaconf import DictConfig

log = logging.getLogger("coldstart_exp")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    quiet_console()
    try:
        return run(cfg)
    except Exception as e:  # Hydra's multirun defers a failed job's error to the end of the sweep and leaves its
        log_failure(log, e)  # log empty: one line now, the traceback into the job's own log; Hydra prints it once
        raise


def run(cfg: DictConfig) -> float | None:
    payload = get_method(cfg.method.entry)(cfg)
    if not payload:
        return None  # non-zero DDP rank
    metric = cfg.get("optimized_metric")
    if metric:
        set_name, name = metric.rsplit("/", 1)
        return float(payload["metrics"][set_name]["overall"][name])
    return None


ADVERTS = ("💡 Tip:",)  # Lightning's "try installing litlogger / litmodels" lines on every run


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(ADVERTS)


def quiet_console() -> None:
    """Filter Lightning's advertisements (a logger filter: set before or after lightning is imported), and, once
    logging is configured (Hydra's console and job-log handlers on the root logger), drop the console handler
    that `import lightning` puts on its own logger: its records already reach the root's handlers, so every
    Lightning INFO line was printed twice."""
    import lightning  # noqa: F401  (adds that handler now, so it can be removed)

    if logging.getLogger().handlers:
        lg = logging.getLogger("lightning")
        for h in [h for h in lg.handlers if type(h) is logging.StreamHandler]:
            lg.removeHandler(h)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, _DropAdverts) for f in lg.filters):
            lg.addFilter(_DropAdverts())


def log_failure(log: logging.Logger, exc: BaseException) -> None:
    """One console line for a failed run; the full traceback only to the log files (Hydra prints it once)."""
    log.error("run failed: %s: %s", type(exc).__name__, exc)
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "run failed, traceback:", None, sys.exc_info())
    for handler in logging.getLogger().handlers + log.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


if __name__ == "__main__":
    main()
