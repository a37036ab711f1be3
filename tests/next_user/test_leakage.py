"""No cold item's interaction reaches training (tower pre-training, episodes, generator)."""

from __future__ import annotations

import numpy as np

import coldstart_exp.methods.next_user as nu
from coldstart_exp.methods.next_user.features import seed_users, warm_episodes


def test_episodes_hold_no_cold_item(synth):
    _, _, split = synth
    ep = warm_episodes(split.train, 50, None, None)
    assert len(ep.items) > 0
    assert not np.isin(ep.items, split.cold_items).any()
    # every (item, user) pair of the episodes is a training interaction
    train_pairs = set(zip(split.train.item, split.train.user))
    for it, us, n in zip(ep.items, ep.users, ep.lengths):
        assert all((it, u) in train_pairs for u in us[:n])


def test_run_feeds_only_warm_interactions(monkeypatch, tmp_path, compose):
    seen = {}

    def spy(name, fn):
        def wrapped(*a, **kw):
            seen[name] = a[1]  # the interactions argument
            return fn(*a, **kw)
        return wrapped

    monkeypatch.setattr(nu, "pretrain_user_tower", spy("tower", nu.pretrain_user_tower))
    monkeypatch.setattr(nu, "train_generator", spy("generator", nu.train_generator))
    cfg = compose(["method=next_user", "data=synthetic", "logger=none", f"paths.output_dir={tmp_path}",
                       "paths.cache_dir=/tmp/nu_test_cache", "method.epochs=1", "method.tower_epochs=1",
                       "method.use_text=false", "method.cache_tower=false", "split.n_support=[0,2]"])
    nu.run(cfg)
    held = set(zip(cfg_split_held(cfg).item, cfg_split_held(cfg).user))
    for name in ("tower", "generator"):
        df = seen[name]
        assert len(df) > 0
        assert not set(zip(df.item, df.user)) & held, name


def cfg_split_held(cfg):
    from coldstart_exp.data.loading import load_tables
    from coldstart_exp.data.splits import make_split

    return make_split(load_tables(cfg.data, "/tmp/nu_test_cache"), cfg.split).held_out


def test_random_windows_are_contiguous_slices_of_warm_users(synth):
    _, _, split = synth
    first = warm_episodes(split.train, 3, None, None, window="first")
    rng = np.random.default_rng(0)
    draws = [warm_episodes(split.train, 3, None, None, window="random", rng=rng) for _ in range(2)]
    full = warm_episodes(split.train, 10_000, None, None)  # every warm user of each item, in order
    seq = {int(it): list(us[:n]) for it, us, n in zip(full.items, full.users, full.lengths)}
    for ep in draws:
        assert np.array_equal(ep.items, first.items) and np.array_equal(ep.lengths, first.lengths)
        for it, us, n in zip(ep.items, ep.users, ep.lengths):
            s = seq[int(it)]
            w = list(us[:n])
            assert any(s[k:k + n] == w for k in range(len(s) - n + 1))  # a contiguous window
    assert not np.array_equal(draws[0].users, draws[1].users)  # windows are re-drawn
    assert not np.array_equal(draws[0].users, first.users)


def test_validation_items_are_offered_at_every_n_with_exactly_n_seeds(synth):
    cfg, tables, split = synth
    assert sorted(split.valid_by_n) == sorted(cfg.split.n_support)
    assert split.valid_by_n[int(cfg.split.valid_n_support)] is split.valid
    held = split.held_out
    for n, es in split.valid_by_n.items():
        rows = held[held.item.isin(es.candidates)]
        assert set(es.candidates) <= set(split.valid_by_n[0].candidates)  # n = 0 offers every validation item
        assert not set(es.candidates) & set(split.tests["test/n=0"].candidates)  # and none of them is a test item
        later = rows[rows.user_rank >= n]
        assert set(es.candidates) == set(later.item)  # reachable: each candidate has a user after its n seeds
        _, counts = seed_users(held, np.asarray(es.candidates), n)
        assert (counts == n).all()
