import numpy as np
import pytest
import torch

from coldstart_exp.backbones.tiger import TIGER
from coldstart_exp.backbones.tiger.semantic_ids import add_collision_token


def tiny_ids(n_items: int, codes: int, seed: int = 0) -> np.ndarray:
    """(n_items + 1, 4) semantic IDs with random 3-level codes (+ collision token), row 0 = padding."""
    raw = np.random.RandomState(seed).randint(0, codes, (n_items, 3))
    ids, _ = add_collision_token(raw)
    return np.concatenate([np.full((1, 4), -1), ids])


def tiny_tiger(n_items: int, codes: int = 4, **kw) -> TIGER:
    torch.manual_seed(0)
    args = dict(d_model=32, enc_layers=1, dec_layers=1, heads=2, head_dim=16, ffn=64, dropout=0.0,
                user_buckets=8, codes=codes, collision_codes=n_items)
    args.update(kw)
    m = TIGER(n_items, 16, 8, **args)
    m.set_semantic_ids(tiny_ids(n_items, codes))
    return m


@pytest.fixture
def make_tiger():
    return tiny_tiger
