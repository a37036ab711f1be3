"""Splits: leave-one-out reproduces file order; nothing evaluated leaks into training."""

import gzip

import numpy as np
import pandas as pd
import pytest

from coldstart_exp.data.loading import load_tables
from coldstart_exp.data.splits import make_split
from tests.conftest import amazon_dir


def _tables(cfg_factory, *ov):
    cfg = cfg_factory(*ov)
    return cfg, load_tables(cfg.data, cfg.paths.cache_dir)


def _pairs(df):
    return set(zip(df.user.to_numpy(), df.item.to_numpy(), df.timestamp.to_numpy()))


def test_loo_no_eval_interaction_in_train(cfg_factory):
    cfg, t = _tables(cfg_factory, "data=synthetic")
    s = make_split(t, cfg.split)
    seqs = s.train_sequences()
    assert len(s.train) + len(s.valid) + len(s.tests["test"]) == len(t.interactions)
    for es in (s.valid, s.tests["test"]):
        for tgt in es.targets:
            assert len(tgt) == 1
    # validation history = training sequence; test history = training sequence + validation item
    vmap = dict(zip(s.valid.users, s.valid.targets))
    for u, h in zip(s.tests["test"].users, s.tests["test"].histories):
        assert np.array_equal(h, np.append(seqs[u], vmap[u]))
    # held-out rows are exactly the last two per user in time order
    last = t.interactions.assign(o=np.arange(len(t.interactions))).sort_values(["user", "timestamp", "o"])
    tail = last.groupby("user").tail(2)
    assert _pairs(tail).isdisjoint(_pairs(s.train))


def test_loo_stable_sort_keeps_file_order_on_ties():
    from coldstart_exp.data.splits import leave_one_out
    from coldstart_exp.data.tables import Tables

    inter = pd.DataFrame({"user": [0, 0, 0, 0], "item": [4, 3, 2, 1], "timestamp": [5, 5, 5, 5]})
    t = Tables("x", inter, np.array(["u"], dtype=object), np.array(["[PAD]", "a", "b", "c", "d"], dtype=object),
               None, pd.DataFrame({"title": [""] * 5, "text": [""] * 5, "categories": [[]] * 5}))
    s = leave_one_out(t)
    assert s.tests["test"].targets[0].tolist() == [1] and s.valid.targets[0].tolist() == [2]
    assert s.train.item.tolist() == [4, 3]


@pytest.mark.parametrize("kind", ["cold_user", "cold_item"])
def test_cold_entities_never_in_train(cfg_factory, kind):
    cfg, t = _tables(cfg_factory, "data=synthetic", f"split={kind}")
    s = make_split(t, cfg.split)
    if kind == "cold_user":
        assert len(s.cold_users) > 0 and not s.train.user.isin(s.cold_users).any()
        for name, es in s.tests.items():
            n = int(name.split("=")[1])
            assert (es.activity == n).all()
            for h, tg in zip(es.histories, es.targets):
                assert len(h) == n and len(tg) > 0
    else:
        assert len(s.cold_items) > 0 and not s.train.item.isin(s.cold_items).any()
        for name, es in s.tests.items():
            n = int(name.split("=")[1])
            cands = set(es.candidates.tolist())
            assert cands <= set(s.cold_items.tolist())
            held = s.held_out
            for u, tg in zip(es.users, es.targets):
                rows = held[(held.user == u) & held.item.isin(tg)]
                assert (rows.user_rank >= n).all()  # targets are never seed users
    assert len(s.train) + len(s.held_out) == len(t.interactions)
    assert set(s.valid.users).isdisjoint(s.tests[next(iter(s.tests))].users) or kind == "cold_item"


@pytest.mark.parametrize("candidates", ["reachable", "all"])
def test_cold_item_candidates_do_not_leak_seed_counts(cfg_factory, candidates):
    """`reachable`: every candidate at n shows exactly n seeds and has a later user; `all`: every cold item."""
    cfg, t = _tables(cfg_factory, "data=synthetic", "data.source.n_users=40", "split=cold_item", f"split.candidates={candidates}")
    s = make_split(t, cfg.split)
    held = s.held_out
    test_items = set(s.tests["test/n=0"].candidates.tolist())
    for name, es in s.tests.items():
        n = int(name.split("=")[1])
        cands = es.candidates.tolist()
        if candidates == "all":
            assert set(cands) == test_items
            continue
        with_target = {int(i) for tg in es.targets for i in tg}
        assert set(cands) == with_target
        assert all(held[held.item == i].user_rank.max() >= n for i in cands)
    counts = [len(es.candidates) for es in s.tests.values()]
    assert counts == sorted(counts, reverse=True) and (candidates == "all" or counts[0] > counts[-1])


@pytest.mark.slow
@pytest.mark.skipif(amazon_dir() is None, reason="shared Amazon data not present")
def test_beauty_loo_reproduces_published_split(cfg_factory):
    """The data README: rows are grouped by user in P5/S3-Rec order; last row = test, previous = valid."""
    cfg, t = _tables(cfg_factory, "data=amazon_beauty")
    s = make_split(t, cfg.split)
    with gzip.open(amazon_dir() / "beauty_5core_interactions.tsv.gz", "rt") as fh:
        raw = pd.read_csv(fh, sep="\t", dtype=str)
    last2 = raw.groupby("user_id", sort=False).tail(2)
    test_raw = last2.groupby("user_id", sort=False).tail(1).set_index("user_id").item_id
    valid_raw = last2.groupby("user_id", sort=False).head(1).set_index("user_id").item_id
    te = s.tests["test"]
    got_test = pd.Series(t.item_ids[[x[0] for x in te.targets]], index=t.user_ids[te.users])
    got_valid = pd.Series(t.item_ids[[x[0] for x in s.valid.targets]], index=t.user_ids[s.valid.users])
    assert (got_test.reindex(test_raw.index) == test_raw).all()
    assert (got_valid.reindex(valid_raw.index) == valid_raw).all()
    assert len(s.train) == 198502 - 2 * 22363
