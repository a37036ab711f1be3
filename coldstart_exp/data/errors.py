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
    multiline: list[str] = field(default_factory=list)  # `file:first-last` of records over several lines

    def __post_init__(self) -> None:
        if self.policy not in ("error", "skip"):
            raise DataError(f"data.on_bad_rows must be 'error' or 'skip', got {self.policy!r}")

    def bad(self, path: str, line: int, field_name: str, problem: str, n: int = 1) -> None:
        """`n`: physical lines lost with this record (more than 1 when a quote swallowed lines)."""
        msg = f"{path}:{line}: field '{field_name}': {problem}"
        if self.policy == "error":
            raise DataError(msg + "  (set data.on_bad_rows=skip to skip and count such rows)")
        self.counts[f"{path.rsplit('/', 1)[-1]}:{field_name}"] += n
        if len(self.examples) < 20:
            self.examples.append(msg)

    def spans(self, path: str, first: int, last: int) -> None:
        """A record with the right field count running over lines first..last: a quoted field holding line
        breaks, or an unbalanced quote that swallowed rows. Not guessed at: kept, counted, reported."""
        self.multiline.append(f"{path}:{first}-{last}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict:
        return {"skipped_rows": self.total, "by_file_field": dict(self.counts), "examples": self.examples,
                "multiline_records": len(self.multiline), "multiline_examples": self.multiline[:20]}
