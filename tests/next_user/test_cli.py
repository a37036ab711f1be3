"""End to end through the CLI on synthetic data: per-n eval sets, next-user recall, ablation labels."""

from __future__ import annotations

import json
import subprocess
import sys


def test_method_selects_cold_item_split_and_cli_override_wins(compose):
    assert compose(["method=next_user"]).split.name == "cold_item"
    assert compose(["method=next_user", "split=loo"]).split.name == "loo"
    assert compose(["method=baseline"]).split.name == "loo"


def test_cli_run_writes_metrics_by_seed_count(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "coldstart_exp", "method=next_user", "data=synthetic", "logger=wandb",
           f"paths.output_dir={out}", "paths.cache_dir=/tmp/nu_test_cache", "trainer.max_epochs=1",
           "method.epochs=2", "method.tower_epochs=2", "method.use_text=false", "ablation=next_user/no_prefix",
           "threads=1"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "hnsw_vs_exact@50" in res.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["variant"] == "no_prefix" and m["switches"]["use_prefix"] is False
    written = (out / "config.yaml").read_text()  # the composed config is the whole truth about the run
    assert "variant: no_prefix" in written and "use_prefix: false" in written
    assert (out / "val_curve.csv").exists() and (out / "checkpoints" / "best.pt").exists()
    assert m["split"] == "cold_item"
    for n in (0, 1, 2, 5, 10):
        name = f"test/n={n}"
        assert name in m["metrics"] and m["metrics"][name]["users"] > 0
        assert 0.0 <= m["metrics"][name]["overall"]["ndcg@10"] <= 1.0
        f = m["next_user"][name]
        assert 0.0 <= f["next_user_recall@20"] <= f["next_user_recall@50"] <= 1.0
        assert f["hnsw_recall@50_vs_exact"] >= 0.95
    assert (out / "buckets.csv").exists() and (out / "per_user_test_n0.parquet").exists()
    runs = list((out / "wandb").glob("offline-run-*"))  # the method trains outside Lightning, yet logs like any
    assert len(runs) == 1
    files = {p.name for p in runs[0].rglob("*")}
    assert any("buckets" in f for f in files) and any("val_curve" in f for f in files)


def test_seed_and_content_skips_apply_to_the_generator_but_not_to_the_content_only_baseline(synth, compose):
    from coldstart_exp.methods.next_user import build_model
    from coldstart_exp.methods.next_user.towers import UserTower

    _, tables, _ = synth
    cases = (("full", [], True, False), ("content_only", [], False, False), ("no_seed_skip", [], False, False),
             ("content_skip", [], True, True), ("content_only", ["method.content_skip=true"], False, False))
    for ablation, extra, seed_skip, content_skip in cases:
        cfg = compose(["method=next_user", "data=synthetic", "method.use_text=false",
                       f"ablation=next_user/{ablation}", *extra])
        tower = UserTower(tables.n_users, [], int(cfg.method.dim), False, 0.0)
        gen = build_model(cfg, tables, tower, "/tmp/nu_test_cache").gen
        assert (gen.seed_skip, gen.content_skip) == (seed_skip, content_skip), (ablation, extra)
