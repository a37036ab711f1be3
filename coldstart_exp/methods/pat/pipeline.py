"""PAT run pipeline: review table -> generation split -> retriever -> agents -> (RL rounds) -> every
requested system on valid and test -> per-user scores, generated samples, metrics.json.

Eval-set names: `valid` / `test` hold `method.system` (the row this run stands for); every system in
`method.compare` adds `valid/<system>` and `test/<system>` on the same users, for paired comparisons.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from ...eval.generation import GenerationEvaluator, paired_test
from ...llm import LLMCounters, build_llm, generation_params
from .agents import Agents
from .retrieval import Retriever
from .split import GenSplit
from .systems import RAW, SUMMARY, SYSTEMS, Outputs, run_system

log = logging.getLogger(__name__)


class PatPipeline:
    """`split` = the run's GenSplit (split=pgraphrag), `evaluator` = the generation task's evaluator."""

    def __init__(self, cfg, split: GenSplit, evaluator: GenerationEvaluator, run_dir: Path):
        self.cfg, self.m, self.run_dir = cfg, cfg.method, Path(run_dir)
        systems = [str(self.m.system), *[str(s) for s in self.m.compare if str(s) != str(self.m.system)]]
        bad = [s for s in systems if s not in SYSTEMS]
        if bad:
            raise ValueError(f"conf/method/pat.yaml: method.system/compare name unknown systems {bad}; known {list(SYSTEMS)}")
        self.systems, self.timings, self.facts = systems, {}, {}
        t0 = time.perf_counter()
        self.split = split
        r = self.m.retrieval
        self.retriever = Retriever(self.split, k=int(r.k), min_topic_users=int(r.min_topic_users),
                                   style_users=int(r.style_users), sage_dim=int(r.sage_dim),
                                   sage_epochs=int(r.sage_epochs), style_weight=float(r.style_weight), seed=int(cfg.seed))
        self.timings["split_retrieval_s"] = round(time.perf_counter() - t0, 2)
        self.evaluator = evaluator
        self.counters = LLMCounters()
        self.agents = None
        if any(s != "reference" for s in systems):
            llm = build_llm(cfg.llm, counters=self.counters)
            a = self.m.agents
            gen_tokens = int(a.max_new_tokens[split.task])
            self.agents = Agents(llm, split.task,
                                 generation_params(cfg.llm, max_new_tokens=int(a.summary_max_new_tokens)),
                                 generation_params(cfg.llm, max_new_tokens=gen_tokens),
                                 snippet_chars=int(a.snippet_chars), max_title_words=int(cfg.split.max_title_words))

    def summarizers(self) -> dict:
        """(view, tag) per summary kind for system `pat`: the DPO-trained adapters (rl.rounds > 0)."""
        if int(self.m.rl.rounds) <= 0:
            return {}
        from .rl import DualReasoner

        t0 = time.perf_counter()
        key = {"data": self.cfg.data.name, "split": self.split.info, "retrieval": OmegaConf.to_container(self.m.retrieval),
               "agents": OmegaConf.to_container(self.m.agents), "prompts": {k: t.version_key for k, t in self.agents.tpl.items()}}
        rl = DualReasoner(self.m.rl, self.agents, self.retriever, self.evaluator, self.cfg.paths.cache_dir, key,
                          seed=int(self.cfg.seed))
        self.facts["rl"] = rl.train(self.split.examples["train"])
        self.timings["rl_s"] = round(time.perf_counter() - t0, 2)
        return {k: (v, "") for k in SUMMARY["pat"] if (v := rl.view(k)) is not None}

    def evaluate(self) -> tuple[dict[str, pd.DataFrame], dict[str, list[dict]]]:
        views = self.summarizers() if "pat" in self.systems else {}
        tables, samples = {}, {}
        for set_name in ("valid", "test"):
            exs = self.split.examples[set_name]
            if not exs:
                continue
            for s in self.systems:
                t0 = time.perf_counter()
                out = run_system(s, exs, self.retriever, self.agents, views if s == "pat" else None)
                name = set_name if s == self.systems[0] else f"{set_name}/{s}"
                self.timings[f"{name}_s"] = round(time.perf_counter() - t0, 2)
                tables[name] = self.evaluator.table([e.user for e in exs], [e.activity for e in exs], out.outputs,
                                                    [e.gold for e in exs])
                samples[name] = self._samples(exs, out)
        self.facts["llm_counters"] = self.counters.as_dict()
        self.facts["paired"] = self.paired(tables)
        return tables, samples

    def table_of(self, tables: dict, set_name: str, system: str):
        return tables.get(set_name if system == self.systems[0] else f"{set_name}/{system}")

    def paired(self, tables: dict) -> dict:
        """Test-set paired tests of the run's system against the best PGraphRAG/LaMP baseline (picked on
        validation by `method.select_metric`) and, for `pat`, against `pat_norl` (the RL effect)."""
        main, sel = self.systems[0], str(self.m.select_metric)
        if sel not in self.evaluator.names:
            raise ValueError(f"conf/method/pat.yaml: select_metric {sel!r} not among {self.evaluator.names}")
        base = [s for s in self.systems[1:] if s in RAW and self.table_of(tables, "valid", s) is not None]
        out = {}
        if base and main not in RAW:
            best = max(base, key=lambda s: (float(self.table_of(tables, "valid", s)[sel].mean()), s))
            out[f"{main}_vs_{best}"] = {"baseline_chosen_on": f"valid/{sel}",
                                        **paired_test(tables["test"], self.table_of(tables, "test", best), self.evaluator.names)}
        if main == "pat" and "pat_norl" in self.systems:
            out["pat_vs_pat_norl"] = paired_test(tables["test"], self.table_of(tables, "test", "pat_norl"), self.evaluator.names)
        return out

    def _samples(self, exs, out: Outputs) -> list[dict]:
        return [{"user": ex.user, "activity": ex.activity, "item": ex.item, "review": ex.rid, "input": ex.input,
                 "summaries": {k: v[i] for k, v in out.summaries.items()}, "context": out.contexts[i],
                 "retrieved": {k: v[i] for k, v in out.retrieved.items()}, "output": out.outputs[i], "gold": ex.gold}
                for i, ex in enumerate(exs)]

    def write_samples(self, samples: dict[str, list[dict]]) -> None:
        d = self.run_dir / "samples"
        d.mkdir(parents=True, exist_ok=True)
        for name, rows in samples.items():
            with (d / f"{name.replace('/', '_')}.jsonl").open("w") as f:
                f.writelines(json.dumps(r, default=int) + "\n" for r in rows)
