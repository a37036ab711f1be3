"""Student: LoRA SFT of the small LLM on verified chains (profile -> typed chain), then OSIPO.

OSIPO, our reading of the paper's Outcome-Driven Segment-Aware Implicit Reward Policy Optimization:
a DPO loss on pairs of sampled chains ordered by an outcome score, where the implicit reward is a
*weighted sum over segments* (one segment = one step's label):
    delta = sum_k w_k [(log pi(c_k) - log ref(c_k)) - (log pi(r_k) - log ref(r_k))],  loss = -log sigmoid(beta delta)
with ref = the SFT student (its segment log-probs are computed once before OSIPO).

Both stages checkpoint the adapter and optimiser every `save_every` steps under `ckpt_dir` and
resume from the latest checkpoint; a finished stage is reused (the directory is keyed by content).
"""

from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .chain import ChainSpec

log = logging.getLogger(__name__)


def encode_chain(spec: ChainSpec, tok, header: str, labels: list[str]) -> tuple[list[int], list[int]]:
    """Token ids of header + chain and, per token, the step index whose label it carries (-1 = none).
    Pieces are tokenised separately, exactly as the PrefixScorer feeds them."""
    ids, seg = list(tok(header, add_special_tokens=False)["input_ids"]), []
    seg = [-1] * len(ids)
    for k, lab in enumerate(labels):
        q = tok(spec.student_step(k), add_special_tokens=False)["input_ids"]
        c = tok(spec.commit(spec.student, lab), add_special_tokens=False)["input_ids"]
        ids += q + c
        seg += [-1] * len(q) + [k] * len(c)
    return ids, seg


def segment_logps(model, batch: list[tuple[list[int], list[int]]], k: int, pad: int) -> torch.Tensor:
    """(B, K) summed token log-probs of each step's label segment (differentiable)."""
    n = max(len(i) for i, _ in batch)
    ids = torch.full((len(batch), n), pad, dtype=torch.long)
    seg = torch.full((len(batch), n), -1, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for r, (i, s) in enumerate(batch):
        ids[r, : len(i)], seg[r, : len(s)], mask[r, : len(i)] = torch.tensor(i), torch.tensor(s), 1
    dev = next(model.parameters()).device
    logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits[:, :-1].float()
    tok_lp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:].to(dev).unsqueeze(-1)).squeeze(-1)
    s = seg[:, 1:].to(dev)
    onehot = F.one_hot(s.clamp(min=0), k).float() * (s >= 0).unsqueeze(-1).float()
    return (tok_lp.unsqueeze(-1) * onehot).sum(1)


def osipo_loss(pol_c: torch.Tensor, pol_r: torch.Tensor, ref_c: torch.Tensor, ref_r: torch.Tensor,
               weights: torch.Tensor, beta: float) -> torch.Tensor:
    """Segment-weighted DPO loss; inputs (B, K) segment log-probs, weights (K,)."""
    delta = ((pol_c - ref_c) - (pol_r - ref_r)) @ weights
    return -F.logsigmoid(beta * delta).mean()


class Student:
    def __init__(self, base_model, tok, spec: ChainSpec, cfg, ckpt_dir: Path, seed: int = 0):
        from peft import LoraConfig, get_peft_model

        self.tok, self.spec, self.cfg, self.dir, self.seed = tok, spec, cfg, Path(ckpt_dir), seed
        self.pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        lora = LoraConfig(r=int(cfg.lora_r), lora_alpha=int(cfg.lora_alpha), lora_dropout=float(cfg.lora_dropout),
                          target_modules=list(cfg.target_modules), task_type="CAUSAL_LM")
        # a private copy: the teacher keeps the untouched base weights
        self.model = get_peft_model(copy.deepcopy(base_model), lora)
        # peft returns the model in training mode (LoRA dropout on); a student whose stages are all reused from
        # the cache must score exactly as the one that just trained them (sft/osipo switch to train() themselves)
        self.model.eval()
        self.stage = "osipo"  # checkpoint sub-folder of the OSIPO stage (the caller keys it by its knobs)

    # -- checkpoints ---------------------------------------------------------------------------
    def _save(self, stage: str, step: int, opt, done: bool = False) -> None:
        from peft import get_peft_model_state_dict

        d = self.dir / stage
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / "ckpt.pt.tmp"
        torch.save({"adapter": get_peft_model_state_dict(self.model), "opt": opt.state_dict(), "step": step}, tmp)
        tmp.replace(d / "ckpt.pt")  # atomic: a killed run keeps the previous checkpoint
        if done:
            (d / "DONE").write_text(json.dumps({"step": step, "time": time.time()}))

    def _resume(self, stage: str, opt) -> int:
        from peft import set_peft_model_state_dict

        f = self.dir / stage / "ckpt.pt"
        if not f.exists():
            return 0
        state = torch.load(f, map_location="cpu", weights_only=True)  # adapter and optimiser tensors, ints
        set_peft_model_state_dict(self.model, state["adapter"])
        opt.load_state_dict(state["opt"])
        log.info("student %s: resumed at step %d from %s", stage, state["step"], f)
        return int(state["step"])

    def _done(self, stage: str) -> bool:
        return (self.dir / stage / "DONE").exists()

    # -- stages --------------------------------------------------------------------------------
    def sft(self, examples: list[tuple[str, list[str]]]) -> dict:
        """Teacher-forced NLL of the label segments on verified (header, labels) examples.
        Outside Lightning on purpose: LoRA steps on the LLM layer's HF model with its own adapter saves
        every `save_every` steps (resume); the LLM layer owns that model, not a LightningModule."""
        steps, bs = int(self.cfg.sft_steps), int(self.cfg.sft_batch)
        data = [encode_chain(self.spec, self.tok, h, lab) for h, lab in examples]
        opt = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=float(self.cfg.sft_lr))
        start = self._resume("sft", opt)
        if self._done("sft") or not data or steps <= 0:
            return {"sft_steps": start, "sft_reused": self._done("sft")}
        rng = np.random.default_rng(self.seed)
        order = np.concatenate([rng.permutation(len(data)) for _ in range(steps * bs // max(1, len(data)) + 2)])
        self.model.train()
        losses, t0 = [], time.perf_counter()
        for step in range(start, steps):
            batch = [data[j] for j in order[step * bs : (step + 1) * bs]]
            lp = segment_logps(self.model, batch, self.spec.k, self.pad)
            n_tok = sum(sum(1 for s in seg if s >= 0) for _, seg in batch)
            loss = -lp.sum() / max(1, n_tok)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
            if (step + 1) % int(self.cfg.save_every) == 0 or step + 1 == steps:
                self._save("sft", step + 1, opt, done=step + 1 == steps)
                log.info("student SFT step %d/%d loss %.3f (%.1fs)", step + 1, steps, np.mean(losses[-10:]),
                         time.perf_counter() - t0)
        self.model.eval()
        return {"sft_steps": steps, "sft_loss_first": round(losses[0], 4), "sft_loss_last": round(losses[-1], 4),
                "sft_s": round(time.perf_counter() - t0, 1)}

    def osipo(self, pairs: list[dict], headers: dict[int, str]) -> dict:
        steps, bs, beta = int(self.cfg.osipo_steps), int(self.cfg.osipo_batch), float(self.cfg.beta)
        if steps <= 0 or not pairs:
            return {"osipo_steps": 0, "osipo_pairs": len(pairs)}
        w = torch.tensor([s.weight for s in self.spec.steps], dtype=torch.float32)
        ch = [encode_chain(self.spec, self.tok, headers[p["user"]], p["chosen"]) for p in pairs]
        rj = [encode_chain(self.spec, self.tok, headers[p["user"]], p["rejected"]) for p in pairs]
        ref_file = self.dir / f"{self.stage}_ref.pt"
        if ref_file.exists():
            ref_c, ref_r = torch.load(ref_file)
        else:  # the SFT student is the reference policy
            self.model.eval()
            with torch.no_grad():
                ref_c = torch.cat([segment_logps(self.model, ch[s : s + 8], self.spec.k, self.pad) for s in range(0, len(ch), 8)])
                ref_r = torch.cat([segment_logps(self.model, rj[s : s + 8], self.spec.k, self.pad) for s in range(0, len(rj), 8)])
            (self.dir).mkdir(parents=True, exist_ok=True)
            torch.save((ref_c, ref_r), ref_file)
        opt = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=float(self.cfg.osipo_lr))
        start = self._resume(self.stage, opt)
        if self._done(self.stage):
            return {"osipo_steps": start, "osipo_pairs": len(pairs), "osipo_reused": True}
        rng = np.random.default_rng(self.seed + 1)
        order = np.concatenate([rng.permutation(len(pairs)) for _ in range(steps * bs // len(pairs) + 2)])
        self.model.train()
        losses, accs, t0 = [], [], time.perf_counter()
        for step in range(start, steps):
            idx = order[step * bs : (step + 1) * bs]
            pc = segment_logps(self.model, [ch[j] for j in idx], self.spec.k, self.pad)
            pr = segment_logps(self.model, [rj[j] for j in idx], self.spec.k, self.pad)
            loss = osipo_loss(pc, pr, ref_c[idx], ref_r[idx], w, beta)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
            accs.append(float((((pc - ref_c[idx]) - (pr - ref_r[idx])) @ w > 0).float().mean()))
            if (step + 1) % int(self.cfg.save_every) == 0 or step + 1 == steps:
                self._save(self.stage, step + 1, opt, done=step + 1 == steps)
                log.info("student OSIPO step %d/%d loss %.3f reward-acc %.2f", step + 1, steps,
                         np.mean(losses[-10:]), np.mean(accs[-10:]))
        self.model.eval()
        return {"osipo_steps": steps, "osipo_pairs": len(pairs), "osipo_loss_first": round(losses[0], 4),
                "osipo_loss_last": round(losses[-1], 4), "osipo_reward_acc_last10": round(float(np.mean(accs[-10:])), 3),
                "osipo_s": round(time.perf_counter() - t0, 1)}
