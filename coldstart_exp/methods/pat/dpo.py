"""DPO on LoRA adapters (`peft`): sequence log-probs of completions and the DPO loss.

    loss = -log sigmoid(beta [(log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x))])
The reference log-probs are computed once, before the update, with the adapter as it then stands
(the previous round's summarizer), so each round is a DPO step away from its own starting point.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)


def encode_pairs(tok, prompts: list[str], completions: list[str], max_prompt: int = 384,
                 max_completion: int = 64) -> list[tuple[list[int], int]]:
    """(token ids, number of prompt tokens) per (rendered prompt, completion); prompts cut from the left."""
    eos = tok.eos_token or ""
    out = []
    for p, c in zip(prompts, completions):
        pi = tok(p, add_special_tokens=False)["input_ids"][-max_prompt:]
        ci = tok(c + eos, add_special_tokens=False)["input_ids"][:max_completion]
        out.append((pi + ci, len(pi)))
    return out


def sequence_logps(model, batch: list[tuple[list[int], int]], pad: int) -> torch.Tensor:
    """(B,) summed log-probs of the completion tokens (differentiable)."""
    n = max(len(i) for i, _ in batch)
    ids = torch.full((len(batch), n), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    comp = torch.zeros((len(batch), n), dtype=torch.bool)
    for r, (i, p) in enumerate(batch):
        ids[r, : len(i)], mask[r, : len(i)] = torch.tensor(i), 1
        comp[r, p: len(i)] = True
    dev = next(model.parameters()).device
    logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits[:, :-1].float()
    lp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:].to(dev).unsqueeze(-1)).squeeze(-1)
    return (lp * comp[:, 1:].to(dev).float()).sum(1)


def dpo_loss(pol_w: torch.Tensor, pol_l: torch.Tensor, ref_w: torch.Tensor, ref_l: torch.Tensor,
             beta: float) -> torch.Tensor:
    return -F.logsigmoid(beta * ((pol_w - ref_w) - (pol_l - ref_l))).mean()


def train_dpo(model, tok, pairs: list[dict], steps: int, batch: int, lr: float, beta: float, seed: int = 0,
              max_prompt: int = 384, max_completion: int = 64) -> dict:
    """DPO steps on `pairs` ({prompt, chosen, rejected}); only parameters with requires_grad move."""
    if steps <= 0 or not pairs:
        return {"dpo_steps": 0, "dpo_pairs": len(pairs)}
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    w = encode_pairs(tok, [p["prompt"] for p in pairs], [p["chosen"] for p in pairs], max_prompt, max_completion)
    lo = encode_pairs(tok, [p["prompt"] for p in pairs], [p["rejected"] for p in pairs], max_prompt, max_completion)
    model.eval()
    with torch.no_grad():
        ref_w = torch.cat([sequence_logps(model, w[s: s + 8], pad) for s in range(0, len(w), 8)])
        ref_l = torch.cat([sequence_logps(model, lo[s: s + 8], pad) for s in range(0, len(lo), 8)])
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("DPO: the model has no trainable parameters (no LoRA adapter active?)")
    opt = torch.optim.AdamW(params, lr=lr)
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(len(pairs)) for _ in range(steps * batch // len(pairs) + 2)])
    model.train()
    losses, accs, t0 = [], [], time.perf_counter()
    for step in range(steps):
        idx = order[step * batch: (step + 1) * batch]
        pw = sequence_logps(model, [w[j] for j in idx], pad)
        pl = sequence_logps(model, [lo[j] for j in idx], pad)
        loss = dpo_loss(pw, pl, ref_w[idx], ref_l[idx], beta)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
        accs.append(float((((pw - ref_w[idx]) - (pl - ref_l[idx])) > 0).float().mean()))
    model.eval()
    log.info("DPO %d steps on %d pairs: loss %.4f -> %.4f, reward acc (last 5) %.2f", steps, len(pairs),
             losses[0], losses[-1], np.mean(accs[-5:]))
    return {"dpo_steps": steps, "dpo_pairs": len(pairs), "dpo_loss_first": round(losses[0], 4),
            "dpo_loss_last": round(losses[-1], 4), "dpo_reward_acc_last5": round(float(np.mean(accs[-5:])), 3),
            "dpo_s": round(time.perf_counter() - t0, 1)}
