"""Closed-set label scoring for HF causal LMs: every option of many prompts in two forward passes.

Why: scoring one prompt at a time runs a batch-1 prompt pass per prompt, which on a CPU costs far
more than the options themselves. Here a group of prompts is prefilled together (their common
prefix once, see ``hf_decode.prefill``), each prompt's KV rows are repeated once per option, and all
options' remaining tokens go through one batched forward pass.

An option's tokens are those of ``tokenize(prompt + option)`` whose character span ends past the
prompt text, so a token merging the boundary still counts for the option; tokens before the
options' common part are the prompt prefix and are never scored.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .hf import Encoded
from .hf_decode import prefill


def option_prefix_len(encs: Sequence[Encoded]) -> int:
    """Tokens shared by all options of one prompt, never including an option token (at least 1)."""
    first = encs[0][0]
    n = min(len(ids) - k for ids, k in encs)
    for ids, _ in encs[1:]:
        j = 0
        while j < n and ids[j] == first[j]:
            j += 1
        n = j
    return max(n, 1)


@torch.inference_mode()
def score_group(model, groups: Sequence[Sequence[Encoded]], pad_id: int, share_prefix: bool = True) -> list[list[float]]:
    """Sum of option-token log-probs for each option of each prompt (``groups[p]`` = prompt p's options)."""
    dev = next(model.parameters()).device
    lcps = [option_prefix_len(g) for g in groups]
    st = prefill(model, [g[0][0][:n] for g, n in zip(groups, lcps)], pad_id, share_prefix)
    owner = [p for p, g in enumerate(groups) for _ in g]
    flat = [e for g in groups for e in g]
    suffixes = [ids[lcps[p]:] for p, (ids, _) in zip(owner, flat)]
    m = max(len(s) for s in suffixes)
    suf = torch.full((len(flat), m), pad_id, dtype=torch.long)
    smask = torch.zeros((len(flat), m), dtype=torch.long)
    for i, s in enumerate(suffixes):  # right padding: causal attention never sees it
        suf[i, : len(s)] = torch.as_tensor(s)
        smask[i, : len(s)] = 1
    idx = torch.tensor(owner, device=dev)
    st.cache.batch_select_indices(idx)
    mask = torch.cat([st.mask[idx], smask.to(dev)], dim=1)
    pos = st.next_pos[idx][:, None] + torch.arange(m, device=dev)[None, :]
    logits = model(input_ids=suf.to(dev), attention_mask=mask, position_ids=pos, past_key_values=st.cache,
                   use_cache=True).logits
    # position j of the suffix is predicted by the prompt's last logits (j = 0) or suffix logits j - 1
    pred = torch.cat([st.logits[idx][:, None, :], logits[:, : m - 1].float()], dim=1)
    tok_lp = pred.gather(2, suf.to(dev)[:, :, None]).squeeze(2) - torch.logsumexp(pred, dim=-1)
    out: list[list[float]] = [[] for _ in groups]
    for i, (p, (_ids, n_opt), s) in enumerate(zip(owner, flat, suffixes)):
        out[p].append(float(tok_lp[i, len(s) - n_opt : len(s)].sum()))
    return out


def chunks(sizes: Sequence[int], budget: int) -> list[list[int]]:
    """Consecutive prompt indices whose option counts sum to at most ``budget`` (one prompt at least)."""
    out: list[list[int]] = []
    cur: list[int] = []
    total = 0
    for i, n in enumerate(sizes):
        if cur and total + n > budget:
            out.append(cur)
            cur, total = [], 0
        cur.append(i)
        total += n
    if cur:
        out.append(cur)
    return out
