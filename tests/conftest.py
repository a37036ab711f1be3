"""Shared fixtures: compose configs without the CLI, point caches and outputs at tmp dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("COLDSTART_DATA_DIR", str(ROOT.parent / "shared" / "data"))


def compose(overrides: list[str], tmp_path: Path | None = None):
    """Compose conf/config.yaml with overrides, as `python -m coldstart_exp` would."""
    from hydra import compose as hcompose
    from hydra import initialize_config_dir

    extra = []
    if tmp_path is not None:
        extra = [f"paths.output_dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}"]
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return hcompose("config", overrides=[*extra, *overrides])


@pytest.fixture
def cfg_factory(tmp_path):
    return lambda *overrides: compose(list(overrides), tmp_path)


def amazon_dir() -> Path | None:
    d = Path(os.environ["COLDSTART_DATA_DIR"]) / "amazon_beauty"
    return d if (d / "beauty_5core_interactions.tsv.gz").exists() else None
