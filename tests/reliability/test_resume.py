"""Resume is exact and safe: a fit stopped after 2 epochs and resumed to 4 gives the uninterrupted run's
metrics, curve and logs; a checkpoint from another config or a damaged one is refused by name."""

import json

import pandas as pd
import pytest

from coldstart_exp.__main__ import run
from coldstart_exp.training.resume import ResumeError, ResumeState
from tests.conftest import compose

BASE = ["data=synthetic", "backbone=sasrec", "logger=csv", "threads=1", "trainer.patience=50",
        "trainer.progress_refresh=1000", "trainer.log_every=1"]


def _run(run_dir, cache, *ov):
    cfg = compose([*BASE, f"paths.output_dir={run_dir}", f"paths.cache_dir={cache}", *ov])
    run(cfg)
    return json.loads((run_dir / "metrics.json").read_text())


class _Killed(RuntimeError):
    pass


def _kill_at(monkeypatch, epoch: int, batch: int):
    """Stop the fit like kill -9 would: at a batch of `epoch`, after the checkpoint of epoch-1 was written
    and some of this epoch's rows were logged (nothing more is saved)."""
    def on_train_batch_end(self, trainer, pl_module, outputs, b, batch_idx):
        if trainer.current_epoch == epoch and batch_idx == batch:
            raise _Killed()

    monkeypatch.setattr(ResumeState, "on_train_batch_end", on_train_batch_end, raising=False)


def _val_by_epoch(run_dir):
    logged = pd.read_csv(run_dir / "csv" / "metrics.csv")
    fit = logged.dropna(subset=["val/ndcg@10"])
    return fit.drop_duplicates("epoch", keep="first").set_index("epoch")["val/ndcg@10"]


@pytest.mark.parametrize("epoch,batch", [(1, 1), (2, 0), (3, 1)])
def test_kill_and_resume_reproduces_uninterrupted_run(tmp_path, monkeypatch, epoch, batch):
    full = _run(tmp_path / "full", tmp_path / "cache", "trainer.max_epochs=4")
    part = tmp_path / "part"
    with monkeypatch.context() as m:
        _kill_at(m, epoch=epoch, batch=batch)
        with pytest.raises(_Killed):
            _run(part, tmp_path / "cache", "trainer.max_epochs=4")
    assert not (part / "metrics.json").exists()
    resumed = _run(part, tmp_path / "cache", "trainer.max_epochs=4", "trainer.resume=true")
    for set_name in full["metrics"]:
        a, b = full["metrics"][set_name]["overall"], resumed["metrics"][set_name]["overall"]
        for k in a:
            assert abs(a[k] - b[k]) < 1e-6, (set_name, k, a[k], b[k])
    curve_full = pd.read_csv(tmp_path / "full" / "val_curve.csv")
    curve = pd.read_csv(part / "val_curve.csv")
    assert list(curve["epoch"]) == list(curve_full["epoch"]) == [0, 1, 2, 3]
    assert (curve["val/ndcg@10"] - curve_full["val/ndcg@10"]).abs().max() < 1e-6
    assert curve["seconds"].is_monotonic_increasing
    # csv/metrics.csv: the epochs before the kill kept from the killed run, the killed epoch's rows not twice
    logged = pd.read_csv(part / "csv" / "metrics.csv")
    full_logged = pd.read_csv(tmp_path / "full" / "csv" / "metrics.csv")
    assert logged["step"].tolist() == full_logged["step"].tolist()
    assert (_val_by_epoch(part) - _val_by_epoch(tmp_path / "full")).abs().max() < 1e-6
    assert resumed["timings"]["fit_s"] > 0.4 * full["timings"]["fit_s"]  # the killed run's epochs count too
    assert resumed["resumed_from"]["step"] > 0
    assert sorted(p.name for p in (part / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]


def test_resume_with_other_config_is_refused_and_names_the_keys(tmp_path):
    run_dir = tmp_path / "run"
    _run(run_dir, tmp_path / "cache", "trainer.max_epochs=1")
    before = (run_dir / "config.yaml").read_text()
    with pytest.raises(ResumeError, match=r"(?s)seed: 0 -> 1.*trainer\.lr: 0\.001 -> 0\.01"):
        _run(run_dir, tmp_path / "cache", "trainer.max_epochs=2", "trainer.resume=true", "seed=1",
             "trainer.lr=0.01")
    assert (run_dir / "config.yaml").read_text() == before  # the refused run wrote nothing


def test_truncated_checkpoint_is_named_and_the_last_good_one_used(tmp_path, caplog):
    run_dir = tmp_path / "run"
    _run(run_dir, tmp_path / "cache", "trainer.max_epochs=1")
    last, best = run_dir / "checkpoints" / "last.ckpt", run_dir / "checkpoints" / "best.ckpt"
    last.write_bytes(last.read_bytes()[:2000])
    m = _run(run_dir, tmp_path / "cache", "trainer.max_epochs=2", "trainer.resume=true")  # falls back to best.ckpt
    assert "last.ckpt: cannot read the checkpoint" in caplog.text and "resuming from" in caplog.text
    assert m["resumed_from"]["checkpoint"].endswith("best.ckpt") and m["timings"]["epochs"] == 2
    for f in (last, best):  # both damaged: refused, naming the file
        f.write_bytes(f.read_bytes()[:2000])
    with pytest.raises(ResumeError, match=r"(?s)last\.ckpt: cannot read the checkpoint.*no readable .*best\.ckpt"):
        _run(run_dir, tmp_path / "cache", "trainer.max_epochs=3", "trainer.resume=true")
