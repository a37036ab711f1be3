"""Strict parsers for model answers, with tolerant extraction.

Why: a 135M model wraps JSON in prose, repeats steps and forgets to stop.
The parsers find the structure wherever it is, validate it, and raise
:class:`ParseError` (never return garbage) so the structured-output loop can
retry or fall back and count it.
"""
from __future__ import annotations

import json
import re
from typing import Any

from .errors import ParseError

_STEP = re.compile(
    r"^\s*(?:[-*]\s*)?(?:\*\*|__)?\s*(?:step\s*)?\(?(\d{1,2})\s*[.):\-]\)?(?:\*\*|__)?\s*:?\s*(?:\*\*|__)?\s*(.*)$",
    re.IGNORECASE)


def parse_numbered_steps(text: str, min_steps: int = 1, max_steps: int | None = None,
                         require_sequential: bool = True) -> list[str]:
    """Extract ``1. ...`` / ``Step 2: ...`` / ``(3) ...`` items in order.

    Lines without a number continue the previous step. Numbering must start at
    1 and increase by one (a restart such as a repeated ``1.`` ends the list,
    which is how looping output shows up); exact duplicate steps are dropped.
    More than ``max_steps`` are cut; fewer than ``min_steps`` is an error.
    """
    if not isinstance(text, str) or not text.strip():
        raise ParseError("empty answer")
    steps: list[str] = []
    expected, open_step = 1, False
    for line in text.splitlines():
        m = _STEP.match(line)
        if m:
            n = int(m.group(1))
            if require_sequential and n != expected:
                if steps:
                    break
                continue
            steps.append(m.group(2).strip())
            expected, open_step = n + 1, True
        elif not line.strip():
            open_step = False  # a blank line closes the current step
        elif steps and open_step:
            steps[-1] = f"{steps[-1]} {line.strip()}"
    cleaned: list[str] = []
    for s in steps:
        s = re.sub(r"\s+", " ", s.replace("**", "")).strip()
        if s and s not in cleaned:
            cleaned.append(s)
    if max_steps is not None:
        cleaned = cleaned[:max_steps]
    if len(cleaned) < min_steps:
        raise ParseError(f"found {len(cleaned)} numbered steps, need at least {min_steps}")
    return cleaned


def _balanced_spans(text: str):
    """Yield candidate JSON substrings starting at each '{' or '[' (string-aware)."""
    for start, ch in enumerate(text):
        if ch not in "{[":
            continue
        stack, in_str, esc = [], False, False
        for i in range(start, len(text)):
            c = text[i]
            if in_str:
                if esc:
                    esc = False
                elif c == "\\":
                    esc = True
                elif c == '"':
                    in_str = False
                continue
            if c == '"':
                in_str = True
            elif c in "{[":
                stack.append("}" if c == "{" else "]")
            elif c in "}]":
                if not stack or c != stack.pop():
                    break
                if not stack:
                    yield text[start : i + 1]
                    break


def _repair(s: str) -> str:
    s = re.sub(r",\s*([}\]])", r"\1", s)                      # trailing commas
    s = re.sub(r"\bTrue\b", "true", s)
    s = re.sub(r"\bFalse\b", "false", s)
    s = re.sub(r"\bNone\b", "null", s)
    if '"' not in s and "'" in s:
        s = s.replace("'", '"')                               # python-style quotes
    return s


def parse_json(text: str, schema: Any = None) -> Any:
    """First JSON object/array in ``text`` (code fences and prose tolerated),
    validated with a pydantic model class (or ``TypeAdapter``) if given."""
    if not isinstance(text, str) or not text.strip():
        raise ParseError("empty answer")
    fenced = re.findall(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    sources = fenced + [text]
    obj, found = None, False
    for src in sources:
        for cand in _balanced_spans(src):
            for attempt in (cand, _repair(cand)):
                try:
                    obj, found = json.loads(attempt), True
                    break
                except json.JSONDecodeError:
                    continue
            if found:
                break
        if found:
            break
    if not found:
        raise ParseError(f"no valid JSON found in answer: {text[:80]!r}")
    if schema is None:
        return obj
    from pydantic import BaseModel, TypeAdapter, ValidationError

    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return schema.model_validate(obj)
        adapter = schema if isinstance(schema, TypeAdapter) else TypeAdapter(schema)
        return adapter.validate_python(obj)
    except ValidationError as e:
        raise ParseError(f"JSON does not match schema: {e.errors()[:3]}") from e


def parse_choice(text: str, options: list[str]) -> str:
    """The closed-set option named in ``text`` (earliest mention, case-insensitive)."""
    if not isinstance(text, str) or not text.strip():
        raise ParseError("empty answer")
    low = text.lower()
    hits = [(low.find(o.lower()), -len(o), o) for o in options if o.lower() in low]
    if not hits:
        raise ParseError(f"none of {options[:5]}... in answer {text[:60]!r}")
    return min(hits)[2]
