"""Paired per-user comparison: statistics against hand-computed answers, and the CLI on run directories."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from coldstart_exp.compare import main as compare_main
from coldstart_exp.eval.significance import compare_tables, holm, paired_stats


def test_paired_stats_known_answers():
    a = np.zeros(4)
    b = np.array([1.0, 2.0, 3.0, 4.0])  # diffs 1..4: mean 2.5, sd sqrt(5/3), t = 2.5 / (sd / 2)
    s = paired_stats(a, b)
    assert s["diff"] == 2.5
    assert s["t"] == pytest.approx(2.5 / (math.sqrt(5 / 3) / 2), rel=1e-5)  # 3.8730
    assert s["p_t"] == pytest.approx(0.030466, abs=1e-5)  # two-sided t(3) tail of 3.873
    assert s["p_wilcoxon"] == pytest.approx(2 / 16)  # all 4 ranks positive: exact p = 2 * (1/2^4)
    assert 1.0 <= s["ci_low"] < 2.5 < s["ci_high"] <= 4.0


def test_paired_stats_sign_and_no_difference():
    rng = np.random.default_rng(0)
    a = rng.random(200)
    worse = paired_stats(a, a - 0.1)
    assert worse["diff"] == pytest.approx(-0.1) and worse["ci_low"] == worse["ci_high"] == pytest.approx(-0.1)
    assert worse["p_wilcoxon"] < 1e-10
    same = paired_stats(a, a.copy())
    assert same["diff"] == 0 and same["p_t"] == 1.0 and same["p_wilcoxon"] == 1.0
    noise = paired_stats(a, a + rng.normal(0, 0.01, 200))
    assert noise["ci_low"] < 0 < noise["ci_high"] and noise["p_t"] > 0.05


def test_holm_known_answer():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(1*0.04, 0.06); None is not a test
    assert holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def _table(values: np.ndarray, buckets: list[str], users=None) -> pd.DataFrame:
    n = len(values)
    users = np.arange(n) if users is None else users
    return pd.DataFrame({"row": np.arange(n), "user": users, "activity": 0, "bucket": buckets,
                         "ndcg@10": values.astype(np.float32)})


def test_compare_tables_per_bucket_and_pairing():
    rng = np.random.default_rng(1)
    n = 300
    buckets = ["1-2"] * 100 + ["21+"] * 200
    a = rng.random(n)
    b = a.copy()
    b[100:] += 0.05  # B better only on the 21+ bucket
    ta, tb = _table(a, buckets), _table(b, buckets)
    tb = tb.iloc[::-1].iloc[:-10]  # shuffled order, and 10 users of A missing from B
    r = compare_tables(ta, tb, ["ndcg@10"])
    assert r["users"] == 290 and r["dropped_a"] == 10 and r["dropped_b"] == 0
    e = r["metrics"]["ndcg@10"]
    assert e["buckets"]["1-2"]["diff"] == 0 and e["buckets"]["1-2"]["n"] == 90
    assert e["buckets"]["21+"]["diff"] == pytest.approx(0.05, abs=1e-6)
    assert e["overall"]["diff"] == pytest.approx(0.05 * 200 / 290, abs=1e-6)
    assert e["buckets"]["21+"]["p_wilcoxon_holm"] == pytest.approx(2 * e["buckets"]["21+"]["p_wilcoxon"])


def _run(d, method, seed, values, buckets):
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"data": "toy", "split": "loo", "method": method, "backbone": "sasrec",
                                                "variant": "default", "study": "s", "seed": seed}))
    _table(values, buckets).to_parquet(d / "per_user_test.parquet")


def test_cli_sweep_dirs_average_seeds(tmp_path, capsys):
    buckets = ["1-2"] * 20 + ["3-5"] * 20
    base = np.linspace(0, 1, 40)
    _run(tmp_path / "A" / "0_s0", "baseline", 0, base, buckets)
    _run(tmp_path / "A" / "1_s1", "baseline", 1, base + 0.02, buckets)  # seed mean: base + 0.01
    _run(tmp_path / "B" / "0_s0", "scoter", 0, base + 0.11, buckets)
    assert compare_main([str(tmp_path / "A"), str(tmp_path / "B"), "--metrics", "ndcg@10",
                         "--out", str(tmp_path / "cmp")]) == 0
    res = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert res["a"]["seeds"] == [0, 1] and res["b"]["method"] == "scoter"
    assert res["sets"]["test"]["metrics"]["ndcg@10"]["overall"]["diff"] == pytest.approx(0.10, abs=1e-6)
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| ndcg@10 | 3-5 | 20 |" in md and "+0.1000" in md
    assert "+0.1000" in capsys.readouterr().out
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 5000  # A and B side by side per bucket


def test_cli_mixed_configurations_need_where(tmp_path, capsys):
    buckets = ["1-2"] * 5
    _run(tmp_path / "S" / "a", "baseline", 0, np.zeros(5), buckets)
    _run(tmp_path / "S" / "b", "scoter", 0, np.ones(5), buckets)
    assert compare_main([str(tmp_path / "S"), str(tmp_path / "S")]) == 2
    assert "2 configurations; narrow with --where" in capsys.readouterr().err
    assert compare_main([str(tmp_path / "S" / "a"), str(tmp_path / "S"), "--where", "method=scoter"]) == 2  # A filtered empty
    assert compare_main([str(tmp_path / "S" / "a"), str(tmp_path / "S" / "b")]) == 0


def test_cli_sets_by_eval_set_name_or_file_stem(tmp_path):
    buckets = ["0"] * 6
    for side, v in (("A", 0.0), ("B", 0.5)):
        _run(tmp_path / side, "baseline" if side == "A" else "scaletot", 0, np.full(6, v), buckets)
        _table(np.full(6, v + 0.1), buckets).to_parquet(tmp_path / side / "per_user_test_n0.parquet")  # set test/n=0
    for name in ("test/n=0", "test_n0"):
        out = tmp_path / f"cmp_{name.replace('/', '_')}"
        assert compare_main([str(tmp_path / "A"), str(tmp_path / "B"), "--sets", name, "--out", str(out)]) == 0
        assert list(json.loads((out / "compare.json").read_text())["sets"]) == ["test_n0"]
