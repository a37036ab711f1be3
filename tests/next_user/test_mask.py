"""The prefix-LM attention mask: prefix unmasked, users causal, the prefix never sees users."""

from __future__ import annotations

import torch

from coldstart_exp.methods.next_user.generator import NextUserGenerator, prefix_lm_mask


def test_mask_layout():
    m = prefix_lm_mask(3, 4)
    assert m.shape == (7, 7)
    assert m[:3, :3].all()  # prefix <-> prefix
    assert not m[:3, 3:].any()  # prefix never attends to users
    assert m[3:, :3].all()  # every user sees the whole prefix
    users = m[3:, 3:]
    assert torch.equal(users, torch.ones(4, 4, dtype=torch.bool).tril())  # causal among users
    assert users[0].sum() == 1 and users[3].sum() == 4


def _gen(**kw):
    torch.manual_seed(0)
    g = NextUserGenerator(n_categories=5, text_dim=6, d_user=8, d_model=16, layers=2, heads=2, dropout=0.0,
                          max_users=10, max_categories=3, **kw)
    return g.eval()


def test_generator_is_causal_and_prefix_blind_to_users():
    g = _gen()
    cats = torch.tensor([[1, 2, 0]])
    text = torch.randn(1, 6)
    users = torch.randn(1, 5, 8)
    out, _ = g(cats, text, users, torch.tensor([5]))
    assert out.shape == (1, 6, 8)
    changed = users.clone()
    changed[0, 3] += 5.0  # alter the 4th user
    out2, _ = g(cats, text, changed, torch.tensor([5]))
    # steps 0..3 (BOS predicts user 1; user j predicts j+1) read at most users 1..3: unchanged
    assert torch.allclose(out[0, :4], out2[0, :4], atol=1e-5)
    assert not torch.allclose(out[0, 4:], out2[0, 4:], atol=1e-4)


def test_zero_seed_item_gets_prefix_dependent_embedding_and_padding_is_ignored():
    g = _gen()
    text = torch.randn(2, 6)
    users = torch.zeros(2, 1, 8)
    out, _ = g(torch.tensor([[1, 0, 0], [4, 0, 0]]), text, users, torch.tensor([0, 0]))
    assert torch.isfinite(out).all()
    assert not torch.allclose(out[0, 0], out[1, 0])  # different items, different n=0 embeddings
    garbage = torch.randn(2, 1, 8) * 10  # a padded (length-0) user slot must not matter
    out2, _ = g(torch.tensor([[1, 0, 0], [4, 0, 0]]), text, garbage, torch.tensor([0, 0]))
    assert torch.allclose(out[:, 0], out2[:, 0], atol=1e-5)


def test_no_prefix_makes_n0_embedding_item_independent():
    g = _gen(use_prefix=False)
    out, _ = g(torch.tensor([[1, 0, 0], [4, 2, 0]]), torch.randn(2, 6), torch.zeros(2, 1, 8), torch.tensor([0, 0]))
    assert torch.allclose(out[0, 0], out[1, 0], atol=1e-6)


def test_mean_pool_ablation_is_order_free():
    g = _gen(encoder="mean")
    users = torch.randn(1, 4, 8)
    cats, text = torch.tensor([[1, 2, 0]]), torch.randn(1, 6)
    g.pos_emb.weight.data.zero_()  # positions off: the running mean must then ignore order
    out, _ = g(cats, text, users, torch.tensor([4]))
    out2, _ = g(cats, text, users[:, [1, 0, 3, 2]], torch.tensor([4]))
    assert torch.allclose(out[0, 4], out2[0, 4], atol=1e-5)
    assert torch.allclose(out[0, 2], out2[0, 2], atol=1e-5)


def test_seed_skip_adds_the_running_mean_of_the_seed_users():
    g = _gen(seed_skip=True)
    g.head.weight.data.zero_()
    g.head.bias.data.zero_()  # learned part off: what is left is the lookalike residual
    users = torch.randn(1, 4, 8)
    out, _ = g(torch.tensor([[1, 2, 0]]), torch.randn(1, 6), users, torch.tensor([3]))  # 4th slot is padding
    assert torch.allclose(out[0, 0], torch.zeros(8))  # no seeds yet: nothing to add
    for t in (1, 2, 3):
        assert torch.allclose(out[0, t], users[0, :t].mean(0), atol=1e-6)
    assert torch.allclose(out[0, 4], users[0, :3].mean(0), atol=1e-6)  # padding does not enter the mean


def test_seed_skip_with_no_user_slots_gives_one_step():
    g = _gen(seed_skip=True)  # the content-only baseline calls the generator with zero user slots
    out, _ = g(torch.tensor([[1, 2, 0]]), torch.randn(1, 6), torch.zeros(1, 0, 8), torch.tensor([0]))
    assert out.shape == (1, 1, 8) and torch.isfinite(out).all()


def test_content_skip_mixes_a_prefix_only_vector_and_the_unit_seed_mean_per_seed_count():
    g = _gen(seed_skip=True, content_skip=True).eval()
    g.head.weight.data.zero_()
    g.head.bias.data.zero_()  # learned correction off: only the two weighted anchors remain
    with torch.no_grad():
        g.mix[:, 0] = torch.tensor(float("-inf"))  # content weight 0 everywhere ...
        g.mix[0, 0] = 10.0                         # ... except with no seeds
    cats, text = torch.tensor([[1, 2, 0]]), torch.randn(1, 6)
    users = torch.randn(1, 3, 8)
    out, _ = g(cats, text, users, torch.tensor([3]))
    w = torch.nn.functional.softplus(g.mix.detach())
    assert torch.allclose(out[0, 0].norm(), w[0, 0], atol=1e-5)  # n = 0: the unit content vector, scaled
    for t in (1, 2, 3):
        unit = torch.nn.functional.normalize(users[0, :t].mean(0), dim=0)
        assert torch.allclose(out[0, t], w[t, 1] * unit, atol=1e-5)
    # the content vector reads the prefix only: other seed users leave step 0 unchanged
    out2, _ = g(cats, text, torch.randn(1, 3, 8), torch.tensor([3]))
    assert torch.allclose(out[0, 0], out2[0, 0], atol=1e-6)
