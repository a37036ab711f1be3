"""The teacher slot shared by the LLM methods: `method.teacher.kind` (issue #17's positive controls)."""

from __future__ import annotations

KINDS = ("llm", "informed", "shuffled", "oracle")  # llm = the method; the others are labelled controls


def check_kind(kind: str, method: str) -> str:
    """`kind` if known, else a ValueError naming the method's config file and field."""
    if kind not in KINDS:
        raise ValueError(f"method.teacher.kind must be one of {' | '.join(KINDS)} "
                         f"(conf/method/{method}.yaml, field teacher.kind), got {kind!r}")
    return kind
