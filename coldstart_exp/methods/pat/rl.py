"""Iterative dual reasoning: R rounds alternating the style and the topic summarizer, each a DPO step
on that summarizer's LoRA adapter, driven by differential rewards on *training* users.

Round r trains kind = (style, topic)[r % 2]:
  1. the other kind's summary of every training example (greedy, its current adapter);
  2. `n_candidates` sampled summaries of this kind (temperature, distinct seeds);
  3. the generator (base model, no adapter) writes the review with each candidate + the other
     summary, and once with the other summary alone;
  4. reward = mean of `reward_metrics` of the output against the gold review; differential reward
     = reward with the candidate minus reward without it;
  5. pair (best, worst candidate) where they differ by more than `min_gap` (and the best helps,
     when `require_gain`); DPO on the adapter of this kind.
Each round's adapter, pairs and facts are saved under `<cache>/pat/rl-<key>/round<r>_<kind>/` with a
DONE marker: a rerun (or a killed run) reloads finished rounds and continues with the next one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from .agents import Agents
from .dpo import train_dpo
from .retrieval import Retriever
from .split import Example

log = logging.getLogger(__name__)
KINDS = ("style", "topic")


class AdapterView:
    """The cached LLM seen through one LoRA adapter: same backend settings, its own cache version."""

    def __init__(self, owner: DualReasoner, kind: str, version: str):
        from ...llm import CachedLLM

        self.owner, self.kind = owner, kind
        b = copy.copy(owner.llm.backend)
        b._model, b._loader = None, lambda: owner.peft_model(kind)  # lazy: a fully cached run never builds it
        b.version = version
        self.llm = CachedLLM(b, owner.llm.cache)

    def generate(self, prompts, params, template_version=None, desc=""):
        if self.owner._peft is not None:
            self.owner._peft.set_adapter(self.kind)
        return self.llm.generate(prompts, params, template_version=template_version, desc=desc)


class DualReasoner:
    def __init__(self, cfg, agents: Agents, retriever: Retriever, evaluator, cache_root: str | Path, key: dict,
                 seed: int = 0):
        self.cfg, self.agents, self.retriever, self.evaluator, self.seed = cfg, agents, retriever, evaluator, seed
        self.llm = agents.llm
        if not hasattr(self.llm.backend, "tok"):
            raise ValueError(f"method.rl.rounds > 0 needs a local model (llm=smollm2 or llm=hf), not "
                             f"llm.backend={self.llm.backend.name!r}; use method.rl.rounds=0 (PAT without RL)")
        blob = json.dumps({**key, "rl": dict(cfg), "format": 2, "llm": [self.llm.name, self.llm.version]}, sort_keys=True, default=str)
        self.key = hashlib.sha1(blob.encode()).hexdigest()[:12]
        self.root = Path(cache_root) / "pat" / f"rl-{self.key}"
        self._peft = None
        self.done = {k: -1 for k in KINDS}  # last finished round per kind
        self.facts: dict = {"dir": str(self.root), "rounds": []}

    # -- adapters ---------------------------------------------------------------------------------
    def peft_model(self, active: str | None = None):
        """The summarizers' peft model (built on first use, finished rounds loaded); `active` selects the adapter."""
        if self._peft is None:
            from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

            c = self.cfg.lora
            lora = dict(r=int(c.r), lora_alpha=int(c.alpha), lora_dropout=float(c.dropout),
                        target_modules=list(c.target_modules), task_type="CAUSAL_LM")
            base = copy.deepcopy(self.llm.backend.model)  # the generator keeps the untouched weights
            torch.manual_seed(self.seed)
            pm = get_peft_model(base, LoraConfig(**lora), adapter_name="style")
            pm.add_adapter("topic", LoraConfig(**lora))
            for kind, r in self.done.items():
                if r >= 0:
                    set_peft_model_state_dict(pm, torch.load(self._dir(r, kind) / "adapter.pt"), adapter_name=kind)
            self._peft = pm.eval()
        if active is not None:
            self._peft.set_adapter(active)
        return self._peft

    def _dir(self, r: int, kind: str) -> Path:
        return self.root / f"round{r}_{kind}"

    def view(self, kind: str) -> AdapterView | None:
        """The summarizer of `kind` after its last finished round (None: never trained = base model)."""
        r = self.done[kind]
        return None if r < 0 else AdapterView(self, kind, f"{self.llm.version}+pat-{kind}-r{r}-{self.key}")

    # -- rounds -----------------------------------------------------------------------------------
    def reward(self, outputs: list[str], golds: list[str]) -> np.ndarray:
        names = list(self.cfg.reward_metrics)
        return np.array([np.mean([self.evaluator.score(o, g)[n] for n in names]) for o, g in zip(outputs, golds)])

    def train(self, examples: list[Example]) -> dict:
        rounds = int(self.cfg.rounds)
        for r in range(rounds):
            kind = KINDS[r % 2]
            d = self._dir(r, kind)
            if (d / "DONE").exists():
                self.done[kind] = r
                self.facts["rounds"].append({**json.loads((d / "info.json").read_text()), "reused": True})
                log.info("PAT RL round %d (%s): reused %s", r, kind, d)
                continue
            self.facts["rounds"].append(self._round(r, kind, examples))
        return self.facts

    def _round(self, r: int, kind: str, exs: list[Example]) -> dict:
        t0 = time.perf_counter()
        a, c, reviews = self.agents, self.cfg, self.retriever.split.reviews
        other = KINDS[1 - KINDS.index(kind)]
        snip = {k: [a.snippets(reviews, self.retriever.profile(ex, k)) for ex in exs] for k in KINDS}
        other_sum = a.summarize(other, exs, snip[other], llm=self.view(other))
        prompts = a.summary_prompts(kind, exs, snip[kind])
        view = self.view(kind)
        cands, raws = [], []
        for j in range(int(c.n_candidates)):
            p = a.summary_params.replace(temperature=float(c.temperature), seed=self.seed * 1000 + r * 100 + j)
            raw = (view or a.llm).generate(prompts, p, template_version=a.tpl[kind].version_key, desc=f"pat.rl.{kind}")
            pre = a.tpl[kind].prefix or ""  # answers come back with the prefill; DPO scores only what follows it
            raws.append([x[len(pre):] if x.startswith(pre) else x for x in raw])
            cands.append([x.strip() for x in raw])

        golds = [ex.gold for ex in exs]
        without = self.reward(a.generate(exs, [a.context({other: s}) for s in other_sum]), golds)
        rewards = np.stack([self.reward(a.generate(exs, [a.context(_blocks(kind, cj[i], other_sum[i]))
                                                         for i in range(len(exs))]), golds) for cj in cands], 1)
        diff = rewards - without[:, None]
        pairs = []
        rendered = [a.llm.render(p) for p in prompts]
        for i in range(len(exs)):
            hi, lo = int(np.argmax(diff[i])), int(np.argmin(diff[i]))
            if diff[i, hi] - diff[i, lo] > float(c.min_gap) and (diff[i, hi] > 0 or not bool(c.require_gain)) \
                    and raws[hi][i] != raws[lo][i]:
                pairs.append({"user": exs[i].user, "prompt": rendered[i], "chosen": raws[hi][i], "rejected": raws[lo][i],
                              "diff_chosen": float(diff[i, hi]), "diff_rejected": float(diff[i, lo])})
        model = self.peft_model()
        model.set_adapter(kind)
        info = train_dpo(model, a.llm.tok, pairs, int(c.dpo_steps), int(c.dpo_batch), float(c.lr), float(c.beta),
                         seed=self.seed + r)
        from peft import get_peft_model_state_dict

        d = self._dir(r, kind)
        d.mkdir(parents=True, exist_ok=True)
        torch.save(get_peft_model_state_dict(model, adapter_name=kind), d / "adapter.pt")
        with (d / "pairs.jsonl").open("w") as f:
            f.writelines(json.dumps(p) + "\n" for p in pairs)
        info = {"round": r, "kind": kind, "examples": len(exs), "reward_without": round(float(without.mean()), 4),
                "reward_candidates": round(float(rewards.mean()), 4),
                "differential_reward_mean": round(float(diff.mean()), 4),
                "share_candidates_helping": round(float((diff > 0).mean()), 4), **info,
                "round_s": round(time.perf_counter() - t0, 1)}
        (d / "info.json").write_text(json.dumps(info, indent=1))
        (d / "DONE").write_text(str(time.time()))
        self.done[kind] = r
        log.info("PAT RL round %d (%s): %s", r, kind, info)
        return info


def _blocks(kind: str, mine: str, theirs: str) -> dict[str, str]:
    """Context blocks in the canonical order (style, then topic), as `systems.run_system` builds them."""
    return {k: (mine if k == kind else theirs) for k in KINDS}
