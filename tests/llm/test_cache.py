import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from coldstart_exp.llm import CachedLLM, GenerationParams, LLMCache
from coldstart_exp.llm.backends.fake import ScriptedBackend

WORKER = str(Path(__file__).with_name("cache_worker.py"))


def answer(rendered, params):
    return "ANS:" + rendered.split("user: ")[-1]


def make(tmp_path, mode="use", **kw):
    return CachedLLM(ScriptedBackend(answer, **kw), LLMCache(tmp_path, mode=mode))


def test_hits_and_counters(tmp_path):
    llm = make(tmp_path)
    p = GenerationParams()
    assert llm.generate(["a", "b"], p) == ["ANS:a", "ANS:b"]
    assert llm.backend.calls == 2
    assert llm.generate(["b", "c", "a"], p) == ["ANS:b", "ANS:c", "ANS:a"]
    assert llm.backend.calls == 3  # only "c" was generated
    d = llm.counters.as_dict()
    assert (d["prompts"], d["cache_hits"], d["cache_misses"]) == (5, 2, 3)
    assert d["cache_hit_rate"] == pytest.approx(0.4)


def test_persists_across_instances(tmp_path):
    make(tmp_path).generate(["a"], GenerationParams())
    llm2 = make(tmp_path)
    assert llm2.generate(["a"], GenerationParams()) == ["ANS:a"] and llm2.backend.calls == 0


def test_key_depends_on_params_seed_template_and_version(tmp_path):
    llm = make(tmp_path)
    p = GenerationParams()
    llm.generate(["a"], p)
    llm.generate(["a"], p.replace(seed=1))
    llm.generate(["a"], p.replace(max_new_tokens=7))
    llm.generate(["a"], p, template_version="t@2")
    assert llm.backend.calls == 4
    other = CachedLLM(ScriptedBackend(answer, version="2"), LLMCache(tmp_path))
    other.generate(["a"], p)
    assert other.backend.calls == 1


def test_modes_refresh_and_off(tmp_path):
    make(tmp_path).generate(["a"], GenerationParams())
    r = make(tmp_path, mode="refresh")
    r.generate(["a"], GenerationParams())
    assert r.backend.calls == 1 and len(r.cache) == 1  # regenerated, overwritten
    off = make(tmp_path / "off", mode="off")
    off.generate(["a"], GenerationParams())
    off.generate(["a"], GenerationParams())
    assert off.backend.calls == 2 and not (tmp_path / "off").exists()
    with pytest.raises(ValueError):
        LLMCache(tmp_path, mode="sometimes")


def test_empty_prompt_list(tmp_path):
    llm = make(tmp_path)
    assert llm.generate([], GenerationParams()) == [] and llm.backend.calls == 0


def test_score_is_cached(tmp_path):
    llm = make(tmp_path)
    a = llm.score("x y", ["x", "z"])
    b = llm.score("x y", ["x", "z"])
    np.testing.assert_allclose(a, b)
    assert llm.counters.cache_hits == 1 and llm.counters.scored_options == 2


def test_concurrent_writers_two_processes(tmp_path):
    db = tmp_path / "c.sqlite"
    procs = [subprocess.Popen([sys.executable, WORKER, "write", str(db), tag, "300"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in ("A", "B")]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    c = LLMCache(db)
    assert len(c) == 300 + 2 * 300  # shared keys k0..k299 plus each writer's own
    vals = c.get_many([f"k{i}" for i in range(300)])
    assert len(vals) == 300 and all(v["i"] == int(k[1:]) and v["by"] in "AB" for k, v in vals.items())
    assert len(c.get_many([f"A-{i}" for i in range(300)] + [f"B-{i}" for i in range(300)])) == 600
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_killed_run_resumes_only_missing(tmp_path):
    db = tmp_path / "c.sqlite"
    n = 200
    p = subprocess.Popen([sys.executable, WORKER, "generate", str(db), str(n), "0.05"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    done_before = 0
    while time.time() < deadline:  # wait until a few batches are committed, then SIGKILL
        if db.exists():
            try:
                done_before = sqlite3.connect(db, timeout=5).execute("SELECT COUNT(*) FROM entries").fetchone()[0]
            except sqlite3.OperationalError:
                done_before = 0
            if done_before >= 30:
                break
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=10)
    assert p.returncode == -signal.SIGKILL
    cache = LLMCache(db)
    stored = len(cache)
    assert 30 <= stored < n and stored % 10 == 0  # whole batches only, never a partial one
    llm = CachedLLM(ScriptedBackend(answer, batch_size=10), cache)
    out = llm.generate([f"p{i}" for i in range(n)], GenerationParams())
    assert out == [f"ANS:p{i}" for i in range(n)]
    assert llm.backend.calls == n - stored
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
