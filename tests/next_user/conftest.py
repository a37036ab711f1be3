"""Shared fixtures: the synthetic data set under the cold_item split, composed from the real configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir

from coldstart_exp.data.loading import load_tables
from coldstart_exp.data.splits import make_split

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def compose_cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return hydra_compose(config_name="config", overrides=overrides)


@pytest.fixture(scope="session")
def compose():
    return compose_cfg


@pytest.fixture(scope="session")
def synth():
    cfg = compose_cfg(["method=next_user", "data=synthetic"])
    tables = load_tables(cfg.data, "/tmp/nu_test_cache")
    return cfg, tables, make_split(tables, cfg.split)
