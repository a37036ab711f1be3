"""Batched prefill and decoding for HF causal LMs, without ``generate()``'s per-step machinery.

Why our own loop (measured in ``scripts/bench_llm.py --profile``): on a 2-core CPU a batch of
ragged prompts spends a large share of its time in prefill, and ``generate()`` keeps decoding
rows that already hit EOS until the longest row ends. This loop
- computes the prompt prefix shared by every row of the batch once (the chat template's system
  turn and a prompt template's instructions) and repeats its KV cache, so only each row's own
  remainder is prefilled (padding sits between the shared prefix and the remainder, masked);
- under greedy decoding drops finished rows from the batch (and their KV rows);
- keeps only the last position's logits and applies the repetition penalty through a
  "seen token" mask instead of gathering over the whole history every step.
It applies the same float operations as ``generate()`` (``RepetitionPenaltyLogitsProcessor``,
then HF's own temperature / top-p warpers, argmax or ``multinomial``), so greedy outputs match
the ``generate()`` path token for token up to float noise from different batch shapes
(``tests/llm/test_hf_decode.py`` checks a fixed prompt set). Sampling keeps every row in the batch
until all are done, so the random stream is consumed exactly as ``generate()`` consumes it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers.cache_utils import Cache, DynamicLayer

MIN_SHARED = 8  # shorter common prefixes are not worth a separate forward pass


class GrowingLayer(DynamicLayer):
    """A KV-cache layer with spare capacity: each step writes in place instead of ``torch.cat``.

    Why: ``DynamicLayer`` copies the whole cache every step (20 % of a batch-32 decode in the
    profile); here the buffer doubles when full, and keys/values are views of its filled part.
    """

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._k = self._v = None
        self._n = 0

    def _view(self) -> None:
        self.keys, self.values = self._k[:, :, : self._n], self._v[:, :, : self._n]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n = key_states.shape[-2]
        if self._k is None or self._n + n > self._k.shape[-2]:
            b, h, _, d = key_states.shape
            cap = max(2 * (self._n + n), self._n + n + 64)
            k, v = key_states.new_empty((b, h, cap, d)), value_states.new_empty((b, h, cap, d))
            if self._n:
                k[:, :, : self._n], v[:, :, : self._n] = self.keys, self.values
            self._k, self._v = k, v
        self._k[:, :, self._n : self._n + n] = key_states
        self._v[:, :, self._n : self._n + n] = value_states
        self._n += n
        self._view()
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized and self._n:
            self._k, self._v = self._k[indices], self._v[indices]
            self._view()

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.is_initialized and self._n:
            self._k, self._v = self._k.repeat_interleave(repeats, 0), self._v.repeat_interleave(repeats, 0)
            self._view()


def new_cache() -> Cache:
    return Cache(layer_class_to_replicate=GrowingLayer)


@dataclass
class Prefilled:
    """State after the prompt pass: last-position logits, KV cache, 2-D mask, next position ids."""

    logits: torch.Tensor  # (B, V) float32
    cache: object
    mask: torch.Tensor  # (B, L) long, 1 = real token
    next_pos: torch.Tensor  # (B,) position id of the next token


def common_prefix(seqs: Sequence[Sequence[int]], cap: int) -> int:
    """Length of the token prefix all ``seqs`` share, at most ``cap``."""
    first = seqs[0]
    n = min(cap, min(len(s) for s in seqs))
    for s in seqs[1:]:
        j = 0
        while j < n and s[j] == first[j]:
            j += 1
        n = j
    return n


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, n - len(s):] = torch.as_tensor(list(s), dtype=torch.long)
        mask[i, n - len(s):] = 1
    return ids, mask


def prefill(model, seqs: Sequence[Sequence[int]], pad_id: int, share_prefix: bool = True) -> Prefilled:
    """Run the prompts through the model, once for a prefix they all share (if long enough)."""
    dev = next(model.parameters()).device
    g = common_prefix(seqs, min(len(s) for s in seqs) - 1) if share_prefix and len(seqs) > 1 else 0
    if g >= MIN_SHARED:
        cache = new_cache()
        model(input_ids=torch.tensor([list(seqs[0][:g])], device=dev), past_key_values=cache, use_cache=True,
              logits_to_keep=1)
        cache.batch_repeat_interleave(len(seqs))
        rest, rmask = left_pad([s[g:] for s in seqs], pad_id)
        mask = torch.cat([torch.ones((len(seqs), g), dtype=torch.long), rmask], dim=1).to(dev)
        pos = (g + rmask.cumsum(-1) - 1).clamp(min=g).to(dev)
        out = model(input_ids=rest.to(dev), attention_mask=mask, position_ids=pos, past_key_values=cache,
                    use_cache=True, logits_to_keep=1)
    else:
        ids, mask = left_pad(seqs, pad_id)
        ids, mask = ids.to(dev), mask.to(dev)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=new_cache(), use_cache=True,
                    logits_to_keep=1)
    next_pos = mask.sum(-1)
    return Prefilled(out.logits[:, -1, :].float(), out.past_key_values, mask, next_pos)


def _warpers(temperature: float, top_p: float):
    """HF's own sampling warpers, in ``generate()``'s order (temperature, then top-p)."""
    from transformers.generation.logits_process import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopPLogitsWarper,
    )

    procs = LogitsProcessorList()
    if temperature != 1.0:
        procs.append(TemperatureLogitsWarper(temperature))
    if top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1))
    return procs


@torch.inference_mode()
def decode(
    model,
    seqs: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    eos_ids: Sequence[int],
    pad_id: int,
    repetition_penalty: float = 1.0,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    share_prefix: bool = True,
    stopped: Callable[[list[int]], bool] | None = None,
) -> list[list[int]]:
    """New tokens per row (cut after the first EOS, which is kept), in input order.

    ``stopped(tokens)`` may end a row early (stop strings); the caller cuts the text.
    """
    greedy = temperature <= 0.0
    st = prefill(model, seqs, pad_id, share_prefix)
    dev, B = st.logits.device, len(seqs)
    vocab = st.logits.shape[-1]
    eos = torch.tensor(sorted(set(eos_ids)), device=dev)
    seen = torch.zeros((B, vocab), dtype=torch.bool, device=dev)
    if repetition_penalty != 1.0:
        for i, s in enumerate(seqs):
            seen[i, torch.as_tensor(list(s), dtype=torch.long, device=dev)] = True
    warp = None if greedy else _warpers(temperature, top_p)
    if not greedy:
        torch.manual_seed(seed)
    rows = list(range(B))  # original index of each live batch row
    out: list[list[int]] = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool, device=dev)
    logits, cache, mask, pos = st.logits, st.cache, st.mask, st.next_pos
    for step in range(max_new_tokens):
        scores = logits
        if repetition_penalty != 1.0:  # RepetitionPenaltyLogitsProcessor's arithmetic on the seen set
            pen = torch.where(scores < 0, scores * repetition_penalty, scores / repetition_penalty)
            scores = torch.where(seen, pen, scores)
        if greedy:
            nxt = scores.argmax(-1)
        else:
            scores = warp(None, scores)
            nxt = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
            nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
        toks = nxt.tolist()
        is_eos = torch.isin(nxt, eos)
        for r, (orig, t) in enumerate(zip(rows, toks)):
            if not bool(done[r]):
                out[orig].append(t)
        newly = is_eos & ~done
        if stopped is not None:
            extra = [r for r, orig in enumerate(rows) if not bool(done[r] | newly[r]) and stopped(out[orig])]
            if extra:
                newly[extra] = True
        done = done | newly
        if bool(done.all()) or step == max_new_tokens - 1:
            break
        if repetition_penalty != 1.0:
            seen[torch.arange(len(rows), device=dev), nxt] = True
        if greedy and bool(done.any()):  # drop finished rows and their KV
            keep = (~done).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows = [rows[k] for k in keep.tolist()]
            nxt, mask, pos, seen, done = nxt[keep], mask[keep], pos[keep], seen[keep], done[keep]
        mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=mask.dtype, device=dev)], dim=1)
        res = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=pos[:, None], past_key_values=cache,
                    use_cache=True)
        logits, cache, pos = res.logits[:, -1, :].float(), res.past_key_values, pos + 1
    return out
