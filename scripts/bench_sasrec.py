"""Time-to-quality benchmark: the plain Beauty command of a backbone, as a user would run it.

    python scripts/bench_sasrec.py                       # SASRec and GRU4Rec, 2 threads, 680 s each
    python scripts/bench_sasrec.py --backbones sasrec --seeds 0 1 2 --threads 1

For each (backbone, seed) it runs `python -m coldstart_exp method=baseline backbone=<b> data=amazon_beauty
threads=<t> seed=<s> trainer.max_time=<budget>` in a subprocess and reads back the run's own files:
validation NDCG@10 against wall-clock seconds (`val_curve.csv`), test NDCG@10 / Recall@10 of the best
checkpoint, seconds per epoch (training + one validation pass), peak RSS. It then times full-ranking
passes over the validation users with the trained model (the evaluator alone, no Lightning), and writes
everything to outputs/bench/<backbone>_beauty.json with the allocator setting (GLIBC_TUNABLES) and the
1-minute load average, since the machine may be shared. RecBole 1.2.1's figures on the same split
(issue 16) are stored beside ours for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECBOLE = {"source": "RecBole 1.2.1 SASRec on this Beauty split (issue 16), 2-core CPU",
           "test_ndcg@10": 0.0412, "test_recall@10": 0.0823, "best_val_ndcg@10": 0.0509,
           "wall_s": 34 * 60, "s_per_epoch": 129.0, "s_per_pass": 6.4}


def time_passes(run_dir: str, threads: int, repeats: int) -> dict:
    """Child process: rebuild the run's data and model, load its best checkpoint, time evaluation passes."""
    import torch

    torch.set_num_threads(threads)
    from omegaconf import OmegaConf

    from coldstart_exp.backbones import build_backbone
    from coldstart_exp.data.datamodule import SequenceDataModule
    from coldstart_exp.data.loading import load_tables
    from coldstart_exp.data.splits import make_split
    from coldstart_exp.experiment import make_evaluator

    cfg = OmegaConf.load(Path(run_dir) / "config.yaml")
    tables = load_tables(cfg.data, cfg.paths.cache_dir)
    split = make_split(tables, cfg.split)
    model = build_backbone(cfg.backbone.model, tables.n_items, tables.n_users, [], cfg.data.max_len)
    state = torch.load(Path(run_dir) / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    model.load_state_dict({k.removeprefix("backbone."): v for k, v in state["state_dict"].items()
                           if k.startswith("backbone.")})
    model.eval()
    dm = SequenceDataModule(tables, split, cfg.data.max_len, cfg.trainer.batch_size, cfg.trainer.eval_batch_size)
    ev = make_evaluator(cfg)
    times, value = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        ev.reset()
        with torch.no_grad():
            for b in dm.eval_loader("valid"):
                ev.update(ev.topk_items(model, b), b)
        rows, vals = ev.gather()
        table = ev.table(split.valid, rows, vals)
        value = float(table["ndcg@10"].mean())
        times.append(time.perf_counter() - t0)
    return {"users": len(split.valid), "items": tables.n_items, "threads": threads, "pass_s": times,
            "median_pass_s": round(statistics.median(times), 3), "val_ndcg@10": value}


def _curve(run_dir: Path) -> list[dict]:
    import pandas as pd

    f = run_dir / "val_curve.csv"
    if not f.exists():
        return []
    df = pd.read_csv(f)
    return [{"epoch": int(r.epoch), "seconds": float(r.seconds), "val_ndcg@10": round(float(r["val/ndcg@10"]), 5)}
            for _, r in df.iterrows()]


def bench_one(backbone: str, seed: int, a, extra: list[str]) -> dict:
    run_dir = Path(a.runs) / f"{backbone}-{a.data}-s{seed}"
    cmd = [sys.executable, "-m", "coldstart_exp", "method=baseline", f"backbone={backbone}", f"data={a.data}",
           f"threads={a.threads}", f"seed={seed}", f"trainer.max_time={a.max_time}", "logger=csv",
           f"hydra.run.dir={run_dir}", *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        return {"backbone": backbone, "seed": seed, "command": " ".join(cmd[1:]), "error": r.stderr[-2000:]}
    m = json.loads((run_dir / "metrics.json").read_text())
    t, test = m["timings"], m["metrics"]["test"]["overall"]
    curve = _curve(run_dir)
    gaps = [b["seconds"] - a_["seconds"] for a_, b in zip(curve, curve[1:])]
    out = {
        "backbone": backbone, "seed": seed, "command": "python " + " ".join(cmd[1:]),
        "wall_s": round(wall, 1), "prepare_s": round(t.get("load_s", 0) + t.get("split_s", 0), 2),
        "fit_s": t["fit_s"], "epochs": t["epochs"], "test_s_run": t["test_s"],
        "s_per_epoch_with_validation": round(statistics.median(gaps), 2) if gaps else None,
        "peak_rss_mb": t.get("peak_rss_mb"),
        "best_val_ndcg@10": max((c["val_ndcg@10"] for c in curve), default=None),
        "test_ndcg@10": round(test["ndcg@10"], 5), "test_recall@10": round(test["recall@10"], 5),
        "val_curve": curve,
    }
    out["eval_pass"] = {}
    for threads in a.pass_threads or [a.threads]:
        p = subprocess.run([sys.executable, __file__, "--pass-child", str(run_dir), "--threads", str(threads),
                            "--repeats", str(a.repeats)], capture_output=True, text=True, cwd=ROOT, env=os.environ)
        out["eval_pass"][f"{threads}_threads"] = (json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0
                                                   else {"error": p.stderr[-1000:]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbones", nargs="+", default=["sasrec", "gru4rec"])
    ap.add_argument("--data", default="amazon_beauty")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-time", default="00:00:11:20", help="trainer.max_time (680 s: RecBole's budget / 3)")
    ap.add_argument("--repeats", type=int, default=3, help="timed evaluation passes per run")
    ap.add_argument("--pass-threads", nargs="+", type=int, help="thread counts for the timed passes (default: --threads)")
    ap.add_argument("--runs", default=str(ROOT / "outputs" / "bench" / "runs"))
    ap.add_argument("--out-dir", default=str(ROOT / "outputs" / "bench"))
    ap.add_argument("--pass-child", help=argparse.SUPPRESS)
    a, extra = ap.parse_known_args()
    if a.pass_child:
        print(json.dumps(time_passes(a.pass_child, a.threads, a.repeats)))
        return
    for backbone in a.backbones:
        runs = []
        for seed in a.seeds:
            runs.append(bench_one(backbone, seed, a, extra))
            x = runs[-1]
            if "error" in x:
                print(f"{backbone} seed {seed}: failed\n{x['error']}")
            else:
                print(f"{backbone} s{seed}: test NDCG@10 {x['test_ndcg@10']:.4f} (best val {x['best_val_ndcg@10']:.4f}) "
                      f"in {x['wall_s']:.0f} s, {x['s_per_epoch_with_validation']} s/epoch, "
                      f"{ {k: v.get('median_pass_s') for k, v in x['eval_pass'].items()} } s per full-ranking pass, peak RSS {x['peak_rss_mb']} MB")
            write(Path(a.out_dir) / f"{backbone}_{a.data.removeprefix('amazon_')}.json", backbone, runs, a, extra)  # after every seed


def write(out: Path, backbone: str, runs: list[dict], a, extra: list[str]) -> None:
    ok = [r["test_ndcg@10"] for r in runs if "error" not in r]
    summary = {"seeds": len(ok), "test_ndcg@10_mean": round(statistics.mean(ok), 5) if ok else None,
               "test_ndcg@10_sd": round(statistics.stdev(ok), 5) if len(ok) > 1 else None,
               "test_ndcg@10_min": min(ok, default=None), "test_ndcg@10_max": max(ok, default=None)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": platform.node(), "cpus": os.cpu_count(), "threads": a.threads, "max_time": a.max_time,
        "allocator": {"GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES")},
        "load_avg_1m_at_end": os.getloadavg()[0], "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "extra_overrides": extra, "summary": summary, "runs": runs,
        "recbole_reference": RECBOLE if backbone == "sasrec" else None}, indent=1))
    print(f"-> {out}")

if __name__ == "__main__":
    main()
