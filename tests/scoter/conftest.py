from pathlib import Path

import pytest
from omegaconf import OmegaConf

from coldstart_exp.data.loading import load_tables
from coldstart_exp.data.splits import make_split

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    """Synthetic tables (300 users, 120 items) and their loo split."""
    dcfg = OmegaConf.load(ROOT / "conf/data/synthetic.yaml")
    tables = load_tables(dcfg, str(tmp_path_factory.mktemp("cache")))
    return tables, make_split(tables, OmegaConf.create({"_target_": "coldstart_exp.data.splits.leave_one_out", "name": "loo"}))


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The CI box is shared: tiny models are faster on one thread than fighting for two."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
