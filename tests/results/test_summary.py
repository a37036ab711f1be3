"""Multirun summary: jobs identified by their swept parameters, seeds aggregated to mean ± std (n), best
configuration first by the optimised metric; run records (rounding, best epoch, provenance)."""

from __future__ import annotations

import json

import pytest

from coldstart_exp.eval.report import best_epoch, round_floats, run_record
from coldstart_exp.training.callbacks import aggregate_markdown, aggregate_seeds, summarise_runs


def _job(sweep, name, seed, lr, valid, test):
    d = sweep / name
    d.mkdir(parents=True)
    m = {"data": "toy", "method": "baseline", "backbone": "sasrec", "split": "loo", "variant": "default", "seed": seed,
         "run": {"overrides": ["data=toy", f"seed={seed}", f"trainer.lr={lr}"]}, "best": {"epoch": 3},
         "metrics": {"valid": {"users": 10, "overall": {"ndcg@10": valid}},
                     "test": {"users": 10, "overall": {"ndcg@10": test, "recall@10": 2 * test}}}}
    (d / "metrics.json").write_text(json.dumps(m))


def test_summary_swept_params_and_seed_aggregation(tmp_path):
    _job(tmp_path, "0_a", 0, 0.001, 0.10, 0.20)
    _job(tmp_path, "1_a", 1, 0.001, 0.12, 0.30)
    _job(tmp_path, "2_b", 0, 0.01, 0.30, 0.05)
    df = summarise_runs(tmp_path, "valid/ndcg@10")
    assert list(df["param:trainer.lr"]) == ["0.001", "0.001", "0.01"]  # data=toy is not swept: no column
    assert "param:data" not in df and "param:seed" not in df
    agg = aggregate_seeds(df, ["objective", "ndcg@10"])
    assert list(agg["param:trainer.lr"]) == ["0.01", "0.001"]  # best objective (valid) first
    lo = agg.iloc[1]
    assert lo["n"] == 2 and lo["seeds"] == "0,1"
    assert lo["ndcg@10_mean"] == pytest.approx(0.25) and lo["ndcg@10_std"] == pytest.approx(0.0707107, rel=1e-5)
    md = aggregate_markdown(agg, ["objective", "ndcg@10"])
    assert "| 0,1 (2) | 0.1100 ± 0.0141 | 0.2500 ± 0.0707 |" in md
    assert "| 0 (1) | 0.3000 | 0.0500 |" in md


def test_round_floats_and_best_epoch():
    assert round_floats({"a": [0.5633333325386047, 1e-9 / 3], "b": float("nan"), "c": 3}) == \
        {"a": [0.563333, 3.33333e-10], "b": pytest.approx(float("nan"), nan_ok=True), "c": 3}
    curve = [{"epoch": 0, "step": 5, "val/ndcg@10": 0.1}, {"epoch": 1, "step": 10, "val/ndcg@10": 0.3},
             {"epoch": 2, "step": 15, "val/ndcg@10": 0.3}, {"epoch": 3, "step": 20, "val/ndcg@10": 0.2}]
    assert best_epoch(curve, "val/ndcg@10") == {"epoch": 1, "step": 10, "val/ndcg@10": 0.3}  # first of ties
    assert best_epoch([], "val/ndcg@10") is None


def test_run_record_names_code_command_and_libraries():
    r = run_record(12.0)
    assert len(r["git"]["commit"]) == 40 and isinstance(r["git"]["dirty"], bool)
    assert "pytest" in r["command"]
    assert r["versions"]["torch"].startswith("2.") and r["versions"]["numpy"] and r["versions"]["lightning"]
    assert r["started_at"].endswith("+00:00") and r["cpu_model"]
