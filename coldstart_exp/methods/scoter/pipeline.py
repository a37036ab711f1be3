"""SCoTER's recipe: `run()` = offline bank (below) -> fused backbone (model.py) -> the shared fit and evaluation.

Offline part: GVM artifacts -> pattern template -> teacher bank -> student -> StepBank (distill.py).

Artifacts live under `${paths.cache_dir}/scoter/<data>/` keyed by hashes of everything they
depend on (LLM identity, prompts, knobs), so a training run reuses what the GVM command wrote,
every seed/variant shares one teacher pass, and the LLM is not even loaded when all is cached
(the LLM layer, GVM, mining and the controls are imported only when they run).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from ...experiment import fit_and_evaluate, prepare
from ...retrieval import build_encoder
from . import distill
from .distill import StepBank, StepStudent, fit_student, predict
from .model import ScoterSeqRec, StepFusion

log = logging.getLogger(__name__)
DOMAINS = {"ml100k": "movie", "amazon_beauty": "beauty product", "synthetic": "item"}
_LLM_VOLATILE = ("_target_", "cache", "progress", "num_threads", "batch_size", "score_batch_size", "max_users", "encoder",
                 "model_cache_dir", "parse_retries", "retry_temperature")


class ScoterPipeline:
    def __init__(self, cfg, tables, split):
        self.cfg, self.m, self.tables, self.split = cfg, cfg.method, tables, split
        self.domain = self.m.domain or DOMAINS.get(cfg.data.name, "item")
        self.root = Path(cfg.paths.cache_dir) / "scoter" / cfg.data.name
        self.encoder = build_encoder(self.m.encoder, (cfg.llm or {}).get("encoder"), cfg.paths.cache_dir)
        self.titles = tables.item_titles()
        self._llm, self._items = None, None
        self.counters = None  # LLMCounters, made with the LLM (None: no LLM in this run)
        self.facts: dict = {"timings": {}}

    # -- shared resources (lazy) ------------------------------------------------------------
    @property
    def llm(self):
        if self._llm is None:
            from ...llm import LLMCounters, build_llm

            t = time.perf_counter()
            self.counters = LLMCounters()
            self._llm = build_llm(self.cfg.llm, counters=self.counters)
            self.facts["timings"]["llm_load_s"] = round(time.perf_counter() - t, 2)
        return self._llm

    def item_emb(self) -> np.ndarray:
        if self._items is None:
            t = time.perf_counter()
            e = self.encoder.encode(self.tables.item_texts())
            e[0] = 0.0
            self._items = e
            self.facts["timings"]["item_text_s"] = round(time.perf_counter() - t, 2)
        return self._items

    def item_index(self):
        """Exact inner-product index over the item text embeddings; ids are item ids."""
        from ...retrieval import build_index

        e = self.item_emb()
        return build_index(e[1:], "flat", ids=np.arange(1, len(e)))  # row 0 = padding

    def llm_id(self) -> dict:
        c = OmegaConf.to_container(self.cfg.llm, resolve=True)
        return {k: v for k, v in c.items() if k not in _LLM_VOLATILE}

    def _key(self, *parts) -> str:
        return distill.bank_key(self.cfg.data.name, self.encoder.name, self.llm_id(), *parts)

    # -- GVM -----------------------------------------------------------------------------------
    def gvm_dir(self) -> Path:
        from ...llm.templates import load_template

        g = OmegaConf.to_container(self.m.gvm, resolve=True)
        return self.root / f"gvm-{self._key(g, load_template(g['prompt']).version_key)}"

    def run_gvm(self) -> dict:
        d = self.gvm_dir()
        if not (d / "pattern.yaml").exists():
            from . import gvm

            t = time.perf_counter()
            gvm.run_gvm(self.llm, self.encoder, self.item_index(), self.split.valid, self.titles,
                        self.m.gvm, d, self.domain)  # the loo validation set only: never the test item
            self.facts["timings"]["gvm_s"] = round(time.perf_counter() - t, 1)
            (d / "llm_counters.json").write_text(json.dumps({**self.counters_dict(), "wall_s": self.facts["timings"]["gvm_s"]}))
        if (d / "llm_counters.json").exists():  # what the GVM pass cost when it ran (also on warm re-runs)
            self.facts["gvm_llm_counters"] = json.loads((d / "llm_counters.json").read_text())
        self.facts["gvm_dir"] = str(d)
        return yaml.safe_load((d / "pattern.yaml").read_text())  # written by gvm.run_gvm

    def pattern_steps(self) -> tuple[list[str], dict]:
        """The K instructions the teacher follows, per `method.template`."""
        from ...llm.templates import load_template

        kind = self.m.template
        if kind == "manual":
            t = load_template(self.m.manual_prompt)
            steps = [s.format(domain=self.domain) for s in t.meta["steps"]]
            return steps, {"template": "manual", "steps": steps}
        pat = self.run_gvm()
        if kind == "mined":
            return list(pat["steps"]), {"template": "mined", **{k: pat[k] for k in (
                "types", "steps", "support", "mean_score", "mean_score_all_chains", "chains", "chains_parsed")}}
        if kind == "random":
            from . import gvm
            from .mining import random_pattern

            ex = {int(k): v for k, v in pat["type_exemplars"].items()}
            types, inst = random_pattern(ex, int(pat["k"]), int(self.m.random_seed))
            steps = gvm.pattern_instructions(inst, self.domain)
            return steps, {"template": "random", "types": types, "steps": steps}
        raise ValueError(f"method.template must be mined | manual | random, got {kind!r}")

    # -- teacher + student -----------------------------------------------------------------------
    def teacher(self, steps: list[str]) -> tuple[dict, np.ndarray, np.ndarray, Path]:
        from ...llm.templates import load_template

        tc = self.m.teacher
        bound = self.cfg.llm.get("max_users")
        bound = tc.max_users if bound is None else bound
        users = distill.teacher_users(self.split.valid.users, bound, int(tc.seed))
        tmpl = load_template(tc.prompt)
        path = self.root / f"bank-{self._key(steps, OmegaConf.to_container(tc, resolve=True), tmpl.version_key, users.tolist())}.npz"
        if not path.exists():
            from ...llm import GenerationParams

            t = time.perf_counter()
            params = GenerationParams(max_new_tokens=int(tc.max_new_tokens), temperature=float(tc.temperature),
                                      repetition_penalty=float(self.cfg.llm.get("repetition_penalty", 1.0)),
                                      seed=int(tc.seed))
            chains = distill.teacher_chains(self.llm, tmpl, steps, self.hists, users, self.titles, params,
                                            int(tc.history_items), self.domain)
            R = distill.embed_chains(chains, self.encoder, len(steps))
            distill.save_bank(path, chains, R)
            self.facts["timings"]["teacher_s"] = round(time.perf_counter() - t, 1)
            path.with_suffix(".counters.json").write_text(json.dumps(
                {**self.counters_dict(), "wall_s": self.facts["timings"]["teacher_s"]}))
        if path.with_suffix(".counters.json").exists():  # cumulative counters of the process that built the bank
            self.facts["teacher_llm_counters"] = json.loads(path.with_suffix(".counters.json").read_text())
        index, R, filled = distill.load_bank(path)
        self.facts.update(teacher_users=len(users), teacher_chains=len(R),
                          teacher_filled_share=round(float(filled.mean()), 4) if len(filled) else None)
        return index, R, users, path

    def bank(self) -> tuple[StepBank, dict]:
        self.hists = distill.cut_histories(self.split)
        kind = str(self.m.teacher.get("kind", "llm"))
        if kind == "llm":
            steps, pinfo = self.pattern_steps()
            index, R, users, path = self.teacher(steps)
        else:
            steps, pinfo, (index, R, users, path) = self.control(kind)
        self.facts["pattern"], self.facts["bank_path"] = pinfo, str(path)
        K = len(steps)
        # student: trained on teacher (history, steps) pairs of the train/valid cuts (never the test cut)
        sc = self.m.student
        t = time.perf_counter()
        torch.manual_seed(int(self.cfg.seed))
        student = StepStudent(self.item_emb(), K, int(self.cfg.data.max_len), int(sc.hidden), int(sc.heads))
        pairs = [(c, u) for (c, u) in index if c in ("train", "valid")]
        stats = fit_student(student, [self.hists[c][u] for c, u in pairs], R[[index[p] for p in pairs]],
                            int(sc.epochs), float(sc.lr), seed=int(self.cfg.seed))
        missing = [(c, u) for c in distill.CUTS for u in self.hists[c] if (c, u) not in index]
        Rs = predict(student, [self.hists[c][u] for c, u in missing]) if missing else np.zeros((0, K, R.shape[2]))
        self.facts["timings"]["student_s"] = round(time.perf_counter() - t, 1)
        full_index = dict(index)
        full_index.update({key: len(R) + i for i, key in enumerate(missing)})
        allR = np.concatenate([R, Rs.astype(np.float32)]) if len(Rs) else R
        source = np.r_[np.ones(len(R), np.int8), np.zeros(len(Rs), np.int8)]
        if self.m.student.serve == "none":  # ablation hook: only teacher users get steps
            full_index = dict(index)
        self.facts["student"] = {**stats, "served": len(Rs) if self.m.student.serve != "none" else 0}
        return StepBank(full_index, allR, source), pinfo

    def control(self, kind: str):
        """CONTROL (not the method): a step bank written from data (controls.py), no GVM, no LLM."""
        from . import controls

        kind = controls.check_kind(kind)
        log.warning(controls.banner(kind))
        c, k = self.m.teacher.control, int(self.m.gvm.k)
        users = distill.teacher_users(self.split.valid.users, c.users, int(c.seed))
        cats = [list(x) if x is not None else [] for x in self.tables.items["categories"]]
        pop = np.bincount(self.split.train.item.to_numpy(), minlength=self.tables.n_items + 1).astype(float)
        writer = controls.ChainWriter(cats, pop, self.domain, k, int(c.recent))
        chains = controls.control_chains(kind, writer, self.hists, users, self.split, int(c.seed))
        path = self.root / f"bank-control-{kind}-{self._key(k, [(x['cut'], x['user'], x['steps']) for x in chains])}.npz"
        if not path.exists():
            t = time.perf_counter()
            distill.save_bank(path, chains, controls.embed_unique(chains, self.encoder, k))
            self.facts["timings"]["teacher_s"] = round(time.perf_counter() - t, 1)
        index, R, filled = distill.load_bank(path)
        steps = [*[controls.STEP_NAMES[i % 3] for i in range(k - 1)],
                 "true next item's categories (LEAK)" if kind == "oracle" else "latest item's categories"]
        self.facts.update(control={"kind": kind, "banner": controls.banner(kind), "users": len(users)},
                          teacher_users=len(users), teacher_chains=len(R), teacher_filled_share=0.0)
        return steps, {"template": f"control_{kind}", "steps": steps}, (index, R, users, path)

    def examples(self, path: Path, n: int = 20) -> list[dict]:
        p = path.with_suffix(".chains.jsonl")
        if not p.exists():
            return []
        rows = [json.loads(line) for line in p.read_text().splitlines()[:n]]
        return [{"cut": r["cut"], "user": r["user"], **{f"step{i + 1}": s for i, s in enumerate(r["steps"])}}
                for r in rows]

    def counters_dict(self) -> dict | None:
        """What this run's LLM did; None when no LLM was built (everything came from the cache, or a control)."""
        return self.counters.as_dict() if self.counters is not None else None


def dump_yaml(path: Path, obj) -> None:
    path.write_text(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, width=120))


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
    examples = pipe.examples(Path(pipe.facts["bank_path"]))
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
