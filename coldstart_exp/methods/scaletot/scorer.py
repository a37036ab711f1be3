"""Closed-set label scoring along a growing chain, for the teacher and the student.

Why a scorer of our own: a chain is a prefix that grows by one committed label per step, and each
step scores every label of a closed set. The LLM layer's `score` re-encodes prompt + option for
every pair; on a shared CPU a 135M model then spends ~0.7 s per pair. `PrefixScorer` keeps the
KV cache of the prefix, scores all options of a step in one batched forward pass over the cached
prefix, and extends the cache with the committed label, so each chain token is encoded once
(about 5x fewer tokens). It also records the last hidden states of every appended segment: the
per-step representations the transfer stage needs.

`LayerScorer` is the generic path through the LLM layer (`llm.score_many`; any backend that scores,
e.g. the scripted fake in tests); `SampleScorer` estimates the distribution by sampling B answers,
for server backends without log-probs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class BatchState:
    """Rows of growing chains (texts), their pooled segments and, for PrefixScorer, the KV cache."""

    texts: list[str]
    segments: list[list[np.ndarray]]
    mask: torch.Tensor | None = None
    pos: torch.Tensor | None = None
    last_logp: list | None = None
    cache: object = None


class LayerScorer:
    """Scores through the LLM layer (`score_many`, one call per step for all rows); the prefix is
    re-sent each time. Works with any backend that scores (the scripted fake in tests)."""

    def __init__(self, llm):
        self.llm = llm

    def start(self, headers: list[str]) -> BatchState:
        return BatchState(texts=list(headers), segments=[[] for _ in headers])

    def extend(self, st: BatchState, texts: list[str], tails: list[str] | None = None, pool: bool = False) -> BatchState:
        st.texts = [a + b + (tails[i] if tails else "") for i, (a, b) in enumerate(zip(st.texts, texts))]
        return st

    def score(self, st: BatchState, options: list[list[str]]) -> list[np.ndarray]:
        res = self.llm.score_many(st.texts, [[" " + o for o in opts] for opts in options])
        return [np.asarray(r, dtype=np.float64) for r in res]

    def score_after(self, st: BatchState, texts: list[str], options: list[list[str]]) -> list[np.ndarray]:
        return self.score(BatchState(texts=[a + b for a, b in zip(st.texts, texts)], segments=[]), options)


class SampleScorer(LayerScorer):
    """Empirical label distribution from B sampled answers (for backends without log-probs)."""

    def __init__(self, llm, n_samples: int = 8, temperature: float = 0.8, max_new_tokens: int = 8):
        super().__init__(llm)
        self.n, self.temperature, self.max_new_tokens = n_samples, temperature, max_new_tokens

    def score(self, st: BatchState, options: list[list[str]]) -> list[np.ndarray]:
        from ...llm import GenerationParams

        answers: list[list[str]] = [[] for _ in st.texts]
        for s in range(self.n):
            p = GenerationParams(max_new_tokens=self.max_new_tokens, temperature=self.temperature, seed=s,
                                 stop=("\n",))
            for i, a in enumerate(self.llm.generate(st.texts, p, desc="scaletot.sample")):
                answers[i].append(a)
        out = []
        for ans, opts in zip(answers, options):
            counts = Counter(snap(a, opts) for a in ans)
            freq = np.array([counts.get(o, 0) for o in opts], dtype=np.float64) + 0.1  # add-0.1 smoothing
            out.append(np.log(freq / freq.sum()))
        return out


def snap(answer: str, options: list[str]) -> str:
    """The option an answer names (first mentioned; else the largest word overlap)."""
    a = answer.lower()
    hits = [(a.find(o.lower()), o) for o in options if o.lower() in a]
    if hits:
        return min(hits)[1]
    words = set(a.replace(",", " ").split())
    return max(options, key=lambda o: (sum(w in words for w in o.lower().split()), -options.index(o)))


class PrefixScorer:
    """Batched, KV-cached prefix scoring with a local causal LM (`transformers` model + tokenizer).

    Rows (users) are scored together: the header is left-padded, later segments are right-padded
    per forward pass, holes are masked and positions given explicitly, so each row is exact.
    Single-token labels are scored from the next-token distribution (no extra pass); longer labels
    fall back to one pass per row over a copy of that row's cache."""

    def __init__(self, model, tok, counters=None):
        self.model, self.tok, self.counters = model, tok, counters
        self.pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        self._ids: dict[str, list[int]] = {}
        self.stats = {"forward_passes": 0, "tokens": 0, "scored_options": 0}

    def _count(self, ids: torch.Tensor, mask: torch.Tensor) -> None:
        self.stats["forward_passes"] += 1
        self.stats["tokens"] += int(mask.sum())

    def _tok(self, text: str) -> list[int]:
        if text not in self._ids:
            self._ids[text] = self.tok(text, add_special_tokens=False)["input_ids"]
        return self._ids[text]

    def _run(self, st: BatchState, rows: list[list[int]]):
        """Append per-row token lists (right-padded) to the cache; returns (hidden, lengths)."""
        from transformers import DynamicCache

        n = max(1, max(len(r) for r in rows))
        ids = torch.full((len(rows), n), self.pad, dtype=torch.long)
        m = torch.zeros((len(rows), n), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            m[i, : len(r)] = 1
        pos = st.pos.unsqueeze(1) + torch.arange(n).unsqueeze(0)
        if st.cache is None:
            st.cache = DynamicCache()
        mask = torch.cat([st.mask, m], 1)
        dev = self.model.device
        self._count(ids, m)
        out = self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev),
                         past_key_values=st.cache, use_cache=True, output_hidden_states=True)
        lens = torch.tensor([len(r) for r in rows])
        st.mask, st.pos = mask, st.pos + lens
        logp = torch.log_softmax(out.logits.float(), -1).cpu()
        for i, L in enumerate(lens.tolist()):
            if L:
                st.last_logp[i] = logp[i, L - 1]
        return out.hidden_states[-1].float().cpu(), lens

    @torch.inference_mode()
    def start(self, headers: list[str]) -> BatchState:
        rows = [self._tok(h) for h in headers]
        n = max(len(r) for r in rows)
        st = BatchState(texts=list(headers), segments=[[] for _ in rows],
                        mask=torch.zeros((len(rows), 0), dtype=torch.long), pos=torch.zeros(len(rows), dtype=torch.long),
                        last_logp=[None] * len(rows))
        # left-pad the header: pad slots are masked and do not advance the positions
        padded = [[self.pad] * (n - len(r)) + r for r in rows]
        from transformers import DynamicCache

        ids = torch.tensor(padded, dtype=torch.long)
        m = torch.tensor([[0] * (n - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
        pos = (m.cumsum(1) - 1).clamp(min=0)
        st.cache = DynamicCache()
        dev = self.model.device
        self._count(ids, m)
        out = self.model(input_ids=ids.to(dev), attention_mask=m.to(dev), position_ids=pos.to(dev),
                         past_key_values=st.cache, use_cache=True)
        st.mask, st.pos = m, m.sum(1)
        logp = torch.log_softmax(out.logits[:, -1].float(), -1).cpu()
        st.last_logp = [logp[i] for i in range(len(rows))]
        return st

    @torch.inference_mode()
    def extend(self, st: BatchState, texts: list[str], tails: list[str] | None = None,
               pool: bool = False) -> BatchState:
        """Append `texts` (+ unpooled `tails`) per row in one pass; `pool` keeps the mean last hidden
        state over each row's `texts` tokens as that row's next segment representation."""
        heads = [self._tok(t) for t in texts]
        rows = [h + (self._tok(tails[i]) if tails else []) for i, h in enumerate(heads)]
        hid, _ = self._run(st, rows)
        for i, h in enumerate(heads):
            st.texts[i] += texts[i] + (tails[i] if tails else "")
            if pool:
                st.segments[i].append(hid[i, : max(1, len(h))].mean(0).numpy())
        return st

    @torch.inference_mode()
    def score(self, st: BatchState, options: list[list[str]]) -> list[np.ndarray]:
        out = []
        for i, opts in enumerate(options):
            toks = [self._tok(" " + o) for o in opts]
            s = np.array([float(st.last_logp[i][t[0]]) for t in toks])
            if max(len(t) for t in toks) > 1:
                s = s + self._rest(st, i, toks)
            out.append(s)
        n = sum(len(o) for o in options)
        self.stats["scored_options"] += n
        if self.counters is not None:
            self.counters.add(scored_options=n)
        return out

    def _rest(self, st: BatchState, i: int, toks: list[list[int]]) -> np.ndarray:
        """Log-probs of tokens 2.. of each option for row i (one pass over a copy of its cache)."""
        import copy

        n, m = len(toks), max(len(t) for t in toks) - 1
        cache = copy.deepcopy(st.cache)
        cache.batch_select_indices(torch.tensor([i]))
        cache.batch_repeat_interleave(n)
        ids = torch.full((n, m), self.pad, dtype=torch.long)
        for j, t in enumerate(toks):
            ids[j, : len(t) - 1] = torch.tensor(t[:-1] if len(t) > 1 else [], dtype=torch.long)
        mask = torch.cat([st.mask[i : i + 1].expand(n, -1), torch.ones(n, m, dtype=torch.long)], 1)
        pos = st.pos[i] + torch.arange(m).unsqueeze(0).expand(n, -1)
        dev = self.model.device
        self._count(ids, torch.ones(n, m))
        logp = torch.log_softmax(self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev),
                                            position_ids=pos.to(dev), past_key_values=cache).logits.float(), -1).cpu()
        rest = np.zeros(n)
        for j, t in enumerate(toks):
            for k in range(1, len(t)):
                rest[j] += float(logp[j, k - 1, t[k]])
        return rest

    @torch.inference_mode()
    def score_after(self, st: BatchState, texts: list[str], options: list[list[str]]) -> list[np.ndarray]:
        """Score after a temporary branch per row; the state is restored afterwards."""
        T, pos, last, txt = st.mask.shape[1], st.pos.clone(), list(st.last_logp), list(st.texts)
        try:
            self.extend(st, texts)
            return self.score(st, options)
        finally:
            _truncate(st.cache, T)
            st.mask, st.pos, st.last_logp, st.texts = st.mask[:, :T], pos, last, txt


def _truncate(cache, length: int) -> None:
    """Cut a DynamicCache back to `length` tokens (transformers 5 takes a negative count)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


def build_scorer(llm, kind: str, n_samples: int = 8, temperature: float = 0.8):
    """`auto`: prefix scoring when the backend holds local weights, else the layer's `score`."""
    backend = getattr(llm, "backend", llm)
    has_weights = hasattr(backend, "model") and hasattr(backend, "tok")
    if kind == "auto":
        kind = "prefix" if has_weights else "layer"
    if kind == "prefix":
        if not has_weights:
            raise ValueError("teacher.scoring=prefix needs a local model (llm=smollm2 or llm=hf)")
        return PrefixScorer(backend.model, backend.tok, getattr(llm, "counters", None))
    if kind == "layer":
        return LayerScorer(llm)
    if kind == "sample":
        return SampleScorer(llm, n_samples, temperature)
    raise ValueError(f"teacher.scoring must be auto | prefix | layer | sample, got {kind!r}")


@torch.inference_mode()
def embed_texts(model, tok, texts: list[str], batch_size: int = 8) -> np.ndarray:
    """(N, D) mean-pooled last hidden states of a causal LM (the freeform ablation's chain vector)."""
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    out = []
    for s in range(0, len(texts), batch_size):
        rows = [tok(t, add_special_tokens=False)["input_ids"][:256] or [pad] for t in texts[s : s + batch_size]]
        n = max(len(r) for r in rows)
        ids = torch.tensor([r + [pad] * (n - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (n - len(r)) for r in rows])
        h = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                  output_hidden_states=True).hidden_states[-1].float().cpu()
        out.append(((h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)).numpy())
    return np.concatenate(out) if out else np.zeros((0, 1), np.float32)

