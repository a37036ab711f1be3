"""`python -m coldstart_exp [overrides]`: compose the config and run the chosen method."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

log = logging.getLogger("coldstart_exp")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from .run import run

    try:
        return run(cfg)
    except Exception:  # Hydra's multirun defers a failed job's error to the end of the sweep and leaves its
        log.exception("run failed")  # log empty: write it now, to the console and the job's own log, then re-raise
        raise


if __name__ == "__main__":
    main()
