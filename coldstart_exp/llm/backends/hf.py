"""Local Hugging Face causal LM backend (also used for the embedded SmolLM2).

Why one class for both: the GGUF model is just an HF model once loaded; the
``smollm2`` preset only differs in where weights come from (``hf_load``). A user
with a GPU switches to a 7B instruct model by changing ``llm.model_path``/``dtype``/``device``.
Decoding runs in ``hf_decode`` (``decoder: loop``) or through ``model.generate``
(``decoder: generate``, the reference path); label scoring in ``hf_score``.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from ..errors import PromptTooLong
from ..params import GenerationParams
from .base import LLMBackend, Prompt, as_messages, prefill_of
from .chat import ChatRenderer

Encoded = tuple[list[int], int]  # (prompt+option token ids, number of option tokens at the end)

log = logging.getLogger(__name__)

DECODERS = ("loop", "generate")


class HFBackend(LLMBackend):
    """Batched generation and label scoring with any ``transformers`` causal LM."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "hf",
        version: str = "0",
        batch_size: int = 8,
        score_batch_size: int = 32,
        max_prompt_tokens: int | None = None,
        truncation: str = "left",
        use_chat_template: bool = True,
        system_prompt: str | None = None,
        progress: bool = True,
        context_length: int | None = None,
        renderer: ChatRenderer | None = None,
        decoder: str = "loop",
        share_prefix: bool = True,
        counters=None,
    ) -> None:
        super().__init__(counters)
        if truncation not in ("left", "error"):
            raise ValueError(f"llm.truncation must be 'left' or 'error', got {truncation!r}")
        if decoder not in DECODERS:
            raise ValueError(f"llm.decoder must be one of {DECODERS}, got {decoder!r}")
        # ``model`` may be a zero-arg loader: a fully cached run then never loads weights.
        self._model = None if callable(model) and not hasattr(model, "generate") else model.eval()
        self._loader = model if self._model is None else None
        self._tok = None
        self._tok_loader = tokenizer if callable(tokenizer) and not hasattr(tokenizer, "encode") else None
        if self._tok_loader is None:
            self._set_tok(tokenizer)
        self.renderer = renderer
        self.name, self.version = name, version
        self.batch_size, self.score_batch_size = int(batch_size), int(score_batch_size)
        self.truncation = truncation
        self.decoder, self.share_prefix = decoder, bool(share_prefix)
        self.use_chat_template = bool(use_chat_template and (renderer is not None or getattr(self.tok, "chat_template", None)))
        self.system_prompt = system_prompt
        self.progress = progress
        if context_length is None:
            context_length = getattr(self.model.config, "max_position_embeddings", None) or 2048
        self.context_length = int(context_length)
        self.max_prompt_tokens = int(max_prompt_tokens) if max_prompt_tokens else None

    # ---------------------------------------------------------------- render
    def render(self, prompt: Prompt) -> str:
        msgs = as_messages(prompt)
        if self.system_prompt and msgs[0]["role"] != "system":
            msgs = [{"role": "system", "content": self.system_prompt}] + msgs
        prefill = prefill_of(msgs)
        if prefill:
            msgs = msgs[:-1]
        if not self.use_chat_template:
            return "\n".join(m["content"] for m in msgs) + ("\n" + prefill if prefill else "")
        if self.renderer is not None:
            return self.renderer(msgs, add_generation_prompt=True) + prefill
        return self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) + prefill

    def _set_tok(self, tok) -> None:
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"
        self._tok = tok

    @property
    def tok(self):
        if self._tok is None:
            self._set_tok(self._tok_loader())
        return self._tok

    @property
    def model(self):
        if self._model is None:
            t0 = time.perf_counter()
            self._model = self._loader().eval()
            log.info("loaded %s weights in %.1fs (%s, %s)", self.name, time.perf_counter() - t0,
                     self._model.dtype, self._model.device)
        return self._model

    @property
    def device(self):
        return next(self.model.parameters()).device

    def _budget(self, max_new_tokens: int) -> int:
        limit = self.context_length - max_new_tokens
        if self.max_prompt_tokens:
            limit = min(limit, self.max_prompt_tokens)
        return max(limit, 1)

    def _encode_prompts(self, texts: list[str], max_new_tokens: int) -> list[list[int]]:
        """Tokenize and apply the truncation policy (left = keep the most recent tokens)."""
        budget = self._budget(max_new_tokens)
        out = []
        for ids in self.tok(texts, add_special_tokens=False)["input_ids"]:
            if len(ids) > budget:
                if self.truncation == "error":
                    raise PromptTooLong(
                        f"prompt has {len(ids)} tokens > budget {budget} "
                        f"(context {self.context_length}, max_new_tokens {max_new_tokens}); "
                        "shorten it or set llm.truncation=left")
                ids = ids[-budget:]
                self.counters.add(truncated=1)
            out.append(ids)
        return out

    def _eos_ids(self) -> list[int]:
        """Tokenizer eos plus the model's generation-config eos ids (e.g. <|eot_id|>)."""
        ids = {self.tok.eos_token_id}
        gc = getattr(self.model, "generation_config", None)
        extra = getattr(gc, "eos_token_id", None) if gc is not None else None
        ids.update(extra if isinstance(extra, (list, tuple)) else [extra] if extra is not None else [])
        return sorted(i for i in ids if i is not None)

    # -------------------------------------------------------------- generate
    def _generate_batch(self, prompts: list[Prompt], params: GenerationParams) -> tuple[list[str], int]:
        from .hf_decode import decode  # torch/transformers load only when a model runs

        seqs = self._encode_prompts([self.render(p) for p in prompts], params.max_new_tokens)
        eos_ids = self._eos_ids()
        if self.decoder == "generate":
            rows = self._generate_reference(seqs, params, eos_ids)
        else:
            stop = list(params.stop)
            stopped = (lambda toks: any(s in self.tok.decode(toks, skip_special_tokens=True) for s in stop)) if stop else None
            rows = decode(self.model, seqs, max_new_tokens=params.max_new_tokens, eos_ids=eos_ids,
                          pad_id=self.tok.pad_token_id, repetition_penalty=params.repetition_penalty,
                          temperature=params.temperature, top_p=params.top_p, seed=params.seed,
                          share_prefix=self.share_prefix, stopped=stopped)
        texts, ntok = [], 0
        for row in rows:
            ends = [j for j, t in enumerate(row) if t in eos_ids]
            if ends:
                row = row[: ends[0] + 1]
            ntok += len(row)
            texts.append(self.tok.decode(row, skip_special_tokens=True).rstrip())
        return texts, ntok

    def _generate_reference(self, seqs: list[list[int]], params: GenerationParams, eos_ids: list[int]) -> list[list[int]]:
        """``model.generate`` on the left-padded batch: the reference the loop is tested against."""
        import torch

        from .hf_decode import left_pad

        ids, mask = left_pad(seqs, self.tok.pad_token_id)
        kw: dict[str, Any] = dict(max_new_tokens=params.max_new_tokens,
                                  repetition_penalty=params.repetition_penalty,
                                  pad_token_id=self.tok.pad_token_id, eos_token_id=eos_ids)
        if params.stop:  # stop early in-model; the base class also cuts the text
            kw.update(stop_strings=list(params.stop), tokenizer=self.tok)
        if params.greedy:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kw.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=None)
            torch.manual_seed(params.seed)  # seeded sampling (reproducible for the same batch)
        with torch.inference_mode():
            gen = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **kw)
        return gen[:, ids.shape[1]:].tolist()

    # ----------------------------------------------------------------- score
    def _score_batch(self, prompts: list[Prompt], options_list: list[list[str]]) -> list[np.ndarray]:
        """Sum of option-token log-probs; prompts packed ``score_batch_size`` options per forward pass."""
        from .hf_score import chunks, score_group

        groups = [[self._encode_pair(self.render(p), o) for o in opts] for p, opts in zip(prompts, options_list)]
        out: list[np.ndarray] = [np.zeros(0)] * len(groups)
        for chunk in chunks([len(g) for g in groups], self.score_batch_size):
            res = score_group(self.model, [groups[i] for i in chunk], self.tok.pad_token_id, self.share_prefix)
            for i, r in zip(chunk, res):
                out[i] = np.asarray(r, dtype=np.float64)
        return out

    def _encode_pair(self, ptxt: str, option: str) -> Encoded:
        if not option:
            raise ValueError("score: empty option string")
        enc = self.tok(ptxt + option, add_special_tokens=False, return_offsets_mapping=True)
        ids, offs = enc["input_ids"], enc["offset_mapping"]
        n_opt = max(sum(1 for (_s, e) in offs if e > len(ptxt)), 1)
        if len(ids) > self.context_length:
            if self.truncation == "error":
                raise PromptTooLong(f"prompt+option has {len(ids)} tokens > context {self.context_length}")
            ids = ids[-self.context_length:]
            self.counters.add(truncated=1)
        return ids, n_opt

    def _score_full(self, encs: list[Encoded]) -> list[float]:
        """Reference without KV sharing: each prompt+option sequence in full (tests compare against it)."""
        import torch

        n = max(len(ids) for ids, _ in encs)
        ids_t = torch.full((len(encs), n), self.tok.pad_token_id, dtype=torch.long)
        for i, (ids, _) in enumerate(encs):
            ids_t[i, : len(ids)] = torch.tensor(ids)
        res = []
        with torch.inference_mode():
            logits = self.model(input_ids=ids_t.to(self.device)).logits
            for i, (ids, n_opt) in enumerate(encs):
                L = len(ids)
                lp = torch.log_softmax(logits[i, L - n_opt - 1 : L - 1].float(), dim=-1)
                tgt = torch.tensor(ids[L - n_opt:], device=lp.device)
                res.append(float(lp.gather(1, tgt[:, None]).sum()))
        return res

