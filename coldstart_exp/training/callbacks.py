"""Hydra callback: after a --multirun, write a summary table of every job's metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from hydra.experimental.callback import Callback


def summarise_runs(sweep_dir: Path) -> pd.DataFrame:
    rows = []
    for mf in sorted(Path(sweep_dir).glob("*/metrics.json")):
        m = json.loads(mf.read_text())
        base = {"run": mf.parent.name, "data": m.get("data"), "method": m.get("method"),
                "backbone": m.get("backbone"), "split": m.get("split"), "seed": m.get("seed"),
                "fit_s": m.get("timings", {}).get("fit_s")}
        for set_name, sm in m["metrics"].items():
            if set_name == "valid":
                continue
            rows.append({**base, "eval_set": set_name, "users": sm["users"], **sm["overall"]})
    return pd.DataFrame(rows)


class MultirunSummary(Callback):
    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        df = summarise_runs(sweep_dir)
        if df.empty:
            return
        df.to_csv(sweep_dir / "summary.csv", index=False)
        cols = [c for c in df.columns if c not in ("run",)]
        (sweep_dir / "summary.md").write_text(df[cols].to_markdown(index=False, floatfmt=".4f") + "\n")
        print(f"\nmultirun summary ({len(df)} rows): {sweep_dir / 'summary.csv'}")
        print(df[[c for c in cols if c in ("data", "method", "backbone", "seed", "eval_set", "recall@10", "ndcg@10")]]
              .to_string(index=False))
