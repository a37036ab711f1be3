"""Chat-template rendering without ``transformers`` (cache keys are rendered prompts)."""
from __future__ import annotations

import json
from pathlib import Path


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
