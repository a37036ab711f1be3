"""Constrained beam search only yields valid IDs and honours candidates / exclusions."""

import numpy as np
import pytest
import torch

from coldstart_exp.backbones.tiger.trie import Trie


def test_trie_walks_exactly_the_given_ids():
    ids = np.array([[0, 1, 0], [0, 1, 1], [2, 0, 0]])
    t = Trie(ids, np.array([5, 6, 7]), width=3)
    leaves = {}
    for row in ids.tolist():
        node = 0
        for c in row:
            node = int(t.child[node, c])
            assert node > 0
        leaves[tuple(row)] = int(t.item[node])
    assert leaves == {(0, 1, 0): 5, (0, 1, 1): 6, (2, 0, 0): 7}
    assert int(t.child[0, 1]) == -1  # no ID starts with 1
    with pytest.raises(ValueError):
        Trie(np.array([[0, 0], [0, 0]]), np.array([1, 2]), width=2)


def _batch(n_items, B=6, L=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(1, n_items + 1, (B, L), generator=g)
    seq[:2, :3] = 0
    return {"seq": seq, "user": torch.arange(B)}


def test_beam_search_returns_only_valid_distinct_items(make_tiger):
    n = 40
    m = make_tiger(n, codes=4).eval()
    batch = _batch(n)
    items, scores = m.generate(batch, beam=30)
    assert items.shape == (6, 30)
    # 40 items under a 4x4x4 code space: every returned leaf is a real item with a finite score
    assert ((items >= 1) & (items <= n)).all() and torch.isfinite(scores).all()
    for row in items:
        assert len(set(row.tolist())) == len(row)
    assert (scores[:, :-1] >= scores[:, 1:]).all()  # best first
    # each returned item's ID is one of the catalogue's IDs (walk the decoded item back through its ID)
    valid = {tuple(r) for r in m.sem[1:].tolist()}
    assert all(tuple(m.sem[i].tolist()) in valid for i in items.flatten().tolist())
    # scores are the model's log-probability of the full ID: check one against teacher forcing
    assert torch.allclose(scores[0, 0], _logprob(m, batch, 0, int(items[0, 0])), atol=1e-4)


def _logprob(m, batch, r, item):
    """log p(ID of item) under teacher forcing (softmax over each level's codes)."""
    sub = {"seq": batch["seq"][r:r + 1], "user": batch["user"][r:r + 1]}
    memory, valid = m.encode_history(sub["seq"], sub["user"])
    h = m.decode_targets(memory, valid, torch.tensor([item]))[0]
    node, total = 0, 0.0
    for lvl in range(m.depth):
        n = m.sizes[lvl]
        logits = m.level_logits(h[lvl], lvl)
        assert logits.shape == (n,)
        code = int(m.sem[item, lvl])
        assert int(m.trie_child[node, code]) > 0
        total += float(logits.log_softmax(-1)[code])
        node = int(m.trie_child[node, code])
    return torch.tensor(total)


def test_candidates_and_exclusions_are_honoured(make_tiger):
    n = 40
    m = make_tiger(n, codes=4).eval()
    batch = _batch(n)
    cand = torch.zeros(n + 1, dtype=torch.bool)
    cand[torch.arange(3, 40, 3)] = True  # 13 candidate items
    top = m.topk(batch, 10, candidates=cand)
    assert cand[top].all()
    exclude = torch.tensor([[1, 2, 3, 4, 5, 0]] * 6)
    free = m.topk(batch, 10)
    top = m.topk(batch, 10, exclude=exclude)
    assert not torch.isin(top, torch.arange(1, 6)).any()
    assert (top > 0).all()  # beam widened to max(beam_size, k) keeps 10 valid items
    # excluding the best item of the unconstrained run moves the rest up
    excl_first = torch.stack([free[:, 0], torch.zeros(6, dtype=torch.long)], 1)
    assert torch.equal(m.topk(batch, 9, exclude=excl_first), free[:, 1:10])


def test_restricted_trie_smaller_than_candidates_pads_with_zero(make_tiger):
    n = 40
    m = make_tiger(n, codes=4).eval()
    cand = torch.zeros(n + 1, dtype=torch.bool)
    cand[[7, 8]] = True
    top = m.topk(_batch(n), 5, candidates=cand)
    assert set(top[:, :2].flatten().tolist()) <= {7, 8} and (top[:, 2:] == 0).all()
