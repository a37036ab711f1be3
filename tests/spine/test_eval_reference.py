"""The evaluator on real rankings: against scikit-learn's NDCG and a plain per-user reimplementation of
RecBole's Recall/MRR/Hit, and unchanged by the length-sorted evaluation order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from coldstart_exp.backbones.sasrec import SASRec
from coldstart_exp.data.datamodule import SequenceDataModule
from coldstart_exp.data.loading import load_tables
from coldstart_exp.data.splits import make_split
from coldstart_exp.experiment import make_evaluator

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """ML-100K leave-one-out and a SASRec trained for 60 steps: rankings with plenty of hits."""
    from tests.conftest import compose

    torch.manual_seed(0)
    cfg = compose(["data=ml100k", "eval.mask_seen=true"], tmp_path_factory.mktemp("ref"))
    tables = load_tables(cfg.data, cfg.paths.cache_dir)
    split = make_split(tables, cfg.split)
    model = SASRec(tables.n_items, cfg.data.max_len, norm="post", positions="left")
    dm = SequenceDataModule(tables, split, cfg.data.max_len, 128, 256)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    steps = 0
    while steps < 60:
        for b in dm.train_dataloader():
            model.loss(b).backward()
            opt.step()
            opt.zero_grad()
            steps += 1
            if steps == 60:
                break
    return cfg, tables, split, model.eval()


def _evaluate(cfg, tables, split, model, by_length: bool):
    dm = SequenceDataModule(tables, split, cfg.data.max_len, 128, 100, eval_by_length=by_length)
    ev = make_evaluator(cfg)
    batches = []
    with torch.no_grad():
        for b in dm.eval_loader("test"):
            ev.update(ev.topk_items(model, b), b)
            batches.append(b)
    rows, vals = ev.gather()
    return ev, ev.table(split.tests["test"], rows, vals), batches


def test_length_order_changes_batches_not_values(trained):
    cfg, tables, split, model = trained
    _, by_row, row_batches = _evaluate(cfg, tables, split, model, by_length=False)
    _, by_len, len_batches = _evaluate(cfg, tables, split, model, by_length=True)
    assert row_batches[0]["row"].tolist() == list(range(len(row_batches[0]["row"])))
    assert len_batches[0]["row"].tolist() != row_batches[0]["row"].tolist()
    padded = [sum(b["seq"].numel() for b in bs) for bs in (row_batches, len_batches)]
    assert padded[1] < padded[0]  # the point of the order: fewer padded slots to encode
    assert by_len.row.tolist() == by_row.row.tolist() == list(range(len(split.tests["test"])))
    cols = [c for c in by_row.columns if "@" in c]
    assert by_row["ndcg@10"].mean() > 0.01  # a trained model: the comparison is not between zeros
    np.testing.assert_allclose(by_len[cols].to_numpy(), by_row[cols].to_numpy(), atol=1e-6)


def test_metrics_match_independent_implementations(trained):
    cfg, tables, split, model = trained
    ev, table, batches = _evaluate(cfg, tables, split, model, by_length=True)
    es = split.tests["test"]
    # full score matrix exactly as the backbone ranks it (padding item and seen items excluded)
    scores = np.zeros((len(es), tables.n_items + 1), np.float64)
    with torch.no_grad():
        for b in batches:
            s = model.scores(b).double()
            s[:, 0] = -1e9
            s = s.scatter(1, b["seen"], -1e9)
            scores[b["row"].numpy()] = s.numpy()
    ranked = np.argsort(-scores, axis=1, kind="stable")[:, :max(ev.ks)]
    for k in ev.ks:
        for r in range(len(es)):
            target = set(int(t) for t in es.targets[r])
            top = [int(i) for i in ranked[r, :k]]
            hits = [i in target for i in top]
            first = next((i + 1 for i, h in enumerate(hits) if h), None)
            assert math.isclose(table.loc[r, f"recall@{k}"], sum(hits) / len(target), abs_tol=1e-6)
            assert math.isclose(table.loc[r, f"hit@{k}"], float(any(hits)), abs_tol=1e-6)
            assert math.isclose(table.loc[r, f"mrr@{k}"], 1 / first if first else 0.0, abs_tol=1e-6)
        relevance = np.zeros_like(scores)
        for r in range(len(es)):
            relevance[r, es.targets[r]] = 1
        ref = sklearn_metrics.ndcg_score(relevance[:, 1:], scores[:, 1:], k=k)  # mean over users
        assert table[f"ndcg@{k}"].sum() > 5  # enough hits for the comparison to mean something
        assert math.isclose(table[f"ndcg@{k}"].mean(), ref, abs_tol=1e-6)
