"""`method=pat data=amazon_reviews` end to end with the scripted LLM (the real Musical Instruments file)."""

import json
import os
from pathlib import Path

import pytest

MI = Path(os.environ["COLDSTART_DATA_DIR"]) / "amazon_musical_instruments_reviews"


@pytest.mark.skipif(not MI.exists(), reason="shared Musical Instruments reviews not present")
def test_run_writes_metrics_samples_and_per_user_tables(cfg_factory, tmp_path, capsys):
    from coldstart_exp.methods.pat import run

    cfg = cfg_factory("method=pat", "data=amazon_reviews", "llm=fake", "llm.cache.mode=off", "logger=none",
                      "method.rl.rounds=0", "method.compare=[reference,both]", "split.n_test=8",
                      "split.n_valid=4", "method.retrieval.sage_epochs=5", "threads=1")
    payload = run(cfg)
    out = capsys.readouterr().out
    assert "[test] users=8" in out and "meteor_nosyn=" in out and "bucket    3-5" in out and "[valid" not in out
    d = tmp_path / "run"
    m = json.loads((d / "metrics.json").read_text())
    assert m["metrics"]["test"]["overall"].keys() == {"rouge1", "rougeL", "meteor_nosyn"}
    assert set(m["metrics"]["test"]["buckets"]) == {"0", "1-2", "3-5", "6+"}
    assert m["split"] == "pgraphrag-text" and m["result_system"] == "pat" and "pat_vs_both" in m["paired"]
    assert payload["metrics"]["test/reference"]["overall"]["rouge1"] > payload["metrics"]["test"]["overall"]["rouge1"]
    assert (d / "per_user_test_both.parquet").exists() and len((d / "samples" / "test.jsonl").read_text().splitlines()) == 8
