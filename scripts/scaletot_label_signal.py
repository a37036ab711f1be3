#!/usr/bin/env python
"""How much ranking signal do ScaleToT's typed labels carry, with no recommender in between? (issue 17)

For every cold test user of a ScaleToT setup, rank items by their popularity among the *training* users that
share the cold user's label on one chain step (or on all steps), and compare NDCG@10 with plain popularity
(Wilcoxon signed-rank, paired by user). Labels come from a CONTROL teacher (`--kind oracle`: the cold user's
labels from their own held-out interactions, which leaks by design; `informed`: from their training rows,
empty at n = 0). If the oracle's labels lift this peer popularity clearly above popularity while a tower fed
the same labels does not beat the profile MLP, the tower (not the labels) is what loses the signal.

    python scripts/scaletot_label_signal.py experiment=scaletot_controls [--eval-set test/n=0] [--kind oracle]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def ndcg_at_10(ranking: np.ndarray, targets) -> float:
    """The evaluator's NDCG@10 (RecBole's definition) of one ranking."""
    import torch

    from coldstart_exp.eval.evaluator import hits_matrix, ranking_metrics

    t = torch.as_tensor(np.asarray(targets, dtype=np.int64))[None]
    hits = hits_matrix(torch.as_tensor(np.asarray(ranking[:10], dtype=np.int64))[None], t)
    return float(ranking_metrics(hits, torch.tensor([t.shape[1]]), [10], ["ndcg"], torch.float64)["ndcg@10"][0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval-set", default="test/n=0")
    ap.add_argument("--kind", default="oracle", choices=["oracle", "informed"])
    a, overrides = ap.parse_known_args()
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    from scipy.stats import wilcoxon

    from coldstart_exp.data.loading import load_tables
    from coldstart_exp.data.splits import make_split
    from coldstart_exp.methods.scaletot.chain import load_chain
    from coldstart_exp.methods.scaletot.controls import ControlTeacher

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose("config", overrides=["method=scaletot", *overrides])
    tables = load_tables(cfg.data, cfg.paths.cache_dir)
    split = make_split(tables, cfg.split)
    spec, c = load_chain(cfg.method.chain), cfg.method.teacher.control
    ct = ControlTeacher(spec, OmegaConf.to_container(c.rules, resolve=True), split.train, tables.items,
                        tables.n_items, float(c.smooth))
    cold = {int(u) for u in split.cold_users}
    train_users = sorted({int(u) for u in split.train.user.unique()} - cold)
    peers_labels = ct.chains(split.train, train_users)
    cold_labels = ct.chains(split.held_out if a.kind == "oracle" else split.train, sorted(cold))
    items_of = {int(u): g.item.to_numpy() for u, g in split.train[split.train.user.isin(train_users)].groupby("user")}
    pop = np.bincount(split.train.item.to_numpy(), minlength=tables.n_items + 1).astype(float)
    pop[0] = -1
    es = split.tests[a.eval_set]
    base = np.array([ndcg_at_10(np.argsort(-pop, kind="stable"), t) for t in es.targets])
    print(f"{a.eval_set}: {len(es)} cold users; labels: {a.kind} (CONTROL); popularity NDCG@10 {base.mean():.4f}")
    for k in [*range(spec.k), None]:
        key = (lambda ch: tuple(ch.labels)) if k is None else (lambda ch, k=k: ch.labels[k])
        vals = []
        for u, t in zip(es.users, es.targets):
            lab = key(cold_labels[int(u)])
            rows = [items_of[v] for v in train_users if key(peers_labels[v]) == lab and v in items_of]
            cnt = np.bincount(np.concatenate(rows) if rows else np.zeros(0, int), minlength=tables.n_items + 1)
            score = cnt.astype(float) + 1e-6 * pop  # ties broken by popularity; item 0 stays last
            score[0] = -1
            vals.append(ndcg_at_10(np.argsort(-score, kind="stable"), t))
        d = np.array(vals) - base
        p = wilcoxon(d).pvalue if np.any(d) else 1.0
        name = "all steps" if k is None else spec.steps[k].name
        n_lab = len({key(cold_labels[int(u)]) for u in es.users})
        print(f"  popularity among peers sharing {name:<15} NDCG@10 {np.mean(vals):.4f}  "
              f"diff {d.mean():+.4f}  Wilcoxon p={p:.2g}  ({n_lab} distinct labels)")


if __name__ == "__main__":
    main()
