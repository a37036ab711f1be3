"""PAT split + retrieval: no target or later review reaches any retriever; lists are deterministic."""

import numpy as np
import pytest

from coldstart_exp.methods.pat.retrieval import Retriever
from coldstart_exp.methods.pat.split import make_generation_split

from .synthetic import synthetic_reviews

PROFILES = ["user", "neighbor", "both", "random", "topic", "style"]


@pytest.fixture(scope="module")
def split():
    return make_generation_split(synthetic_reviews(), task="text", n_test=14, n_valid=6, n_train=10, seed=1)


@pytest.fixture(scope="module")
def retriever(split):
    return Retriever(split, k=4, sage_epochs=30)


def test_targets_follow_pgraphrag(split):
    r = split.reviews
    for exs in split.examples.values():
        for ex in exs:
            others = r[(r.item == ex.item) & (r.user != ex.user)]
            assert len(others) and split.public[others.index].any()  # someone else reviewed it, visibly
            assert ex.input == r.title[ex.rid] and ex.gold == r.text[ex.rid]
            assert all(r.timestamp[o] < ex.timestamp and r.user[o] == ex.user for o in ex.own)
    assert {len(v) for v in split.examples.values()} == {14, 6, 10}


def test_all_history_buckets_populated(split):
    acts = [ex.activity for ex in split.examples["test"] + split.examples["valid"]]
    assert 0 in acts and any(1 <= a <= 2 for a in acts) and any(3 <= a <= 5 for a in acts) and max(acts) >= 6


def test_no_target_or_later_review_reaches_any_retriever(split, retriever):
    r = split.reviews
    forbidden = set()
    for exs in split.examples.values():
        for ex in exs:
            later = r[(r.user == ex.user) & (r.timestamp >= ex.timestamp)].index
            hidden_old = set(r[(r.user == ex.user) & (r.timestamp < ex.timestamp)].index) - set(ex.own)
            forbidden |= set(later) | hidden_old
            assert ex.rid in later
    assert not split.public[list(forbidden)].any()  # not in the corpus, BM25 statistics included
    big = Retriever(split, k=10_000, min_topic_users=10_000, style_users=10_000, sage_epochs=2)
    seen = set()
    for exs in split.examples.values():
        for ex in exs:
            for p in PROFILES:
                seen |= set(big.profile(ex, p))
                seen |= set(retriever.profile(ex, p))
    assert seen and not (seen & forbidden)
    assert len(seen) > 0.5 * split.public.sum()  # the big retriever really did read the corpus


def test_visibility_hides_target_even_if_public(split, retriever):
    ex = split.examples["test"][0]
    fake_public = split.public.copy()
    fake_public[ex.rid] = True
    split.public, saved = fake_public, split.public
    try:
        assert not split.visibility(ex)[ex.rid]
    finally:
        split.public = saved


def test_retrieval_is_deterministic(split, retriever):
    again = Retriever(split, k=4, sage_epochs=30)
    assert np.allclose(again.emb, retriever.emb)
    for ex in split.examples["test"]:
        for p in PROFILES:
            assert again.profile(ex, p) == retriever.profile(ex, p)


def test_bm25_ranks_by_overlap_and_breaks_ties_by_id(split, retriever):
    ex = split.examples["test"][0]
    cand = retriever.candidates(ex, "others")
    ranked = retriever.bm25_rank("distortion boost", cand, None)
    docs = [retriever.docs[i] for i in ranked]
    hits = ["distortion" in d or "boost" in d for d in docs]
    assert hits[0] and hits.index(False) == sum(hits)  # every matching review before every other
    ties = [i for i, h in zip(ranked, hits) if not h]
    assert ties == sorted(ties)
    with pytest.raises(ValueError, match="outside the indexed corpus"):
        retriever.bm25_rank("x", np.array([ex.rid]), 1)


def test_title_task_and_bad_config():
    s = make_generation_split(synthetic_reviews(), task="title", n_test=5, n_valid=0, n_train=0)
    ex = s.examples["test"][0]
    assert ex.gold == s.reviews.title[ex.rid] and ex.input == s.reviews.text[ex.rid]
    with pytest.raises(ValueError, match="task.target"):
        make_generation_split(synthetic_reviews(), task="summary")
