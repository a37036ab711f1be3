"""method=scaletot: typed, entropy-guided reasoning over static profiles for low-activity users.

teacher (bounded ToT chains for a few hundred *training* users) -> verification against their
training behaviour -> student (LoRA SFT + OSIPO) -> per-step representations -> profile encoder
(transfer) -> user tower of a two-tower recommender, hybrid-routed with a behavioural backbone.
Ablations: `ablation=scaletot/<name>` sets `method.reasoning` and the teacher/student knobs (conf/ablation/scaletot).
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from ...experiment import fit_and_evaluate, prepare
from .chain import load_chain
from .stress import add_drop_sets
from .transfer import HybridRouter, ReasonTower

log = logging.getLogger(__name__)

def run(cfg: DictConfig) -> dict:
    ctx = prepare(cfg)
    m, tables, split = cfg.method, ctx.tables, ctx.split
    codes, cards = tables.profile_codes()
    mode = str(m.reasoning)
    if mode not in ("distilled", "teacher", "freeform", "none"):
        raise ValueError(f"method.reasoning must be distilled | teacher | freeform | none, got {mode!r}")
    ctx.extra["scaletot"] = facts = {"ablation": str(m.ablation), "reasoning": mode, "tau": m.teacher.tau,
                                     "max_expansions_per_chain": m.teacher.max_expansions_per_chain,
                                     "osipo_steps": m.student.osipo_steps, "student": bool(m.student.enabled),
                                     "teacher_kind": str(m.teacher.get("kind", "llm"))}
    reason = None
    if mode != "none":
        from .pipeline import Pipeline

        pipe = Pipeline(cfg, ctx, load_chain(m.chain), codes)
        reason = pipe.build_reason(mode, cards)
        facts.update(pipe.facts)
        ctx.timings.update(pipe.timings)

    kw = {k: v for k, v in OmegaConf.to_container(cfg.backbone.model, resolve=True).items() if k != "_target_"}
    cold = ReasonTower(tables.n_items, tables.n_users, cards, reason=reason,
                       reason_dropout=float(m.transfer.reason_dropout), **kw)
    warm = None
    if m.routing.threshold is not None:
        warm = hydra.utils.instantiate(m.routing.behaviour, n_items=tables.n_items, max_len=cfg.data.max_len,
                                       _convert_="all")
    backbone = HybridRouter(cold, warm, int(m.routing.threshold or 0))
    facts["routing"] = {"threshold": m.routing.threshold,
                        "routed_eval_sets": [n for n in split.tests if _support(n) > (m.routing.threshold or 1e9)]}
    drops = add_drop_sets(split, codes.shape[1], list(m.stress.drop_fields), int(m.stress.seed), tables.n_users)
    return fit_and_evaluate(ctx, ctx.module(backbone), ctx.datamodule(backbone, drops=drops))


def _support(name: str) -> float:
    """n of a `test/n=<n>[,...]` eval set name (inf when absent)."""
    try:
        return float(name.split("n=")[1].split(",")[0])
    except (IndexError, ValueError):
        return float("inf")
