"""Run outputs: metrics.json, per-user metrics, the tidy bucket table and its chart."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .buckets import bucket_labels
from .evaluator import summarise

log = logging.getLogger(__name__)


def write_eval_outputs(run_dir: Path, tables_by_set: dict[str, pd.DataFrame], names: list[str],
                       bucket_edges: list[int], facts: dict, chart: list[str] | None = None) -> dict:
    """Write per-user parquet files, `buckets.csv`, `buckets.png` and `metrics.json`; return metrics."""
    run_dir.mkdir(parents=True, exist_ok=True)
    order = bucket_labels(bucket_edges)
    tidy, metrics = [], {}
    for set_name, per_user in tables_by_set.items():
        fname = set_name.replace("/", "_").replace("=", "")
        per_user.to_parquet(run_dir / f"per_user_{fname}.parquet", index=False)
        s = summarise(per_user, names, order)
        s.insert(0, "eval_set", set_name)
        tidy.append(s)
        metrics[set_name] = {
            "overall": {n: float(per_user[n].mean()) if len(per_user) else float("nan") for n in names},
            "users": len(per_user),
            "buckets": {b: {"users": int((per_user.bucket == b).sum()),
                            **{n: float(per_user.loc[per_user.bucket == b, n].mean()) for n in names}}
                        for b in order if (per_user.bucket == b).any()},
        }
    table = pd.concat(tidy, ignore_index=True) if tidy else pd.DataFrame()
    table.to_csv(run_dir / "buckets.csv", index=False)
    payload = {**facts, "metrics": metrics}
    (run_dir / "metrics.json").write_text(json.dumps(payload, indent=1, default=_jsonable))
    if len(table):
        plot_buckets(table, run_dir / "buckets.png", order, chart or names[:2])
    return payload


def _jsonable(o):
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def plot_buckets(table: pd.DataFrame, path: Path, order: list[str], chart: list[str]) -> None:
    """Bar chart of the task's `chart` metrics per activity bucket, one panel per evaluation set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [s for s in table.eval_set.unique() if s != "valid"] or list(table.eval_set.unique())
    fig, axes = plt.subplots(1, len(sets), figsize=(4.5 * len(sets), 3.4), squeeze=False)
    for ax, s in zip(axes[0], sets):
        t = table[(table.eval_set == s) & table.metric.isin(chart) & (table.users > 0)]
        buckets = [b for b in ["all", *order] if b in set(t.bucket)]
        x = np.arange(len(buckets))
        w = 0.76 / len(chart)
        for j, m in enumerate(chart):
            v = [t[(t.bucket == b) & (t.metric == m)].value.mean() for b in buckets]
            ax.bar(x + (j - (len(chart) - 1) / 2) * w, v, w, label=m)
        users = [int(t[t.bucket == b].users.iloc[0]) for b in buckets]
        ax.set_xticks(x, [f"{b}\n(n={u})" for b, u in zip(buckets, users)], fontsize=7)
        ax.set_title(s, fontsize=9)
        ax.set_xlabel("user activity bucket", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_summary(metrics: dict, names: tuple[str, ...] = ("recall@10", "ndcg@10", "recall@20", "ndcg@20")) -> str:
    """Human-readable overall + per-bucket lines for the console."""
    lines = []
    for set_name, m in metrics.items():
        if set_name == "valid" or set_name.startswith("valid/"):
            continue
        head = "  ".join(f"{n}={m['overall'].get(n, float('nan')):.4f}" for n in names if n in m["overall"])
        lines.append(f"[{set_name}] users={m['users']}  {head}")
        for b, bm in m["buckets"].items():
            vals = "  ".join(f"{n}={bm.get(n, float('nan')):.4f}" for n in names if n in bm)
            lines.append(f"    bucket {b:>6} users={bm['users']:>6}  {vals}")
    return "\n".join(lines)
