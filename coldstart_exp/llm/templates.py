"""Prompt templates loaded from YAML under ``conf/prompts``.

Why not Python strings: prompts are experimental variables; keeping them in
config makes them diffable, overridable per run, and versioned. The cache key
uses ``name@version`` plus a hash of the text, so editing a prompt without
bumping its version still invalidates stale answers.

Placeholders use ``str.format`` syntax (``{title}``); write ``{{``/``}}`` for a
literal brace (e.g. JSON examples).
"""
from __future__ import annotations

import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..retrieval.keys import cache_key

DEFAULT_PROMPTS_DIR = Path(__file__).resolve().parents[2] / "conf" / "prompts"


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    user: str
    version: str = "1"
    system: str | None = None
    few_shot: tuple[tuple[str, str], ...] = ()   # (user, assistant) demonstrations
    prefix: str | None = None                     # assistant prefill, e.g. "1." (answer continues from it)
    meta: dict = field(default_factory=dict, compare=False)  # free-form: labels, schema name, ...

    @property
    def fields(self) -> set[str]:
        texts = [self.user, self.system or "", self.prefix or ""] + [u for u, _ in self.few_shot]
        return {f for t in texts for _, f, _, _ in string.Formatter().parse(t) if f}

    @property
    def version_key(self) -> str:
        h = cache_key([self.system, self.user, self.few_shot, self.prefix], algo="sha1", length=8)
        return f"{self.name}@{self.version}:{h}"

    def render(self, **variables: Any) -> list[dict]:
        """Chat messages; the backend applies the model's chat template."""
        missing = self.fields - set(variables)
        if missing:
            raise KeyError(f"template {self.name!r} needs variables {sorted(missing)}")
        msgs = []
        if self.system:
            msgs.append({"role": "system", "content": self.system.format(**variables).strip()})
        for u, a in self.few_shot:
            msgs.append({"role": "user", "content": u.format(**variables).strip()})
            msgs.append({"role": "assistant", "content": a.strip()})
        msgs.append({"role": "user", "content": self.user.format(**variables).strip()})
        if self.prefix:
            msgs.append({"role": "assistant", "content": self.prefix.format(**variables)})
        return msgs

    @classmethod
    def from_dict(cls, d: dict) -> PromptTemplate:
        if "user" not in d or "name" not in d:
            raise ValueError("a prompt template needs at least 'name' and 'user'")
        shots = tuple((s["user"], s["assistant"]) for s in d.get("few_shot") or ())
        known = {"name", "user", "version", "system", "few_shot", "prefix"}
        return cls(name=str(d["name"]), user=str(d["user"]), version=str(d.get("version", "1")),
                   system=d.get("system"), few_shot=shots, prefix=d.get("prefix"), meta={k: v for k, v in d.items() if k not in known})


def prompts_dir() -> Path:
    return Path(os.environ.get("COLDSTART_PROMPTS_DIR", DEFAULT_PROMPTS_DIR))


def load_template(name_or_path: str | os.PathLike, directory: str | os.PathLike | None = None) -> PromptTemplate:
    """Load ``conf/prompts/<name>.yaml`` (or an explicit YAML path)."""
    from omegaconf import OmegaConf

    p = Path(name_or_path)
    if not p.suffix:
        p = Path(directory or prompts_dir()) / f"{name_or_path}.yaml"
    if not p.exists():
        avail = sorted(x.stem for x in Path(directory or prompts_dir()).glob("*.yaml"))
        raise FileNotFoundError(f"prompt template {str(name_or_path)!r} not found at {p}; available: {avail}")
    d = OmegaConf.to_container(OmegaConf.load(p), resolve=True)
    return PromptTemplate.from_dict(d)  # type: ignore[arg-type]
