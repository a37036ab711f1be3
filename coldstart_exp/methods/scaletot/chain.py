"""The typed chain: K steps, each a closed label set and a question, defined in config.

Why closed sets: a committed label is checkable (verification against behaviour), its probability
is exact (label scoring), and the student can be trained and compared step by step. Profiles are
rendered as short text from the user table, with fields that can be dropped or reordered (the
stress tests use exactly this function, so teacher, student and encoder see the same inputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ...llm import PromptTemplate, load_template
from ...retrieval import cache_key


@dataclass(frozen=True)
class Step:
    name: str
    title: str  # short header used in the student's compact chain ("Life stage")
    question: str
    labels: tuple[str, ...]
    genres: dict = field(default_factory=dict)  # label -> item categories it predicts (verifiable steps)
    weight: float = 1.0  # OSIPO segment weight


@dataclass
class ChainSpec:
    steps: list[Step]
    teacher: PromptTemplate
    student: PromptTemplate
    shots: str = ""  # worked example chains shown before every teacher header (method.teacher.few_shot)

    @property
    def k(self) -> int:
        return len(self.steps)

    def key(self) -> str:
        return cache_key([[s.name, s.question, s.labels, s.genres] for s in self.steps]
                         + [self.teacher.version_key, self.student.version_key, dict(self.teacher.meta),
                            dict(self.student.meta)] + ([self.shots] if self.shots else []), algo="sha1", length=10)

    # -- teacher prompt pieces ---------------------------------------------------------------
    def teacher_header(self, profile: str) -> str:
        return self.shots + self.teacher.user.format(profile=profile)

    def teacher_chain(self, profile: str, labels: list[str]) -> str:
        """A whole teacher chain as the teacher reads it (header, then question and committed label per step)."""
        return self.teacher.user.format(profile=profile) + "".join(
            self.teacher_step(i) + self.commit(self.teacher, lab) for i, lab in enumerate(labels))

    def teacher_step(self, i: int) -> str:
        s = self.steps[i]
        return self.teacher.meta["step"].format(index=i + 1, question=s.question, options=", ".join(s.labels))

    def teacher_critique(self, i: int, candidates: list[str]) -> str:
        s = self.steps[i]
        return self.teacher.meta["critique"].format(index=i + 1, question=s.question,
                                                    candidates=" or ".join(candidates))

    def commit(self, template: PromptTemplate, label: str) -> str:
        return template.meta["commit"].format(label=label)

    # -- student (compact) chain ---------------------------------------------------------------
    def student_header(self, profile: str) -> str:
        return self.student.user.format(profile=profile)

    def student_step(self, i: int) -> str:
        return self.student.meta["step"].format(title=self.steps[i].title)

    def student_segments(self, labels: list[str]) -> list[str]:
        """The chain as K text segments (step header + label), for SFT and segment-wise OSIPO."""
        return [self.student_step(i) + self.commit(self.student, lab) for i, lab in enumerate(labels)]


def load_chain(cfg: DictConfig) -> ChainSpec:
    steps = []
    for s in cfg.steps:
        g = s.get("genres")
        genres = OmegaConf.to_container(g, resolve=True) if g is not None else {}
        labels = tuple(str(x) for x in s.labels)
        bad = set(genres) - set(labels)
        if bad:
            raise ValueError(f"chain step {s.name!r}: genre map names unknown labels {sorted(bad)}")
        if len(set(labels)) != len(labels) or len(labels) < 2:
            raise ValueError(f"chain step {s.name!r} needs >= 2 distinct labels")
        steps.append(Step(str(s.name), str(s.get("title") or s.name), str(s.question), labels, genres,
                          float(s.get("weight", 1.0))))
    return ChainSpec(steps, load_template(cfg.teacher_template), load_template(cfg.student_template))


def profile_texts(users: pd.DataFrame | None, cfg: DictConfig, n_users: int, drop: np.ndarray | None = None,
                  order: np.ndarray | None = None) -> list[str]:
    """One short text per user: "34 years old, woman, works as engineer, zip 55105".

    `drop` (n_users, F) bool hides fields; `order` (n_users, F) permutes them (stress tests)."""
    if users is None or not len(users.columns):
        return ["unknown viewer"] * n_users
    fmt, values = _plain(cfg.get("format")), _plain(cfg.get("values"))
    cols = list(users.columns)
    raw = users.astype("string").to_numpy()
    out = []
    for u in range(n_users):
        idx = order[u] if order is not None else range(len(cols))
        parts = []
        for j in idx:
            v = raw[u, j]
            if (drop is not None and drop[u, j]) or v is pd.NA or v is None or str(v) in ("", "nan", "<NA>"):
                continue
            c = cols[j]
            v = values.get(c, {}).get(str(v), str(v))
            parts.append(fmt.get(c, c + " {v}").format(v=v))
        out.append(", ".join(parts) if parts else "no profile information")
    return out


def random_drops(n_users: int, n_fields: int, k: int, seed: int) -> np.ndarray:
    """(n_users, F) bool: exactly min(k, F) fields hidden per user, chosen per user (seeded)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((n_users, n_fields), dtype=bool)
    for u in range(n_users):
        mask[u, rng.permutation(n_fields)[: min(k, n_fields)]] = True
    return mask


def _plain(node) -> dict:
    if node is None:
        return {}
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
