"""method=scaletot: typed, entropy-guided reasoning over static profiles for low-activity users.

teacher (bounded ToT chains for a few hundred *training* users) -> verification against their
training behaviour -> student (LoRA SFT + OSIPO) -> per-step representations -> profile encoder
(transfer) -> user tower of a two-tower recommender, hybrid-routed with a behavioural backbone.
Ablations via `method.reasoning` and the teacher/student knobs (see conf/method/scaletot.yaml).
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from ...experiment import fit_and_evaluate, make_evaluator, prepare
from ...training.module import RecModule
from .chain import load_chain
from .stress import DropFieldsDataModule, add_drop_sets
from .transfer import HybridRouter, ReasonTower

log = logging.getLogger(__name__)

# method.ablation -> knob overrides (applied to cfg.method before anything runs, so metrics.json shows them)
ABLATIONS = {
    "full": {},
    "profile_mlp": {"reasoning": "none"},  # profile MLP only (no LLM)
    "freeform": {"reasoning": "freeform"},  # one free-form chain embedded as a single vector
    "greedy": {"teacher.max_expansions_per_chain": 0},  # greedy chain: no tree-of-thought expansion
    "sft_only": {"student.osipo_steps": 0},  # student without OSIPO
    "teacher_only": {"reasoning": "teacher"},  # teacher labels at serving time, no student, no transfer
}


def apply_ablation(cfg: DictConfig) -> None:
    name = str(cfg.method.get("ablation") or "full")
    if name not in ABLATIONS:
        raise ValueError(f"method.ablation must be one of {sorted(ABLATIONS)}, got {name!r}")
    with open_dict(cfg):
        for key, value in ABLATIONS[name].items():
            OmegaConf.update(cfg.method, key, value, merge=False)


def run(cfg: DictConfig) -> dict:
    apply_ablation(cfg)
    ctx = prepare(cfg)
    m, tables, split = cfg.method, ctx.tables, ctx.split
    codes, cards = tables.profile_codes()
    mode = str(m.reasoning)
    if mode not in ("distilled", "teacher", "freeform", "none"):
        raise ValueError(f"method.reasoning must be distilled | teacher | freeform | none, got {mode!r}")
    ctx.extra["scaletot"] = facts = {"ablation": str(m.ablation), "reasoning": mode, "tau": m.teacher.tau,
                                     "max_expansions_per_chain": m.teacher.max_expansions_per_chain,
                                     "osipo_steps": m.student.osipo_steps, "student": bool(m.student.enabled)}
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
    dm = DropFieldsDataModule(tables, split, cfg.data.max_len, cfg.trainer.batch_size, cfg.trainer.eval_batch_size,
                              cfg.trainer.num_workers, backbone.train_from_empty, cfg.seed, drops=drops)
    module = RecModule(backbone, make_evaluator(cfg), cfg.trainer.lr, cfg.trainer.weight_decay,
                       eval_names=list(split.tests))
    return fit_and_evaluate(ctx, module, dm)


def _support(name: str) -> float:
    """n of a `test/n=<n>[,...]` eval set name (inf when absent)."""
    try:
        return float(name.split("n=")[1].split(",")[0])
    except (IndexError, ValueError):
        return float("inf")
