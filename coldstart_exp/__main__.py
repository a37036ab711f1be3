"""`python -m coldstart_exp [overrides]`: compose the config and run the chosen method."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

log = logging.getLogger("coldstart_exp")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from .console import log_failure, quiet_console
    from .run import run

    quiet_console()
    try:
        return run(cfg)
    except Exception as e:  # Hydra's multirun defers a failed job's error to the end of the sweep and leaves its
        log_failure(log, e)  # log empty: one line now, the traceback into the job's own log; Hydra prints it once
        raise


if __name__ == "__main__":
    main()
