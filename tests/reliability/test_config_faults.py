"""Config faults, one line each: the overrides and the message expected. Type/range errors fail at the start of
`prepare`, before the run dir is written or any data read; the message names the key and the bad value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from coldstart_exp.experiment import prepare
from coldstart_exp.schema import ConfigError
from coldstart_exp.training.resume import ResumeError, RunDirBusy
from tests.conftest import compose

BASE = ["data=synthetic", "logger=none", "backbone=sasrec"]

FAULTS = [  # (id, overrides, expected message regex)
    ("lr_not_number", ["trainer.lr=abc"], r"trainer\.lr = 'abc': Input should be a valid number"),
    ("max_epochs_word", ["trainer.max_epochs=two"], r"trainer\.max_epochs = 'two': Input should be a valid integer"),
    ("ks_zero", ["eval.ks=[0]"], r"eval\.ks\[0\] = 0: Input should be greater than or equal to 1"),
    ("ks_empty", ["eval.ks=[]"], r"eval\.ks = \[\]"),
    ("holdout_frac_above_1", ["split=cold_user", "split.holdout_frac=1.5"], r"split\.holdout_frac = 1\.5: .*less than 1"),
    ("n_support_negative", ["split=cold_user", "split.n_support=[-1,2]"], r"split\.n_support\[0\] = -1"),
    ("seed_negative", ["seed=-1"], r"seed = -1: .*greater than or equal to 0"),
    ("bucket_edges_unsorted", ["eval.bucket_edges=[0,6,3,11]"], r"eval\.bucket_edges = \[0, 6, 3, 11\]: .*increase"),
    ("kcore_negative", ["data.kcore=-3"], r"data\.kcore = -3"),
    ("on_bad_rows_typo", ["data.on_bad_rows=skp"], r"data\.on_bad_rows = 'skp'"),
    ("duplicates_typo", ["data.duplicates=remove"], r"data\.duplicates = 'remove'"),
    ("resume_typo", ["trainer.resume=maybe"], r"trainer\.resume = 'maybe'"),
    ("threads_zero", ["threads=0"], r"threads = 0"),
    ("metric_unknown", ["eval.metrics=[ndcg,auc]"], r"eval\.metrics\[1\] = 'auc'"),
    ("batch_size_zero", ["trainer.batch_size=0"], r"trainer\.batch_size = 0"),
    ("backbone_knob_typo", ["+backbone.model.hiden=128"],  # a key added with + (or in a YAML file)
     r"backbone\.model\.hiden = 128: coldstart_exp\.backbones\.sasrec\.SASRec takes no such parameter \(it takes: .*hidden"),
    ("backbone_knob_type", ["backbone.model.dropout=abc"], r"backbone\.model\.dropout = 'abc': expected float"),
    ("backbone_knob_type_other", ["backbone=gru4rec", "backbone.model.layers=1.5"], r"backbone\.model\.layers = 1\.5: expected int"),
    ("two_errors_listed_together", ["trainer.lr=-1", "split=cold_user", "split.valid_n_support=-2"],
     r"(?s)trainer\.lr = -1.*split\.valid_n_support = -2"),
]


@pytest.mark.parametrize("name,overrides,expected", FAULTS, ids=[f[0] for f in FAULTS])
def test_config_fault_fails_before_anything_is_written(tmp_path, name, overrides, expected):
    cfg = compose([*BASE, *overrides], tmp_path)
    with pytest.raises(ConfigError, match=expected):
        prepare(cfg)
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_eval_set_without_users_is_refused_before_training(tmp_path):
    cfg = compose([*BASE, "split=cold_user", "split.n_support=[2,100000]"], tmp_path)
    with pytest.raises(ConfigError, match=r"test/n=100000.*have no users.*split\.n_support"):
        prepare(cfg)


def test_cutoff_above_item_count_is_stated(tmp_path, caplog):
    ctx = prepare(compose([*BASE, "eval.ks=[5,100000]"], tmp_path))
    assert "eval.ks=[5, 100000]: cut-off(s) [100000] exceed the 120 items" in caplog.text
    ctx.lock.release()


def test_second_run_into_a_busy_run_dir_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from filelock import FileLock; "
                               f"lock = FileLock({str(tmp_path / 'run' / '.run.lock')!r}); lock.acquire(); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirBusy, match=r"run is being written by another run"):
            prepare(compose(BASE, tmp_path))
    finally:
        holder.kill()
        holder.wait()


def test_resume_without_checkpoint_says_so(tmp_path, caplog):
    ctx = prepare(compose([*BASE, "trainer.resume=true"], tmp_path))
    assert ctx.resume_from is None and "no checkpoint at" in caplog.text and "starting from scratch" in caplog.text
    ctx.lock.release()


def test_resume_of_a_checkpoint_without_config_needs_force(tmp_path):
    import torch

    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {}, "global_step": 3}, tmp_path / "run" / "checkpoints" / "last.ckpt")
    with pytest.raises(ResumeError, match=r"carries no config.*trainer\.resume=force"):
        prepare(compose([*BASE, "trainer.resume=true"], tmp_path))
