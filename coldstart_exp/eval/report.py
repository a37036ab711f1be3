"""Run outputs: metrics.json, per-user metrics, the tidy bucket table and its chart.

metrics.json also carries the run record: where its numbers came from: the code (git commit and
whether the tree was dirty), the command line and Hydra overrides, the start time, the CPU, the versions of
the libraries that shape results, and the best validation epoch; floats rounded to 6 significant digits
so float32 noise is not printed as if it were precision.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from .evaluator import bucket_labels, summarise

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
    payload = round_floats({**facts, "metrics": metrics})  # 6 significant digits, not float32 noise
    (run_dir / "metrics.json").write_text(json.dumps(payload, indent=1, default=_jsonable))
    if len(table):
        title = (f"{facts.get('data')} · {facts.get('method')}/{facts.get('backbone')} · {facts.get('split')} · "
                 f"seed {facts.get('seed')}" + (f" · {facts['variant']}" if facts.get("variant") not in (None, "default") else ""))
        plot_buckets(table, run_dir / "buckets.png", order, chart or names[:2], title=title, per_user=tables_by_set)
    return payload


def _jsonable(o):
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


FEW_USERS = 30  # buckets with fewer users are hatched and labelled "few": their means are noisy


def plot_buckets(table: pd.DataFrame, path: Path, order: list[str], chart: list[str], title: str = "",
                 per_user: dict[str, pd.DataFrame] | None = None) -> None:
    """Bar chart of the task's `chart` metrics per activity bucket, one panel per evaluation set; with the
    per-user tables, 95% percentile-bootstrap intervals of each bucket mean as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [s for s in table.eval_set.unique() if s != "valid"] or list(table.eval_set.unique())
    fig, axes = plt.subplots(1, len(sets), figsize=(4.8 * len(sets), 3.8), squeeze=False)
    for ax, s in zip(axes[0], sets):
        t = table[(table.eval_set == s) & table.metric.isin(chart) & (table.users > 0)]
        buckets = [b for b in ["all", *order] if b in set(t.bucket)]
        x = np.arange(len(buckets))
        w = 0.76 / len(chart)
        users = [int(t[t.bucket == b].users.iloc[0]) for b in buckets]
        pu = (per_user or {}).get(s)
        for j, m in enumerate(chart):
            v = [t[(t.bucket == b) & (t.metric == m)].value.mean() for b in buckets]
            err = None
            if pu is not None and m in pu:
                lo_hi = [bootstrap_ci(pu[m] if b == "all" else pu.loc[pu.bucket == b, m]) for b in buckets]
                err = np.array([[max(0.0, vi - lo), max(0.0, hi - vi)] for vi, (lo, hi) in zip(v, lo_hi)]).T
            bars = ax.bar(x + (j - (len(chart) - 1) / 2) * w, v, w, yerr=err, capsize=2, color=f"C{j}",
                          error_kw={"elinewidth": 0.8}, label=m)
            for bar, u in zip(bars, users):
                if u < FEW_USERS:
                    bar.set_hatch("//")
                    bar.set_alpha(0.55)
        ax.set_xticks(x, [f"{b}\n(n={u}{', few' if u < FEW_USERS else ''})" for b, u in zip(buckets, users)], fontsize=7)
        ax.set_title(s, fontsize=9)
        ax.set_xlabel("user activity bucket (training interactions)", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    note = "error bars: 95% bootstrap CI of the mean" if per_user else ""
    fig.legend(handles, labels, loc="lower center", ncol=len(chart) + 1, fontsize=7, frameon=False,
               title=note or None, title_fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.1, 1, 0.95 if title else 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bootstrap_ci(values, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean (the point itself when fewer than 2 values or no spread)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2 or np.allclose(v, v[0]):
        m = float(v.mean()) if len(v) else float("nan")
        return m, m
    from scipy import stats

    ci = stats.bootstrap((v,), np.mean, n_resamples=n_boot, method="percentile", batch=100,
                         rng=np.random.default_rng(seed)).confidence_interval
    return float(ci.low), float(ci.high)


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


# -- the run record ----------------------------------------------------------------------
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("torch", "lightning", "numpy", "pandas", "scipy", "faiss-cpu", "transformers",
             "sentence-transformers", "hydra-core")


def run_record(total_s: float) -> dict:
    """Provenance facts of the current job (`total_s`: seconds since the job started)."""
    return {
        "git": git_state(),
        "command": shlex.join(getattr(sys, "orig_argv", sys.argv)),
        "overrides": _hydra_overrides(),
        "started_at": (datetime.now(timezone.utc) - timedelta(seconds=total_s)).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "versions": library_versions(),
    }


@functools.cache
def git_state(repo: Path = PACKAGE_ROOT) -> dict | None:
    """{"commit", "dirty"} of the checkout holding this package (None outside a git checkout).
    `dirty`: tracked files differ from the commit (untracked files are not counted)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode:
            return None
        status = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.TimeoutExpired):
        return None


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def library_versions() -> dict:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def best_epoch(curve: list[dict] | None, monitor: str) -> dict | None:
    """The validation round with the highest `monitor` (the checkpointed one; first of ties, as Lightning's
    ModelCheckpoint keeps the first best): its epoch, step, seconds and monitor value."""
    rows = [r for r in curve or [] if isinstance(r.get(monitor), int | float) and not math.isnan(r[monitor])]
    if not rows:
        return None
    top = max(rows, key=lambda r: r[monitor])  # max returns the first maximal row
    return {k: top[k] for k in ("epoch", "step", "seconds", monitor) if k in top}


def round_floats(obj, digits: int = 6):
    """Recursively round floats to `digits` significant digits (NaN/inf kept)."""
    if isinstance(obj, float):
        return obj if not math.isfinite(obj) else float(f"{obj:.{digits}g}")
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [round_floats(v, digits) for v in obj]
    if hasattr(obj, "dtype") and getattr(obj, "ndim", 1) == 0:  # numpy scalar
        return round_floats(obj.item(), digits)
    return obj


def _hydra_overrides() -> list[str] | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except (ValueError, ImportError):  # not inside a Hydra app (tests, scripts)
        return None
