"""PAT pipeline from the composed config (scripted LLM, synthetic reviews): sets, samples, metrics."""

import json

import pytest

from coldstart_exp.eval.report import write_eval_outputs
from coldstart_exp.methods.pat.pipeline import PatPipeline

from .synthetic import synthetic_reviews


def _pipeline(cfg, run_dir):
    """The pipeline as run() builds it: split=pgraphrag over a reviews table, the generation task's evaluator."""
    from types import SimpleNamespace

    from coldstart_exp.data.splits import make_split
    from coldstart_exp.experiment import make_evaluator

    tables = SimpleNamespace(name="synthetic_reviews", reviews=synthetic_reviews())
    return PatPipeline(cfg, make_split(tables, cfg.split), make_evaluator(cfg), run_dir)


def test_pipeline_runs_every_compared_system(cfg_factory, tmp_path):
    cfg = cfg_factory("method=pat", "llm=fake", "llm.cache.mode=off", "method.rl.rounds=0",
                      "method.compare=[reference,none,both,pat_norl]", "split.n_test=8",
                      "split.n_valid=4", "split.n_train=0", "method.retrieval.sage_epochs=5")
    pipe = _pipeline(cfg, tmp_path / "run")
    tables, samples = pipe.evaluate()
    assert set(tables) == {"valid", "test", *(f"{s}/{c}" for s in ("valid", "test") for c in ("reference", "none", "both", "pat_norl"))}
    assert len(tables["test"]) == 8 and set(tables["test"].bucket) == {"0", "1-2", "3-5", "6+"}
    # the same users in the same order in every system's table: paired comparisons line up
    assert list(tables["test"].user) == list(tables["test/both"].user)
    paired = pipe.facts["paired"]
    best = next(k for k in paired if k != "pat_vs_pat_norl")
    assert best in ("pat_vs_none", "pat_vs_both") and paired[best]["baseline_chosen_on"] == "valid/rougeL"
    # rl.rounds=0: pat is pat_norl, every user ties
    assert paired["pat_vs_pat_norl"]["rouge1"]["ties"] == 8 and paired["pat_vs_pat_norl"]["rouge1"]["wilcoxon_p"] is None
    s = samples["test"][0]
    assert set(s) >= {"input", "summaries", "output", "gold", "context"} and set(s["summaries"]) == {"style", "topic"}
    pipe.write_samples(samples)
    rows = (tmp_path / "run" / "samples" / "test_both.jsonl").read_text().splitlines()
    assert len(rows) == 8 and json.loads(rows[0])["gold"] == samples["test/both"][0]["gold"]
    payload = write_eval_outputs(tmp_path / "run", tables, pipe.evaluator.names, [0, 1, 3, 6], {},
                                 chart=["rouge1", "rougeL", "meteor_nosyn"])
    m = payload["metrics"]["test/reference"]
    assert m["overall"]["rouge1"] == pytest.approx(tables["test/reference"].rouge1.mean())
    assert m["overall"]["rouge1"] > 0  # copying a neighbour's review shares words with the gold one
    assert (tmp_path / "run" / "buckets.png").exists()


def test_unknown_system_is_a_config_error(cfg_factory, tmp_path):
    cfg = cfg_factory("method=pat", "llm=fake", "method.compare=[pgraphrag]")
    with pytest.raises(ValueError, match="conf/method/pat.yaml.*pgraphrag"):
        _pipeline(cfg, tmp_path)


def test_rl_needs_a_local_model(cfg_factory, tmp_path):
    cfg = cfg_factory("method=pat", "llm=fake", "llm.cache.mode=off", "method.compare=[]", "split.n_test=2",
                      "split.n_valid=0", "split.n_train=2", "method.retrieval.sage_epochs=2")
    with pytest.raises(ValueError, match="rl.rounds > 0 needs a local model"):
        _pipeline(cfg, tmp_path).evaluate()
