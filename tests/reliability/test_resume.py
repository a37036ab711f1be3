"""Resume is exact and safe: a fit stopped after 2 epochs and resumed to 4 gives the uninterrupted run's
metrics, curve and logs; a checkpoint from another config or a damaged one is refused by name."""

import json

import pandas as pd
import pytest

from coldstart_exp.run import run
from coldstart_exp.training.resume import ResumeError
from tests.conftest import compose

BASE = ["data=synthetic", "backbone=sasrec", "logger=csv", "threads=1", "trainer.patience=50",
        "trainer.progress_refresh=1000", "trainer.log_every=1"]


def _run(run_dir, cache, *ov):
    cfg = compose([*BASE, f"paths.output_dir={run_dir}", f"paths.cache_dir={cache}", *ov])
    run(cfg)
    return json.loads((run_dir / "metrics.json").read_text())


def test_stop_and_resume_reproduces_uninterrupted_run(tmp_path):
    full = _run(tmp_path / "full", tmp_path / "cache", "trainer.max_epochs=4")
    part = tmp_path / "part"
    _run(part, tmp_path / "cache", "trainer.max_epochs=2")
    resumed = _run(part, tmp_path / "cache", "trainer.max_epochs=4", "trainer.resume=true")
    for set_name in full["metrics"]:
        a, b = full["metrics"][set_name]["overall"], resumed["metrics"][set_name]["overall"]
        for k in a:
            assert abs(a[k] - b[k]) < 1e-6, (set_name, k, a[k], b[k])
    curve_full = pd.read_csv(tmp_path / "full" / "val_curve.csv")
    curve = pd.read_csv(part / "val_curve.csv")
    assert list(curve["epoch"]) == [0, 1, 2, 3]
    assert (curve["val/ndcg@10"] - curve_full["val/ndcg@10"]).abs().max() < 1e-6
    assert curve["seconds"].is_monotonic_increasing
    logged = pd.read_csv(part / "csv" / "metrics.csv")
    val_epochs = logged.dropna(subset=["val/ndcg@10"])["epoch"].tolist()
    assert val_epochs == [0, 1, 2, 3]  # epochs 0-1 kept from the first run, none twice
    assert resumed["timings"]["fit_s"] >= full["timings"]["fit_s"] * 0.3  # the first 2 epochs count too
    assert resumed["resumed_from"]["step"] > 0


def test_resume_with_other_config_is_refused_and_names_the_keys(tmp_path):
    run_dir = tmp_path / "run"
    _run(run_dir, tmp_path / "cache", "trainer.max_epochs=1")
    before = (run_dir / "config.yaml").read_text()
    with pytest.raises(ResumeError, match=r"(?s)seed: 0 -> 1.*trainer\.lr: 0\.001 -> 0\.01"):
        _run(run_dir, tmp_path / "cache", "trainer.max_epochs=2", "trainer.resume=true", "seed=1",
             "trainer.lr=0.01")
    assert (run_dir / "config.yaml").read_text() == before  # the refused run wrote nothing


def test_truncated_checkpoint_is_named(tmp_path):
    run_dir = tmp_path / "run"
    _run(run_dir, tmp_path / "cache", "trainer.max_epochs=1")
    last = run_dir / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:2000])
    with pytest.raises(ResumeError, match=r"last\.ckpt: cannot read the checkpoint"):
        _run(run_dir, tmp_path / "cache", "trainer.max_epochs=2", "trainer.resume=true")
