"""Hydra callback: after a --multirun, a summary of every job, identified by its swept parameters, and the
configurations aggregated over seeds (mean ± std (n)); with an optimised metric, the best configuration."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml
from hydra.experimental.callback import Callback

ID = ("data", "method", "backbone", "split", "variant")
SHOWN = ("recall@10", "ndcg@10")


def _overrides(run_dir: Path, m: dict) -> dict[str, str]:
    """The job's command-line overrides: from metrics.json (`run.overrides`), else Hydra's .hydra/overrides.yaml."""
    ov = (m.get("run") or {}).get("overrides")
    if ov is None and (run_dir / ".hydra" / "overrides.yaml").exists():
        ov = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
    return dict(o.lstrip("+~").split("=", 1) for o in ov or [] if "=" in o)


def summarise_runs(sweep_dir: Path, optimized_metric: str | None = None) -> pd.DataFrame:
    """One row per (job, eval set): the job's identity, its swept parameters (the overrides whose values differ
    between jobs; prefixed `param:`), the objective (`optimized_metric`, e.g. valid/ndcg@10) and its metrics."""
    jobs = []
    for mf in sorted(Path(sweep_dir).glob("*/metrics.json")):
        m = json.loads(mf.read_text())
        jobs.append((mf.parent, m, _overrides(mf.parent, m)))
    keys = sorted({k for _, _, ov in jobs for k in ov})
    swept = [k for k in keys if len({ov.get(k) for _, _, ov in jobs}) > 1]
    rows = []
    for run_dir, m, ov in jobs:
        base = {"run": run_dir.name, **{k: m.get(k) for k in ID}, "seed": m.get("seed"),
                **{f"param:{k}": ov.get(k) for k in swept if k != "seed"},
                "fit_s": m.get("timings", {}).get("fit_s"), "best_epoch": (m.get("best") or {}).get("epoch")}
        if optimized_metric:
            s, n = optimized_metric.split("/", 1)
            base["objective"] = m["metrics"].get(s, {}).get("overall", {}).get(n)
        for set_name, sm in m["metrics"].items():
            if set_name == "valid":
                continue
            rows.append({**base, "eval_set": set_name, "users": sm["users"], **sm["overall"]})
    return pd.DataFrame(rows)


def aggregate_seeds(df: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Configurations (identity + swept parameters, eval set) with each metric's mean, std and n over seeds;
    sorted by the objective's mean (best first) when there is one."""
    keys = [c for c in ("data", "method", "backbone", "split", "variant") if c in df] + \
           [c for c in df if c.startswith("param:")] + ["eval_set"]
    metrics = metrics or [c for c in df if c not in keys and c not in ("run", "seed", "users", "fit_s", "best_epoch")
                          and pd.api.types.is_numeric_dtype(df[c])]
    g = df.fillna({k: "-" for k in keys}).groupby(keys, sort=False)
    out = g.agg(seeds=("seed", lambda s: ",".join(map(str, sorted(s)))), n=("seed", "size"))
    for c in metrics:
        out[f"{c}_mean"] = g[c].mean()
        out[f"{c}_std"] = g[c].std(ddof=1)
    out = out.reset_index()
    if "objective_mean" in out:
        out = out.sort_values("objective_mean", ascending=False, kind="stable").reset_index(drop=True)
    return out


def mean_std(mean: float, std: float, n: int) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    return f"{mean:.4f}" if n < 2 or std is None or math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def aggregate_markdown(agg: pd.DataFrame, metrics: list[str]) -> str:
    keys = [c for c in agg if not c.endswith(("_mean", "_std")) and c not in ("seeds", "n")]
    head = keys + ["seeds (n)"] + metrics
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in agg.iterrows():
        cells = [str(r[k]) for k in keys] + [f"{r['seeds']} ({r['n']})"]
        cells += [mean_std(r.get(f"{m}_mean"), r.get(f"{m}_std"), r["n"]) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


class MultirunSummary(Callback):
    def on_multirun_start(self, config, **kwargs) -> None:
        """SQLite Optuna storage (`sqlite:///<sweep dir>/optuna.db`): create its folder before the sweeper opens it."""
        storage = config.hydra.sweeper.get("storage")
        if isinstance(storage, str) and storage.startswith("sqlite:///"):
            Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        objective = config.get("optimized_metric")
        df = summarise_runs(sweep_dir, objective)
        if df.empty:
            return
        df.to_csv(sweep_dir / "summary.csv", index=False)
        shown = [c for c in (("objective",) if objective else ()) + SHOWN if c in df]
        agg = aggregate_seeds(df, shown)
        agg.to_csv(sweep_dir / "summary_by_config.csv", index=False)
        md = aggregate_markdown(agg, shown)
        title = f"objective = {objective}; best configuration first" if objective else "mean ± std over seeds"
        (sweep_dir / "summary.md").write_text(f"# {sweep_dir.name}: {len(df)} job rows, {len(agg)} configurations "
                                              f"({title})\n\n{md}\nPer job: summary.csv\n")
        print(f"\nmultirun summary ({len(agg)} configurations, {title}): {sweep_dir / 'summary.md'}")
        print(md)
