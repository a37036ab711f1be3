"""method=scoter: SCoTER (arXiv 2511.19514), our reimplementation — see METHODS.md §2.

Offline (pipeline.py): GVM mines a K-step reasoning pattern (gvm.py, mining.py); a teacher LLM
writes pattern-following chains for <= `llm.max_users` users, embedded step by step (distill.py);
a student serves everyone else (student.py). Online: the step embeddings are fused into the
backbone (fusion.py for SASRec-like backbones, tiger.py for TIGER); no LLM at serving time.

`method.stage=gvm` runs only the GVM pass (artifacts reused by later training runs).
"""

from __future__ import annotations

import logging
import time

import pandas as pd
from omegaconf import DictConfig

from ...experiment import fit_and_evaluate, prepare
from ...training.module import RecModule
from .fusion import ScoterSeqRec, StepFusion
from .pipeline import ScoterPipeline, dump_yaml

log = logging.getLogger(__name__)


class ScoterModule(RecModule):
    """RecModule + gate bookkeeping per eval set + the example-chain table for W&B."""

    def __init__(self, *a, extra: dict, examples: list[dict], pattern: dict, **kw):
        super().__init__(*a, **kw)
        self._extra, self._examples, self._pattern = extra, examples, pattern

    def on_fit_start(self):
        for lg in self.trainer.loggers:
            if type(lg).__name__ == "WandbLogger" and self._examples:
                df = pd.DataFrame(self._examples).astype(str)
                lg.log_table("scoter/example_chains", dataframe=df)
                lg.log_text("scoter/template", columns=["step"], data=[[s] for s in self._pattern.get("steps", [])])

    def on_validation_epoch_start(self):
        super().on_validation_epoch_start()
        self.backbone.current_set = "valid"
        self.backbone.meters.pop("valid", None)

    def on_validation_epoch_end(self):
        super().on_validation_epoch_end()
        self._extra.setdefault("gate_mean", {})["valid"] = self.backbone.meters.get("valid") and self.backbone.meters["valid"].mean

    def on_test_epoch_start(self):
        super().on_test_epoch_start()
        for n in self.test_names:
            self.backbone.meters.pop(n, None)

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self.backbone.current_set = self.test_names[dataloader_idx]
        return super().test_step(batch, batch_idx, dataloader_idx)

    def on_test_epoch_end(self):
        super().on_test_epoch_end()
        for n in self.test_names:
            if n in self.backbone.meters:
                self._extra.setdefault("gate_mean", {})[n] = self.backbone.meters[n].mean


def build_model(cfg: DictConfig, backbone, k: int, d_step: int):
    m = cfg.method
    is_tiger = getattr(backbone, "generative", False)  # decodes IDs from an encoder memory (TIGER's hooks)
    d_model = backbone.d_model if is_tiger else backbone.item_emb.embedding_dim
    fusion = StepFusion(d_model, d_step, k, int(m.fusion.heads), float(m.fusion.dropout),
                        bool(m.ablate.step_positions), "open" if not m.ablate.gate else m.fusion.gate,
                        float(m.fusion.gate_bias))
    nce = float(m.nce_weight) if m.ablate.infonce else 0.0
    if is_tiger:
        from .tiger import ScoterTIGER

        return ScoterTIGER(backbone, fusion, nce, float(m.tau))
    if not hasattr(backbone, "encode") or not hasattr(backbone, "item_emb"):
        raise ValueError(f"method=scoter needs a backbone with encode(seq) states and item_emb, or TIGER; "
                         f"got {type(backbone).__name__}")
    return ScoterSeqRec(backbone, fusion, nce, float(m.tau))


def run(cfg: DictConfig) -> dict:
    ctx = prepare(cfg)
    t0 = time.perf_counter()
    pipe = ScoterPipeline(cfg, ctx.tables, ctx.split)
    if cfg.method.stage == "gvm":
        pat = pipe.run_gvm()
        dump_yaml(ctx.run_dir / "scoter_pattern.yaml", pat)
        log.info("GVM artifacts in %s; LLM counters %s", pipe.facts["gvm_dir"], pipe.counters_dict())
        print(f"GVM pattern ({pat['k']} steps, support {pat['support']}, mean Recall@20 {pat['mean_score']}):")
        for i, s in enumerate(pat["steps"]):
            print(f"  {i + 1}. {s}")
        print(f"artifacts: {pipe.facts['gvm_dir']}")
        return {}
    bank, pinfo = pipe.bank()
    if cfg.method.ablate.pooled:
        bank = bank.pooled()
    ctx.timings["scoter_offline_s"] = round(time.perf_counter() - t0, 1)
    examples = pipe.examples(__import__("pathlib").Path(pipe.facts["bank_path"]))
    dump_yaml(ctx.run_dir / "scoter_pattern.yaml", pinfo)
    if examples:
        pd.DataFrame(examples).to_csv(ctx.run_dir / "scoter_example_chains.csv", index=False)
    model = build_model(cfg, ctx.backbone(), bank.K, bank.D)
    ctx.extra["scoter"] = {
        "ablate": dict(cfg.method.ablate), "template": pinfo.get("template"), "pattern_steps": pinfo.get("steps"),
        "k": bank.K, "llm_counters": pipe.counters_dict(), **{k: v for k, v in pipe.facts.items() if k != "pattern"},
    }
    ctx.timings.update({f"scoter_{k}": v for k, v in pipe.facts["timings"].items()})
    module = ctx.module(model, extra=ctx.extra, examples=examples, pattern=pinfo)
    return fit_and_evaluate(ctx, module, ctx.datamodule(model, bank=bank))
