"""An Optuna sweep's multirun summary names each trial by its parameters, best trial first (the sweeper's
optimization_results.yaml agrees) and every trial is in the sweep's SQLite storage; the callback creates the
folder of a sqlite:/// path before the sweeper opens it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml
from omegaconf import OmegaConf

from coldstart_exp.training.callbacks import MultirunSummary

ROOT = Path(__file__).resolve().parents[2]


def test_optuna_sweep_summary_ranks_trials_by_the_objective(tmp_path):
    sweep = tmp_path / "sweep"
    r = subprocess.run([sys.executable, "-m", "coldstart_exp", "hparams_search=sasrec_optuna", "data=synthetic",
                        "hydra.sweeper.n_trials=2", "trainer.max_epochs=1", "threads=1", "logger=none",
                        f"hydra.sweep.dir={sweep}"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    agg = pd.read_csv(sweep / "summary_by_config.csv")
    assert {"param:trainer.lr", "param:backbone.model.dropout", "param:backbone.model.hidden"} <= set(agg.columns)
    assert len(agg) == 2 and abs(agg["objective_mean"].iloc[0] - best["best_value"]) < 1e-6
    assert agg["objective_mean"].iloc[0] >= agg["objective_mean"].iloc[1]
    assert "best configuration first" in (sweep / "summary.md").read_text()
    # persistent storage: both trials, with their values, are in the sweep's SQLite file
    import optuna

    study = optuna.load_study(study_name="sasrec", storage=f"sqlite:///{sweep / 'optuna.db'}")
    assert len(study.trials) == 2 and abs(study.best_value - best["best_value"]) < 1e-6


def test_sqlite_storage_folder_created_before_the_sweeper_opens_it(tmp_path):
    db = tmp_path / "not" / "yet" / "optuna.db"
    MultirunSummary().on_multirun_start(OmegaConf.create({"hydra": {"sweeper": {"storage": f"sqlite:///{db}"}}}))
    assert db.parent.is_dir()
