"""The W&B side of `experiment.finish`, without training: two jobs in one process (as a --multirun does) give
two offline runs, each with its group, job type, tags, final and per-bucket scalars, the bar chart and the best
epoch in its summary, read back from the offline run files."""

from __future__ import annotations

from coldstart_exp.training.lightning import close_loggers, log_payload, wandb_logger

from .wandb_offline import read_run


def _payload(seed: int) -> dict:
    b = {"1-2": {"users": 4, "ndcg@10": 0.1 + seed}, "21+": {"users": 6, "ndcg@10": 0.3 + seed}}
    return {"best": {"epoch": 3 + seed, "step": 40, "val/ndcg@10": 0.5},
            "metrics": {"valid": {"overall": {"ndcg@10": 0.5}, "users": 10, "buckets": b},
                        "test": {"overall": {"ndcg@10": 0.2 + seed}, "users": 10, "buckets": b}}}


def test_two_jobs_in_one_process_give_two_complete_offline_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    for seed in (0, 1):
        run_dir = tmp_path / f"job{seed}"
        lg = wandb_logger(project="p", name=f"run-s{seed}", save_dir=str(run_dir), group="study_x",
                          job_type="scoter", tags=["data=toy", f"seed={seed}"])
        assert lg.coldstart_mode == "offline"
        lg.log_hyperparams({"seed": seed})
        log_payload([lg], _payload(seed), run_dir, curve=[{"epoch": 0, "val/ndcg@10": 0.4}], chart=["ndcg@10"])
        close_loggers([lg])
    runs = [read_run(next((tmp_path / f"job{s}" / "wandb").glob("offline-run-*"))) for s in (0, 1)]
    for seed, run in enumerate(runs):
        assert (run["group"], run["job_type"], set(run["tags"])) == ("study_x", "scoter", {"data=toy", f"seed={seed}"})
        assert run["config"]["seed"] == seed
        s = run["summary"]
        assert s["test/ndcg@10"] == 0.2 + seed and s["test/bucket/21+/ndcg@10"] == 0.3 + seed
        assert s["test/bucket/1-2/users"] == 4 and s["best/epoch"] == 3 + seed
        assert any(k.startswith("test/buckets_ndcg@10") for k in s), sorted(s)  # the native bar chart
        assert not any(k.startswith(("valid/", "val/buckets_")) for k in s)  # one validation namespace, no chart
        assert s["val/ndcg@10"] == 0.5 and s["val/bucket/21+/ndcg@10"] == 0.3 + seed  # the best checkpoint's
        hist = {k for row in run["history"] for k in row}
        assert "test/bucket/1-2/ndcg@10" in hist  # also logged as a step: panels can plot it
        assert not any(k.startswith("valid/") for k in hist)
