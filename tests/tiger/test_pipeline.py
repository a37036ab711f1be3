"""Semantic IDs are cached per data set; `backbone=tiger` runs end to end through the CLI."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from coldstart_exp.backbones.tiger import semantic_ids as sid
from coldstart_exp.data.tables import Tables
from coldstart_exp.retrieval import TextEncoder

ROOT = Path(__file__).resolve().parents[2]
RQ = dict(hidden=[16], latent=8, levels=3, codes=8, beta=0.25, steps=60, batch_size=64, lr=3e-3,
          reset_every=20, reset_until=0.8)


def test_semantic_ids_are_unique_and_cached(tmp_path, monkeypatch):
    n = 50
    items = pd.DataFrame({"title": ["[PAD]"] + [f"item {i}" for i in range(n)],
                          "text": [""] + [f"item {i} text" for i in range(n)]})
    tables = SimpleNamespace(name="tiny", items=items, item_texts=lambda: Tables.item_texts(tables))
    calls = []

    def fake_encode(self, texts, progress=False):
        calls.append(len(texts))
        return np.random.RandomState(0).randn(len(texts), 12).astype(np.float32)

    monkeypatch.setattr(TextEncoder, "encode_raw", fake_encode)
    ids, rep = sid.build_semantic_ids(tables, tmp_path, RQ, {"path": None})
    assert ids.shape == (n + 1, 4) and (ids[0] == -1).all()
    assert len(np.unique(ids[1:], axis=0)) == n and not rep["cached"]
    ids2, rep2 = sid.build_semantic_ids(tables, tmp_path, RQ, {"path": None})
    assert rep2["cached"] and np.array_equal(ids, ids2) and calls == [n]
    ids3, rep3 = sid.build_semantic_ids(tables, tmp_path, dict(RQ, codes=4), {"path": None})
    assert not rep3["cached"] and calls == [n]  # new settings refit the RQ-VAE, embeddings are reused
    assert len(list((tmp_path / "tiger").glob("tiny-*/semantic_ids.npy"))) == 2


@pytest.mark.slow
def test_cli_end_to_end_on_synthetic(tmp_path):
    """Real embedded MiniLM + RQ-VAE + 1 epoch; standard run files with per-bucket metrics."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "coldstart_exp", "method=baseline", "backbone=tiger", "data=synthetic",
           "logger=none", "trainer.max_epochs=1", "threads=1", f"hydra.run.dir={out}",
           f"paths.cache_dir={tmp_path / 'cache'}", "backbone.model.rqvae.steps=60",
           "backbone.model.d_model=32", "backbone.model.enc_layers=1", "backbone.model.dec_layers=1",
           "backbone.model.ffn=64", "backbone.model.beam_size=20"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                       env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["backbone"] == "tiger" and "test" in m["metrics"]
    assert 0.0 <= m["metrics"]["test"]["overall"]["recall@20"] <= 1.0
    assert (out / "buckets.csv").exists()
    tok = json.loads((out / "tiger_tokenizer.json").read_text())["tiger_tokenizer"]
    assert tok["collision_rate"] < 1.0 and len(tok["utilisation"]) == 3


def test_backbone_facts_are_returned_and_written_by_the_caller(tmp_path):
    from coldstart_exp.backbones import write_facts

    write_facts(tmp_path, {"tiger_tokenizer": {"collision_rate": 0.1}})
    write_facts(tmp_path, None)  # backbones without facts
    assert json.loads((tmp_path / "tiger_tokenizer.json").read_text()) == {"tiger_tokenizer": {"collision_rate": 0.1}}
    assert [p.name for p in tmp_path.iterdir()] == ["tiger_tokenizer.json"]
