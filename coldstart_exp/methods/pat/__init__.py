"""method=pat: personalized review generation for users with sparse history (PAT, arXiv 2604.24996)
on the PGraphRAG protocol (arXiv 2501.02157). Pieces: split.py (targets, visible history), retrieval.py
+ style.py (topic / style trajectories), agents.py (summarizers, generator), rl.py + dpo.py (iterative
dual reasoning), systems.py (PAT and every baseline), pipeline.py (one run). Knobs: conf/method/pat.yaml.
"""

from __future__ import annotations

import logging
import time

from omegaconf import DictConfig

from ...eval.report import format_summary, write_eval_outputs
from ...experiment import prepare
from ...training.loggers import close_loggers, log_payload
from .pipeline import PatPipeline

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    ctx = prepare(cfg)
    reviews = getattr(ctx.tables, "reviews", None)
    if reviews is None:
        raise ValueError(f"method=pat needs review text: data={cfg.data.name} has no tables.reviews "
                         "(use data=amazon_reviews)")
    pipe = PatPipeline(cfg, reviews, ctx.run_dir)
    tables, samples = pipe.evaluate()
    pipe.write_samples(samples)
    ctx.timings.update(pipe.timings, total_s=round(time.perf_counter() - ctx.started, 2))
    names = pipe.evaluator.names
    facts = {"data": cfg.data.name, "method": "pat", "split": f"pgraphrag-{pipe.split.task}",
             "backbone": str(cfg.llm.get("_name_") or cfg.llm.backend), "mask_seen": None,
             "system": pipe.systems[0], "result_system": pipe.systems[0], "compare": pipe.systems[1:],
             "task": f"generation.target={pipe.split.task}", "seed": cfg.seed, "study": cfg.get("study"),
             "variant": cfg.get("variant"), "split_info": pipe.split.info, "metrics_info": pipe.evaluator.facts,
             "retrieval": pipe.retriever.info, "timings": ctx.timings, "data_report": ctx.tables.report, **pipe.facts}
    payload = write_eval_outputs(ctx.run_dir, tables, names, list(cfg.method.generation.bucket_edges), facts,
                                 chart=list(names[:3]))
    print(f"\n== pat ({pipe.systems[0]}) on {cfg.data.name}, generation.target={pipe.split.task}, seed {cfg.seed} ==")
    print(format_summary({k: v for k, v in payload["metrics"].items() if k.split("/")[0] != "valid"}, tuple(names)))
    print(f"run dir: {ctx.run_dir}")
    log_payload(ctx.loggers, payload, ctx.run_dir)
    for lg in ctx.loggers:
        if type(lg).__name__ == "WandbLogger":
            import pandas as pd
            import wandb

            rows = [{"set": s, **{k: str(v) for k, v in r.items()}} for s, rs in samples.items() for r in rs]
            lg.experiment.log({"samples": wandb.Table(dataframe=pd.DataFrame(rows))})
    close_loggers(ctx.loggers)
    return payload
