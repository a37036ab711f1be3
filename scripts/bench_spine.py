"""Spine benchmark: SASRec training samples/s, full-ranking evaluation users/s and peak memory.

Each data set runs in its own subprocess (so peak RSS is its own). Prints a table and writes
outputs/bench/spine.json. Compare figures measured in one run: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(data: str, steps: int, eval_users: int, threads: int = 0) -> dict:
    import resource

    import torch

    if threads:
        torch.set_num_threads(threads)
    from hydra import compose, initialize_config_dir

    from coldstart_exp.backbones import build_backbone
    from coldstart_exp.data.datamodule import SequenceDataModule
    from coldstart_exp.data.loading import load_tables
    from coldstart_exp.data.splits import EvalSet, make_split
    from coldstart_exp.experiment import make_evaluator

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"data={data}", "paths.output_dir=/tmp/bench"])
    torch.manual_seed(0)
    t0 = time.perf_counter()
    tables = load_tables(cfg.data, cfg.paths.cache_dir)
    split = make_split(tables, cfg.split)
    load_s = time.perf_counter() - t0
    model = build_backbone(cfg.backbone.model, tables.n_items, tables.n_users, [], cfg.data.max_len)
    dm = SequenceDataModule(tables, split, cfg.data.max_len, cfg.trainer.batch_size, cfg.trainer.eval_batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    samples = positions = done = 0
    it = iter(dm.train_dataloader())
    t0 = time.perf_counter()
    while done < steps:
        try:
            b = next(it)
        except StopIteration:
            it = iter(dm.train_dataloader())
            b = next(it)
        loss = model.loss(b)
        loss.backward()
        opt.step()
        opt.zero_grad()
        samples += b["seq"].shape[0]
        positions += int((b["pos"] > 0).sum())
        done += 1
    train_s = time.perf_counter() - t0
    model.eval()
    ev = make_evaluator(cfg)
    v = split.valid
    n = min(eval_users, len(v))
    sub = EvalSet("bench", v.users[:n], v.histories[:n], v.targets[:n], v.activity[:n])
    dm.split.tests = {"bench": sub}
    t0 = time.perf_counter()
    with torch.no_grad():
        for b in dm.eval_loader("bench"):
            ev.update(ev.topk_items(model, b), b)
    eval_s = time.perf_counter() - t0
    return {
        "data": data, "users": tables.n_users, "items": tables.n_items, "load_split_s": round(load_s, 2),
        "train_steps": steps, "batch_size": cfg.trainer.batch_size,
        "train_samples_per_s": round(samples / train_s, 1), "train_target_positions_per_s": round(positions / train_s, 1),
        "eval_users": n, "eval_users_per_s": round(n / eval_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", nargs="+", default=["ml100k", "amazon_beauty"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--eval-users", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--out", default=str(ROOT / "outputs" / "bench" / "spine.json"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure(a.child, a.steps, a.eval_users, a.threads)))
        return
    results = []
    for d in a.data:
        r = subprocess.run([sys.executable, __file__, "--child", d, "--steps", str(a.steps), "--eval-users",
                            str(a.eval_users), "--threads", str(a.threads)], capture_output=True, text=True, cwd=ROOT, env=os.environ)
        if r.returncode != 0:
            print(f"{d}: failed\n{r.stderr[-2000:]}")
            results.append({"data": d, "error": r.stderr[-500:]})
            continue
        results.append(json.loads(r.stdout.strip().splitlines()[-1]))
        x = results[-1]
        print(f"{d:>14}: train {x['train_samples_per_s']:>8} seq/s ({x['train_target_positions_per_s']} targets/s), "
              f"eval {x['eval_users_per_s']:>8} users/s over {x['items']} items, peak RSS {x['peak_rss_mb']} MB")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.node(), "python": platform.python_version(),
                               "load_avg_1m_at_end": os.getloadavg()[0],
                               "when": time.strftime("%Y-%m-%d %H:%M:%S"), "results": results}, indent=1))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
