"""`python -m coldstart_exp [overrides]`: compose the config and run the chosen method."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from .run import run

    return run(cfg)


if __name__ == "__main__":
    main()
