"""The mined pattern is a deterministic function of its inputs, and picks what it claims to."""

import numpy as np

from coldstart_exp.methods.scoter.mining import candidate_patterns, mine_pattern, run_mining


def _inputs(seed=0, n_chains=60, k_types=5, dim=16):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k_types, dim))
    chains, emb, scores = [], [], []
    for c in range(n_chains):
        length = int(rng.integers(3, 6))
        types = rng.integers(0, k_types, size=length)
        chains.append([f"chain {c} step {j} type {t}" for j, t in enumerate(types)])
        emb.extend(centers[types] + 0.05 * rng.normal(size=(length, dim)))
        scores.append(float(rng.random()))
    return chains, scores, np.asarray(emb, np.float32)


def test_mined_pattern_is_deterministic():
    chains, scores, emb = _inputs()
    a = run_mining(chains, scores, emb, k=3, n_types=5, min_support=3, seed=0)
    b = run_mining(chains, scores, emb.copy(), k=3, n_types=5, min_support=3, seed=0)
    assert a.types == b.types and a.instructions == b.instructions
    assert a.stats == b.stats
    assert len(a.types) == 3 and a.support >= 3


def test_pattern_changes_with_its_inputs():
    chains, scores, emb = _inputs()
    a = run_mining(chains, scores, emb, k=3, n_types=5, min_support=3, seed=0)
    flipped = [1.0 - s for s in scores]
    b = run_mining(chains, flipped, emb, k=3, n_types=5, min_support=3, seed=0)
    assert (a.types, a.mean_score) != (b.types, b.mean_score)


def test_best_mean_score_among_supported():
    seqs = [[0, 1, 2]] * 5 + [[3, 4, 5]] * 2 + [[0, 4, 2]] * 4
    scores = [0.2] * 5 + [1.0] * 2 + [0.5] * 4
    best, stats = mine_pattern(seqs, scores, k=3, min_support=3)
    assert best == (0, 4, 2)  # (3,4,5) scores higher but lacks support
    chosen = [r for r in stats if r["chosen"]]
    assert len(chosen) == 1 and chosen[0]["support"] == 4 and abs(chosen[0]["mean_score"] - 0.5) < 1e-9


def test_ties_break_by_support_then_pattern():
    seqs = [[2, 1, 0]] * 3 + [[0, 1, 2]] * 3
    best, _ = mine_pattern(seqs, [0.5] * 6, k=3, min_support=1)
    assert best == (0, 1, 2)
    best, _ = mine_pattern(seqs + [[2, 1, 0]], [0.5] * 7, k=3, min_support=1)
    assert best == (2, 1, 0)


def test_candidate_patterns_keep_order_and_collapse_repeats():
    assert candidate_patterns([1, 1, 2, 3], 3) == {(1, 2, 3)}
    assert (3, 1) not in candidate_patterns([1, 2, 3], 2)
    assert candidate_patterns([1, 2], 3) == set()
