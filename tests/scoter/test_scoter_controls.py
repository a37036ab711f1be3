"""CONTROL teachers of SCoTER (issue #17): chains written from data, same bank / student / fusion."""

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from coldstart_exp.methods.scoter import controls, distill

ROOT = Path(__file__).resolve().parents[2]


def _cfg(tmp_path, *extra):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=[
            "method=scoter", "data=synthetic", "llm=fake", "method.encoder=hash", "logger=none", "threads=1",
            "trainer.max_epochs=1", f"paths.output_dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}",
            "method.student.epochs=3", "method.gvm.k=3", *extra])


def writer():
    cats = [[], ["Drama"], ["Comedy"], ["Comedy", "Romance"], ["Horror"]]
    pop = np.array([0, 5, 1, 3, 9], float)  # item tertile edges over [5, 1, 3, 9]: 3.0, 5.0 (numpy linear)
    return controls.ChainWriter(cats, pop, "movie", k=4, recent=2)


def test_informed_steps_state_the_visible_history():
    w = writer()
    s = w.steps([1, 1, 2, 3, 4])
    assert s[0] == "The user mostly chooses Comedy, Drama, Horror movies."  # Comedy 2, Drama 2 (by name), Horror 1
    assert s[1] == "Recently the user chose Comedy, Horror movies."  # last 2 items: 3 (Comedy, Romance), 4 (Horror)
    assert s[2] == "The user prefers mid-popularity movies."  # mean popularity (5+5+1+3+9)/5 = 4.6 in [3, 5)
    assert s[3] == "The next movie is likely a Horror movie."  # the latest item's categories
    assert w.steps([1, 2], target=3)[3] == "The next movie is a Comedy, Romance movie."  # the oracle's leak


def test_controls_on_the_split(synth):
    tables, split = synth
    hists = distill.cut_histories(split)
    cats = [list(x) for x in tables.items["categories"]]
    pop = np.bincount(split.train.item.to_numpy(), minlength=tables.n_items + 1).astype(float)
    w = controls.ChainWriter(cats, pop, "item", k=3)
    users = np.sort(split.valid.users)
    inf = controls.control_chains("informed", w, hists, users, split, 0)
    ora = controls.control_chains("oracle", w, hists, users, split, 0)
    shu = controls.control_chains("shuffled", w, hists, users, split, 0)
    assert len(inf) == len(ora) == len(shu) == sum(len(hists[c]) for c in distill.CUTS)
    test_item = {int(u): int(t[0]) for u, t in zip(split.tests["test"].users, split.tests["test"].targets)}
    for a, b in zip(inf, ora):
        assert (a["cut"], a["user"]) == (b["cut"], b["user"]) and a["steps"][:-1] == b["steps"][:-1]
        if b["cut"] == "test":  # the oracle's last step names the held-out test item's categories
            assert b["steps"][-1] == f"The next item is a {', '.join(cats[test_item[b['user']]][:3])} item."
    for cut in distill.CUTS:  # shuffled: the same chains of the cut, on other users
        a = [c["steps"] for c in inf if c["cut"] == cut]
        b = [c["steps"] for c in shu if c["cut"] == cut]
        assert sorted(map(tuple, a)) == sorted(map(tuple, b)) and a != b
    with pytest.raises(ValueError, match="teacher.kind"):
        controls.check_kind("orcale")


@pytest.mark.parametrize("kind", ["oracle", "shuffled"])
def test_control_run_uses_the_same_bank_and_fusion(tmp_path, kind):
    from coldstart_exp.methods.scoter import run

    run(_cfg(tmp_path, f"ablation=scoter/control_{kind}"))
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    sc = m["scoter"]
    assert m["variant"] == f"control_{kind}" and sc["control"]["banner"].startswith("CONTROL (not the method)")
    assert sc["teacher_users"] == 300 and sc["teacher_chains"] == 3 * 300 and sc["student"]["served"] == 0
    assert sc["llm_counters"] is None and sc["template"] == f"control_{kind}" and sc["k"] == 3
    assert 0.0 < m["gate_mean"]["test"] < 1.0 and "test" in m["metrics"]
