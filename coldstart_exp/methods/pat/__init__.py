"""method=pat: personalized review generation for users with sparse history (PAT, arXiv 2604.24996)
on the PGraphRAG protocol (arXiv 2501.02157). Pieces: split.py (targets, visible history), retrieval.py
+ style.py (topic / style trajectories), agents.py (summarizers, generator), rl.py + dpo.py (iterative
dual reasoning), systems.py (PAT and every baseline), pipeline.py (one run). Knobs: conf/method/pat.yaml.
"""

from __future__ import annotations

import logging

import pandas as pd
from omegaconf import DictConfig

from ...experiment import finish, prepare
from .pipeline import PatPipeline

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    ctx = prepare(cfg)  # task=generation (its evaluator), split=pgraphrag (over tables.reviews)
    pipe = PatPipeline(cfg, ctx.split, ctx.evaluator, ctx.run_dir)
    tables, samples = pipe.evaluate()
    pipe.write_samples(samples)
    ctx.timings.update(pipe.timings)
    ctx.extra.update(split=f"pgraphrag-{pipe.split.task}", target=pipe.split.task, mask_seen=None,
                     backbone=str(cfg.llm.get("_name_") or cfg.llm.backend),  # the results row's model label
                     system=pipe.systems[0], result_system=pipe.systems[0], compare=pipe.systems[1:],
                     retrieval=pipe.retriever.info, **pipe.facts)
    rows = [{"set": s, **{k: str(v) for k, v in r.items()}} for s, rs in samples.items() for r in rs]
    return finish(ctx, tables, log_tables={"samples": pd.DataFrame(rows)})
