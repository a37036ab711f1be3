"""Bad-data handling: every rejected row names its file, line and field; nothing is dropped silently."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


class DataError(ValueError):
    """Raised for malformed or missing data; the message says where (file:line, field)."""


@dataclass
class BadRowLog:
    """Collects bad rows under `on_bad_rows=skip` (or raises at the first one under `error`)."""

    policy: str = "error"  # "error" | "skip"
    counts: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.policy not in ("error", "skip"):
            raise DataError(f"data.on_bad_rows must be 'error' or 'skip', got {self.policy!r}")

    def bad(self, path: str, line: int, field_name: str, problem: str) -> None:
        msg = f"{path}:{line}: field '{field_name}': {problem}"
        if self.policy == "error":
            raise DataError(msg + "  (set data.on_bad_rows=skip to skip and count such rows)")
        self.counts[f"{path.rsplit('/', 1)[-1]}:{field_name}"] += 1
        if len(self.examples) < 20:
            self.examples.append(msg)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict:
        return {"skipped_rows": self.total, "by_file_field": dict(self.counts), "examples": self.examples}
