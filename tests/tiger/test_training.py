"""Teacher forcing covers every prefix without leaks, and the decoder can memorise a data set."""

import torch


def _cyclic(n_items, users=16, length=9, seed=0):
    """Each user walks items i, i+1, ... (mod n): the next item is a function of the last one."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, n_items, (users,), generator=g)
    walk = (start[:, None] + torch.arange(length)) % n_items + 1
    return walk[:, :-1], walk[:, 1:]


def test_causal_window_loss_equals_per_prefix_loss(make_tiger):
    n = 30
    m = make_tiger(n, codes=4).eval()
    seq, pos = _cyclic(n, users=3)
    t = 4  # keep only the target at position t; the rest of the window must not leak into it
    only = torch.zeros_like(pos)
    only[:, t] = pos[:, t]
    user = torch.arange(3)
    window = m.loss({"seq": seq, "pos": only, "user": user})
    prefix = torch.zeros_like(seq)
    prefix[:, -(t + 1):] = seq[:, : t + 1]  # the prefix alone, left-padded
    alone_pos = torch.zeros_like(pos)
    alone_pos[:, -1] = pos[:, t]
    alone = m.loss({"seq": prefix, "pos": alone_pos, "user": user})
    assert torch.allclose(window, alone, atol=1e-5)
    # and the future does change the loss if it were visible: perturbing later items is a no-op
    seq2 = seq.clone()
    seq2[:, t + 1:] = 1
    assert torch.allclose(m.loss({"seq": seq2, "pos": only, "user": user}), window, atol=1e-5)


def _overfit(m, steps=250):
    n = m.n_items
    seq, pos = _cyclic(n)
    opt = torch.optim.Adam(m.parameters(), lr=5e-3)
    loss = torch.tensor(float("nan"))
    m.train()
    for _ in range(steps):
        loss = m.loss({"seq": seq, "pos": pos, "user": torch.arange(len(seq))})
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    # evaluate every prefix of every user: history = seq[:, :t+1], target = pos[:, t]
    hits, total = 0, 0
    for t in range(seq.shape[1]):
        hist = torch.zeros_like(seq)
        hist[:, -(t + 1):] = seq[:, : t + 1]
        top1 = m.topk({"seq": hist, "user": torch.arange(len(seq))}, 1)[:, 0]
        hits += int((top1 == pos[:, t]).sum())
        total += len(top1)
    return loss.item(), hits / total


def test_decoder_overfits_to_perfect_recall_at_1(make_tiger):
    loss, recall1 = _overfit(make_tiger(24, codes=4))
    assert recall1 == 1.0, (loss, recall1)


def test_bidirectional_encoder_overfits_too(make_tiger):
    loss, recall1 = _overfit(make_tiger(24, codes=4, encoder_attention="bidirectional"))
    assert recall1 == 1.0, (loss, recall1)


def test_untrained_model_is_not_perfect(make_tiger):
    """The overfit test can fail: before training, top-1 is mostly wrong."""
    m = make_tiger(24, codes=4)
    _, recall1 = _overfit(m, steps=0)
    assert recall1 < 0.5
