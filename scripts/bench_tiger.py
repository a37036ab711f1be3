"""TIGER benchmarks outside the Lightning loop.

  decode: users/s of trie-constrained beam search for several beam sizes (model weights do not change
          the cost, so an untrained model is timed):
      python scripts/bench_tiger.py decode --beams 10 20 50 --users 512 experiment=tiger_ml100k threads=1
  budget: train for a wall-time / step budget without per-epoch validation (one full-ranking pass
          over 22k Beauty users costs as much as ~30 training steps on CPU), then evaluate the test
          set once (optionally a seeded random subset of users, --test-users) and write the standard
          run files (metrics.json, buckets...) via experiment.finish:
      python scripts/bench_tiger.py budget --minutes 30 experiment=tiger_beauty study=tiger_beauty \
          paths.output_dir=outputs/results/tiger_beauty/s0 threads=1
Any other argument is a Hydra override of conf/config.yaml.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict
from torch.utils.data import DataLoader, Subset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coldstart_exp.backbones import build_backbone  # noqa: E402
from coldstart_exp.data.datamodule import EvalRows, SequenceDataModule  # noqa: E402
from coldstart_exp.experiment import finish, make_evaluator, prepare  # noqa: E402

log = logging.getLogger("bench_tiger")


def setup(overrides: list[str], out: str):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    with open_dict(cfg):
        if "${hydra" in str(cfg.paths._get_node("output_dir")._value()):
            cfg.paths.output_dir = out
    ctx = prepare(cfg)
    _, cards = ctx.tables.profile_codes()
    bb = build_backbone(cfg.backbone.model, ctx.tables.n_items, ctx.tables.n_users, cards, cfg.data.max_len)
    bb.prepare_items(ctx.tables, cfg.paths.cache_dir)
    dm = SequenceDataModule(ctx.tables, ctx.split, cfg.data.max_len, cfg.trainer.batch_size,
                            cfg.trainer.eval_batch_size, 0, bb.train_from_empty, cfg.seed)
    return cfg, ctx, bb, dm


def decode(args, overrides):
    cfg, ctx, bb, dm = setup(overrides, "/tmp/bench_tiger_decode")
    bb.eval()
    batches, n = [], 0
    for b in dm.eval_loader("test"):
        batches.append(b)
        n += len(b["user"])
        if n >= args.users:
            break
    rows = []
    for beam in args.beams:
        bb.beam_size = beam
        t0 = time.perf_counter()
        c0 = time.process_time()
        for b in batches:
            bb.topk(b, min(beam, 20))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append((beam, n, n / wall, n / cpu))
    print(f"\nTIGER decoding on {cfg.data.name} ({n} users, history <= {cfg.data.max_len}, "
          f"d={cfg.backbone.model.d_model}, layers={cfg.backbone.model.enc_layers}+{cfg.backbone.model.dec_layers}, "
          f"threads={torch.get_num_threads()}, decode_batch={bb.decode_batch})")
    print("| beam | users | users/s (wall) | users/s (per CPU-second) |\n|---|---|---|---|")
    for beam, n, uw, uc in rows:
        print(f"| {beam} | {n} | {uw:.1f} | {uc:.1f} |")


def _loader(dm, name, n_users, seed):
    """The eval set's loader, or one over a seeded random subset of `n_users` rows (0 = all)."""
    es = dm.eval_sets()[name]
    if not n_users or n_users >= len(es):
        return dm.eval_loader(name)
    rows = np.sort(np.random.default_rng(seed).choice(len(es), n_users, replace=False))
    return DataLoader(Subset(EvalRows(es), rows.tolist()), dm.eval_batch_size, shuffle=False,
                      collate_fn=lambda r: dm._collate_eval(r, name))


def budget(args, overrides):
    cfg, ctx, bb, dm = setup(overrides, "/tmp/bench_tiger_budget")
    opt = torch.optim.AdamW(bb.parameters(), lr=cfg.trainer.lr, weight_decay=cfg.trainer.weight_decay)
    deadline = time.perf_counter() + 60 * args.minutes
    t0, steps, epochs, losses, done = time.perf_counter(), 0, 0, [], False
    bb.train()
    while not done:
        for batch in dm.train_dataloader():
            loss = bb.loss(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            losses.append(float(loss.detach()))
            if steps % 10 == 0:
                log.info("step %d loss %.4f (%.0f s)", steps, sum(losses[-10:]) / 10, time.perf_counter() - t0)
            if time.perf_counter() > deadline or (args.max_steps and steps >= args.max_steps):
                done = True
                break
        else:
            epochs += 1
            if args.max_epochs and epochs >= args.max_epochs:
                done = True
    fit_s = time.perf_counter() - t0
    bb.eval()
    ev = make_evaluator(cfg)
    t1 = time.perf_counter()
    tables = {}
    with torch.no_grad():
        for name in ["test", *args.also]:
            ev.reset()
            for b in _loader(dm, name, args.test_users, cfg.seed):
                ev.update(ev.topk_items(bb, b), b)
            tables[name] = ev.table(dm.eval_sets()[name], *ev.gather())
    ctx.timings.update(fit_s=round(fit_s, 1), test_s=round(time.perf_counter() - t1, 1), steps=steps,
                       epochs=round(epochs + (0 if done and steps % max(1, len(dm.train_dataloader())) == 0 else
                                               (steps % len(dm.train_dataloader())) / len(dm.train_dataloader())), 2),
                       train_windows=len(dm.windows),
                       train_samples_per_s=round(steps * cfg.trainer.batch_size / max(fit_s, 1e-9), 1))
    ctx.extra.update(bb.facts, test_users_evaluated={n: len(t) for n, t in tables.items()},
                     training_protocol=f"budget: {args.minutes} min wall / {args.max_steps} steps, "
                     "no validation or early stopping, test once after the last step",
                     loss_first=round(sum(losses[:10]) / max(1, len(losses[:10])), 4),
                     loss_last=round(sum(losses[-10:]) / max(1, len(losses[-10:])), 4))
    finish(ctx, tables)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["decode", "budget"])
    p.add_argument("--beams", type=int, nargs="+", default=[10, 20, 50])
    p.add_argument("--users", type=int, default=512)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--max-epochs", type=int, default=0)
    p.add_argument("--test-users", type=int, default=0, help="evaluate a seeded random subset (0 = all)")
    p.add_argument("--also", action="append", default=[], help="extra eval set (repeatable), e.g. valid")
    args, overrides = p.parse_known_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    (decode if args.mode == "decode" else budget)(args, overrides)


if __name__ == "__main__":
    main()
