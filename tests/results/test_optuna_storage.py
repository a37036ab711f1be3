"""Optuna sweeps keep their study in SQLite in the sweep dir (optuna-dashboard can open it; a rerun into the same
dir continues it), and the multirun summary names each trial by its parameters with the best trial first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def test_optuna_sweep_persists_trials_and_summary_ranks_them(tmp_path):
    sweep = tmp_path / "sweep"
    r = subprocess.run([sys.executable, "-m", "coldstart_exp", "hparams_search=sasrec_optuna", "data=synthetic",
                        "hydra.sweeper.n_trials=2", "trainer.max_epochs=1", "threads=1", "logger=none",
                        f"hydra.sweep.dir={sweep}"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    import optuna

    study = optuna.load_study(study_name="sasrec", storage=f"sqlite:///{sweep / 'optuna.db'}")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 2
    agg = pd.read_csv(sweep / "summary_by_config.csv")
    assert {"param:trainer.lr", "param:backbone.model.dropout", "param:backbone.model.hidden"} <= set(agg.columns)
    assert len(agg) == 2 and agg["objective_mean"].iloc[0] == max(t.value for t in done)
    assert agg["objective_mean"].iloc[0] >= agg["objective_mean"].iloc[1]
    assert "best configuration first" in (sweep / "summary.md").read_text()
