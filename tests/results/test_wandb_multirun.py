"""A 2-seed `--multirun ... logger=wandb` without credentials: two offline W&B runs (one per job), grouped by
study, job type = method, tagged, with final and per-bucket scalars and best-epoch values in the summary,
read back from the offline run files; credential detection (key, `wandb login` netrc entry)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from coldstart_exp.training.lightning import wandb_credentials

from .wandb_offline import read_run

ROOT = Path(__file__).resolve().parents[2]


def test_two_seed_multirun_gives_two_grouped_offline_runs_with_bucket_scalars(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env["NETRC"] = str(tmp_path / "no-netrc")  # no `wandb login` entry either: offline
    r = subprocess.run([sys.executable, "-m", "coldstart_exp", "--multirun", "data=synthetic", "seed=0,1",
                        "logger=wandb", "trainer.max_epochs=2", "threads=1", "study=wbstudy",
                        f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "W&B offline (no W&B credentials)" in r.stdout + r.stderr
    runs = sorted((tmp_path / "sweep").glob("*/wandb/offline-run-*"))
    assert len(runs) == 2 and runs[0].parents[1] != runs[1].parents[1]  # one run per job, in its own run dir
    got = [read_run(d) for d in runs]
    for seed, (run, d) in enumerate(zip(got, runs)):
        metrics = json.loads((d.parents[1] / "metrics.json").read_text())
        assert run["group"] == "wbstudy" and run["job_type"] == "baseline"
        assert set(run["tags"]) == {"data=synthetic", "backbone=sasrec", "split=loo", "variant=default", f"seed={seed}"}
        assert run["config"]["seed"] == seed  # the job's own config, not the first job's
        s = run["summary"]
        test = metrics["metrics"]["test"]
        assert abs(s["test/ndcg@10"] - test["overall"]["ndcg@10"]) < 1e-6
        buckets = [b for b in test["buckets"] if test["buckets"][b]["users"] > 0]
        assert buckets and all(abs(s[f"test/bucket/{b}/ndcg@10"] - test["buckets"][b]["ndcg@10"]) < 1e-6 for b in buckets)
        assert s["best/epoch"] == metrics["best"]["epoch"] and "best/val/ndcg@10" in s
        assert any(k.startswith("test/buckets_ndcg@10") for k in s)  # the native bar chart (custom chart table)
    assert got[0]["summary"]["test/ndcg@10"] != got[1]["summary"]["test/ndcg@10"]  # two seeds, two results


def test_credentials_from_key_or_netrc(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert wandb_credentials() is None
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password abc123\n")
    assert wandb_credentials() == "netrc"
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")
    assert wandb_credentials() is None  # an entry for another host does not count
    monkeypatch.setenv("WANDB_API_KEY", "k")
    assert wandb_credentials() == "WANDB_API_KEY"
