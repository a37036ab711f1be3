"""SASRec's two recipes: padding never changes a state, and the ranking state (with last_query_top: the last layer on the final
position only) equals the full encoder's last row."""

from __future__ import annotations

import pytest
import torch

from coldstart_exp.backbones.sasrec import SASRec

RECIPES = [{}, {"norm": "post", "positions": "left"}, {"layers": 3, "heads": 4, "positions": "left"}]


def _model(**kw) -> SASRec:
    torch.manual_seed(0)
    m = SASRec(200, 20, last_query_top=True, **kw)
    with torch.no_grad():  # move LayerNorm gains/biases off their init so every term matters
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m.eval()


@pytest.mark.parametrize("kw", RECIPES)
def test_ranking_state_equals_full_encoder(kw):
    m = _model(**kw)
    seq = torch.randint(1, 201, (64, 20))
    seq[:32, :12] = 0  # left padding
    seq[40] = 0  # an empty history
    with torch.no_grad():
        full, last = m.encode(seq)[:, -1], m.user_state({"seq": seq})
        m.last_query_top = False
        assert torch.equal(m.user_state({"seq": seq}), full)  # the default: the full encoder, bit for bit
    assert full.abs().mean() > 0.1
    torch.testing.assert_close(last, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kw", RECIPES)
def test_left_padding_does_not_change_the_state(kw):
    m = _model(**kw)
    short = torch.tensor([[7, 3, 9]])
    padded = torch.tensor([[0, 0, 0, 0, 7, 3, 9]])
    with torch.no_grad():
        torch.testing.assert_close(m.user_state({"seq": short}), m.user_state({"seq": padded}), atol=1e-5, rtol=1e-5)


def test_positions_and_bad_options():
    seq = torch.tensor([[0, 0, 5, 6, 7]])
    assert _model(positions="left").position_ids(seq).tolist() == [[0, 0, 0, 1, 2]]
    assert _model(positions="right").position_ids(seq).tolist() == [[15, 16, 17, 18, 19]]
    with pytest.raises(ValueError, match="norm"):
        SASRec(10, 5, norm="mid")
    with pytest.raises(ValueError, match="positions"):
        SASRec(10, 5, positions="middle")
