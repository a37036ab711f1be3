"""End to end on synthetic data with the scripted LLM and the hashing encoder (seconds, no model)."""

import json

import pandas as pd
import yaml
from hydra import compose, initialize_config_dir

from coldstart_exp.methods.scoter import run

ROOT = __import__('pathlib').Path(__file__).resolve().parents[2]


def _cfg(tmp_path, *extra):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=[
            "method=scoter", "data=synthetic", "llm=fake", "method.encoder=hash", "logger=none", "threads=1",
            "trainer.max_epochs=1", f"paths.output_dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}",
            "method.gvm.users=30", "method.gvm.n_chains=2", "method.teacher.max_users=40", "method.student.epochs=3", "method.gvm.k=3", "method.gvm.min_support=2",
            *extra])


def test_gvm_stage_writes_pattern_and_statistics(tmp_path):
    assert run(_cfg(tmp_path, "method.stage=gvm")) == {}
    gdir = next((tmp_path / "cache" / "scoter" / "synthetic").glob("gvm-*"))
    pat = yaml.safe_load((gdir / "pattern.yaml").read_text())
    assert pat["k"] == 3 and len(pat["steps"]) == 3 and pat["support"] >= 2
    stats = pd.read_csv(gdir / "pattern_stats.csv")
    assert {"pattern", "support", "mean_score", "chosen"} <= set(stats.columns) and stats.chosen.sum() == 1


def test_train_run_writes_metrics_with_method_facts(tmp_path):
    payload = run(_cfg(tmp_path))
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["method"] == "scoter" and "test" in m["metrics"]
    sc = m["scoter"]
    assert sc["teacher_users"] == 40 and sc["teacher_chains"] == 40 * 3
    assert sc["student"]["served"] == 3 * 300 - 40 * 3  # every (user, cut) the teacher did not reach
    assert sc["llm_counters"]["cache_misses"] > 0 and sc["teacher_llm_counters"]["prompts"] > 0
    assert 0.0 < m["gate_mean"]["test"] < 1.0
    assert (tmp_path / "run" / "scoter_example_chains.csv").exists()
    assert payload["metrics"]["test"]["overall"]["ndcg@10"] >= 0
    # warm re-run: the GVM pattern and the bank come from disk
    again = run(_cfg(tmp_path, "variant=warm", "method.ablate.pooled=true"))
    m2 = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m2["scoter"]["llm_counters"] is None and m2["scoter"]["k"] == 1  # the LLM was not even built
    assert again["metrics"]["test"]["overall"]
