"""docs/RESULTS.md is rendered from run records: means and spreads come from the runs, per-n extras included."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("make_results", ROOT / "scripts" / "make_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(seed: int, ndcg: float, valid_by_n: dict | None) -> dict:
    metrics = {es: {"overall": {"ndcg@10": ndcg}, "users": 10, "buckets": {}} for es in ("test/n=0", "test/n=1")}
    return {"study": "unit_study", "data": "synthetic", "split": "cold_item", "method": "next_user",
            "backbone": "two_tower", "variant": "full", "seed": seed, "mask_seen": True, "timings": {"total_s": 1.0},
            "machine": {}, "metrics": metrics, "extra": {"result_valid_ndcg20_by_n": valid_by_n} if valid_by_n else {}}


def test_render_reports_mean_and_spread_of_the_runs_and_the_validation_by_n_table():
    mr = _module()
    page = mr.render([_run(0, 0.10, {"0": 0.2, "10": 0.4}), _run(1, 0.20, {"0": 0.4, "10": 0.6})])
    assert "| next_user | two_tower | full | 0,1 | 0.1500 ± 0.0707 | 0.1500 ± 0.0707 |" in page
    assert "| n=0 | n=10 |" in page  # seed counts in numeric order
    assert "| next_user | two_tower | full | 0,1 | 0.3000 ± 0.1414 | 0.5000 ± 0.1414 |" in page


def test_render_leaves_the_validation_by_n_table_out_when_no_run_reports_it():
    page = _module().render([_run(0, 0.1, None), _run(1, 0.2, None)])
    assert "Validation NDCG@20 by seed count" not in page


def test_generation_study_renders_every_system_by_bucket():
    def run(seed, r1):
        b = {"0": {"users": 3, "rouge1": r1}, "6+": {"users": 2, "rouge1": r1 + 0.1}}
        m = {es: {"overall": {"rouge1": r1, "rougeL": r1 / 2, "meteor_nosyn": r1 / 3}, "users": 5, "buckets": b}
             for es in ("valid", "test", "test/both")}
        return {"study": "pat_unit", "data": "amazon", "split": "pgraphrag-text", "method": "pat", "backbone": "smollm2",
                "variant": "text", "seed": seed, "mask_seen": None, "timings": {}, "machine": {}, "metrics": m,
                "extra": {"result_system": "pat"}}

    page = _module().render([run(0, 0.2), run(1, 0.4)])
    assert "**rouge1, test users, overall and by visible-history bucket**" in page
    assert "| pgraphrag-text | smollm2 | text | pat | 0,1 | 5 | 0.3000 ± 0.1414 | 0.3000 ± 0.1414 (n=3) | 0.4000 ± 0.1414 (n=2) |" in page
    assert "| pgraphrag-text | smollm2 | text | both | 0,1 | 5 |" in page
    assert "NDCG@10" not in page and "| valid" not in page
