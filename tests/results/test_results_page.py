"""docs/RESULTS.md: a table of contents and a generated paired-significance column (method vs its baseline)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rec(tmp_path, study, method, seed, values, files=True):
    d = tmp_path / f"{study}_{method}_{seed}"
    d.mkdir()
    if files:
        pd.DataFrame({"row": np.arange(len(values)), "user": np.arange(len(values)), "bucket": "21+",
                      "ndcg@10": values}).to_parquet(d / "per_user_test.parquet")
    m = {"test": {"overall": {"ndcg@10": float(np.mean(values))}, "users": len(values), "buckets": {}}}
    return {"study": study, "data": "toy", "split": "loo", "method": method, "backbone": "sasrec", "variant": "default",
            "seed": seed, "mask_seen": False, "timings": {}, "machine": {}, "metrics": m, "extra": {}, "run_dir": str(d)}


def test_results_page_has_contents_and_generated_significance(tmp_path):
    mr = _module("make_results")
    rng = np.random.default_rng(0)
    base = rng.random(400) * 0.2
    rows = [_rec(tmp_path, "base_study", "baseline", 0, base),
            _rec(tmp_path, "scoter_study", "scoter", 0, base + 0.01),          # better on every user
            _rec(tmp_path, "scoter_study", "scoter", 1, base + 0.03),          # seed mean: +0.02
            _rec(tmp_path, "tiger_study", "tiger", 0, base, files=False)]
    page = mr.render(rows)
    assert "- [scoter_study](#scoter_study)" in page and page.index("**Contents**") < page.index("## base_study")
    assert "| (reference) |" in page
    line = next(x for x in page.splitlines() if "| scoter |" in x and "0,1" in x)
    assert "+0.0200 [+0.0200, +0.0200]" in line and "(vs base_study)" in line
    tiger = next(x for x in page.splitlines() if "| tiger |" in x)
    assert tiger.endswith("n/a (no per-user files) |")
    # one overview table per method, before the study sections, with the same generated significance
    over = page[page.index("## Overview by method"):page.index("## base_study")]
    assert all(f"**{m}**" in over for m in ("baseline", "scoter", "tiger"))
    row = next(x for x in over.splitlines() if x.startswith("| scoter_study |"))
    assert "| 0,1 |" in row and "+0.0200 [+0.0200, +0.0200]" in row


def test_paired_cells_survive_on_a_machine_without_the_per_user_files(tmp_path):
    """A paired test computed once is kept (docs/results/paired.json) under the runs it compares, so the page
    renders the same where the uncommitted per-user files are absent; a new comparison there stays n/a."""
    mr = _module("make_results")
    base = np.random.default_rng(1).random(300) * 0.2
    rows = [_rec(tmp_path, "s", "baseline", 0, base), _rec(tmp_path, "s", "scoter", 0, base + 0.01)]
    first = mr.render(rows)
    assert "+0.0100 [+0.0100, +0.0100]" in first and len(mr.PAIRED) == 1
    for f in tmp_path.glob("*/per_user_test.parquet"):
        f.unlink()
    mr._SIGNIFICANCE.clear()
    assert mr.render(rows) == first  # served from the store
    fresh = _module("make_results")  # nothing stored: the same rows without files are n/a
    assert "n/a (no per-user files)" in fresh.render(rows)
    rows[1]["run_dir"] += "_other"  # another run is another key
    mr._SIGNIFICANCE.clear()
    assert "n/a (no per-user files)" in mr.render(rows)


def test_scaletot_rows_are_paired_with_their_own_profile_mlp_arm(tmp_path):
    mr = _module("make_results")
    base = np.random.default_rng(2).random(200) * 0.2
    rows = [_rec(tmp_path, "s", "scaletot", 0, base), _rec(tmp_path, "s", "scaletot", 1, base + 0.05)]
    rows[0]["variant"], rows[1]["variant"] = "profile_mlp", "control_oracle"
    rows[1]["seed"] = 0
    page = mr.render(rows)
    assert next(x for x in page.splitlines() if "| profile_mlp |" in x and "| s |" in x).endswith("(reference) |")
    line = next(x for x in page.splitlines() if "| control_oracle |" in x and "| s |" in x)
    assert "+0.0500 [+0.0500, +0.0500]" in line and "(vs s)" in line


def test_harvest_keeps_the_best_optuna_trial_not_the_last(tmp_path):
    import json

    mr = _module("make_results")
    sweep = tmp_path / "results" / "tune"
    for i, (lr, valid) in enumerate([(0.001, 0.30), (0.01, 0.10)]):  # the last trial is the worse one
        d = sweep / f"{i}_baseline-sasrec-toy-loo-s0"
        d.mkdir(parents=True)
        m = {"study": "tune", "data": "toy", "split": "loo", "method": "baseline", "backbone": "sasrec", "seed": 0,
             "run": {"overrides": [f"trainer.lr={lr}", "backbone.model.hidden=64"]},
             "metrics": {"valid": {"overall": {"ndcg@10": valid}, "users": 5, "buckets": {}}}}
        (d / "metrics.json").write_text(json.dumps(m))
    (sweep / "optimization_results.yaml").write_text("name: optuna\nbest_params:\n  trainer.lr: 0.001\n"
                                                     "  backbone.model.hidden: 64\nbest_value: 0.3\n")
    rows = mr.harvest(tmp_path / "results", tmp_path / "runs.jsonl")
    assert len(rows) == 1 and rows[0]["metrics"]["valid"]["overall"]["ndcg@10"] == 0.30


def test_harvest_files_adhoc_runs_under_their_folder(tmp_path):
    import json

    mr = _module("make_results")
    d = tmp_path / "results" / "mystudy" / "run1"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"study": "adhoc", "data": "toy", "split": "loo", "method": "baseline",
                                                "backbone": "pop", "seed": 0, "metrics": {}}))
    assert [r["study"] for r in mr.harvest(tmp_path / "results", tmp_path / "runs.jsonl")] == ["mystudy"]
