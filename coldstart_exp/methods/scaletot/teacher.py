"""Teacher: entropy-guided, bounded tree-of-thought over the typed chain.

Per step: a distribution over the step's closed label set (label scoring or sampling); if its
normalised entropy exceeds tau, expand: a critique branch re-asks the question restricted to the
top-m candidates and its answer is merged into the distribution; repeat while uncertain, within a
per-chain and a run-wide budget. Then commit the top label; the next step conditions on it.
Chains are cached per user in the LLM layer's SQLite cache, so reruns and other seeds are free.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ...llm import entropy, normalize_logprobs
from ...llm.cache import make_key
from .chain import ChainSpec

log = logging.getLogger(__name__)

NULL_PROFILE = "no profile information"


@dataclass
class Chain:
    labels: list[str]
    probs: list[list[float]]  # committed distribution per step (after expansion)
    entropy: list[float]  # normalised entropy per step *before* expansion (the gate's input)
    expansions: list[int]  # critique rounds per step
    segments: list = field(default_factory=list)  # pooled hidden states per segment (not cached)

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("segments")
        return d


class Budget:
    """Run-wide cap on expansion rounds (None = unbounded)."""

    def __init__(self, total: int | None):
        self.total, self.used = total, 0

    def left(self) -> float:
        return float("inf") if self.total is None else self.total - self.used

    def take(self) -> bool:
        if self.left() < 1:
            return False
        self.used += 1
        return True


@dataclass
class ToTConfig:
    tau: float = 0.85  # normalised-entropy threshold above which a step is expanded
    max_rounds_per_step: int = 1
    max_expansions_per_chain: int = 2
    top_m: int = 3  # candidates kept in a critique round
    mix: float = 0.5  # weight of the critique distribution in the merge
    calibrate: bool = True  # divide label probabilities by the content-free prior (label bias of small LMs)

    def key(self) -> list:
        return [self.tau, self.max_rounds_per_step, self.max_expansions_per_chain, self.top_m, self.mix,
                self.calibrate]


def reason(scorer, spec: ChainSpec, headers: list[str], tot: ToTConfig, budget: Budget, pool: bool = False,
           student: bool = False, forced: list[list[str] | None] | None = None) -> list[Chain]:
    """Chains for a batch of profile headers. `student=True` uses the compact student format and
    never expands (the student is a single greedy pass; ToT is the teacher's privilege). `forced[r]`, when
    given for row r, is committed step by step instead of the argmax (teacher forcing: the distributions
    are still the scorer's own, the pooled segments are those of the forced chain)."""
    tmpl = spec.student if student else spec.teacher
    if tot.calibrate:  # one content-free row per batch gives the label prior p(label | no profile)
        null = spec.student_header(NULL_PROFILE) if student else spec.teacher_header(NULL_PROFILE)
        headers = list(headers) + [null]
    B = len(headers)
    st = scorer.start(headers)
    chains = [Chain([], [], [], []) for _ in range(B)]
    for i, step in enumerate(spec.steps):
        opts = list(step.labels)
        prompt = spec.student_step(i) if student else spec.teacher_step(i)
        if i == 0:
            st = scorer.extend(st, [prompt] * B)
        else:  # commit step i-1 and ask step i in one pass; the commit is the pooled segment
            prev = [spec.commit(tmpl, c.labels[-1]) for c in chains]
            st = scorer.extend(st, prev, tails=[prompt] * B, pool=pool)
        raw = scorer.score(st, [opts] * B)
        if tot.calibrate:  # contextual calibration: divide by the content-free prior
            raw = [x - raw[-1] for x in raw[:-1]] + [raw[-1]]
        ps = [normalize_logprobs(x) for x in raw]
        h0 = [entropy(p, normalized=True) for p in ps]
        rounds = [0] * B
        for _ in range(0 if student else tot.max_rounds_per_step):
            real = B - 1 if tot.calibrate else B  # the content-free calibration row is never expanded
            gated = [r for r in range(real) if entropy(ps[r], normalized=True) > tot.tau
                     and sum(chains[r].expansions) + rounds[r] < tot.max_expansions_per_chain and budget.take()]
            if not gated:
                break
            for r, q in zip(gated, expand(scorer, spec, st, i, [ps[r] for r in gated], gated, tot)):
                ps[r] = q
                rounds[r] += 1
        for r, c in enumerate(chains):
            fix = forced[r] if forced is not None and r < len(forced) else None
            c.labels.append(fix[i] if fix is not None else opts[int(np.argmax(ps[r]))])
            c.probs.append([round(float(x), 5) for x in ps[r]])
            c.entropy.append(round(float(h0[r]), 5))
            c.expansions.append(rounds[r])
    st = scorer.extend(st, [spec.commit(tmpl, c.labels[-1]) for c in chains], pool=pool)
    for r, c in enumerate(chains):
        c.segments = list(st.segments[r]) if pool else []
    return chains[:-1] if tot.calibrate else chains


def expand(scorer, spec: ChainSpec, st, i: int, ps: list[np.ndarray], rows: list[int],
           tot: ToTConfig) -> list[np.ndarray]:
    """Critique round for the gated rows: re-ask among each row's top-m candidates and merge the
    answer into its distribution. Other rows get an empty branch (nothing is appended for them)."""
    opts = list(spec.steps[i].labels)
    B = len(st.texts)
    texts, cands, tops = [""] * B, [opts[:2]] * B, {}
    for r, p in zip(rows, ps):
        top = np.argsort(-p)[: max(2, tot.top_m)]
        tops[r] = top
        cands[r] = [opts[j] for j in top]
        texts[r] = spec.teacher_critique(i, cands[r])
    scored = scorer.score_after(st, texts, cands)
    out = []
    for r, p in zip(rows, ps):
        top = tops[r]
        pc = normalize_logprobs(scored[r])
        q = p.copy()
        mass = p[top].sum()
        q[top] = mass * ((1 - tot.mix) * p[top] / mass + tot.mix * pc)
        out.append(q / q.sum())
    return out


def run_teacher(llm, scorer, spec: ChainSpec, headers: dict[int, str], tot: ToTConfig, budget: Budget,
                scoring: str, batch_size: int = 16, desc: str = "teacher", tag: str = "") -> dict[int, Chain]:
    """Chains for the given users (user -> header text), read from / written to the LLM cache.
    `tag` separates runs under other budgets (e.g. the stress tests) from the main chains."""
    cache = llm.cache if hasattr(llm, "cache") else None
    name = getattr(llm, "name", "llm")
    version = getattr(llm, "version", "0")
    keys = {u: make_key("scaletot-teacher", name, version, spec.key(), h, tot.key(), scoring, tag)
            for u, h in headers.items()}
    hits = cache.get_many(list(keys.values())) if cache is not None else {}
    out: dict[int, Chain] = {}
    todo, t0 = [], time.perf_counter()
    for u, k in keys.items():
        c = hits.get(k)
        if c is not None and sum(c["expansions"]) <= budget.left():
            budget.used += sum(c["expansions"])
            out[u] = Chain(**c)
        else:
            todo.append(u)
    for s in range(0, len(todo), batch_size):
        batch = todo[s : s + batch_size]
        for u, c in zip(batch, reason(scorer, spec, [headers[u] for u in batch], tot, budget)):
            out[u] = c
        if cache is not None:  # written per batch: a killed run redoes at most one batch
            cache.put_many([(keys[u], out[u].to_json()) for u in batch])
        log.info("%s: %d/%d new chains (%.1fs)", desc, s + len(batch), len(todo), time.perf_counter() - t0)
    log.info("%s: %d chains (%d cached, %d new) in %.1fs", desc, len(out), len(out) - len(todo), len(todo),
             time.perf_counter() - t0)
    return out


def chain_stats(chains: dict[int, Chain], spec: ChainSpec) -> dict:
    if not chains:
        return {}
    ent = np.array([c.entropy for c in chains.values()])
    exp = np.array([c.expansions for c in chains.values()])
    return {
        "chains": len(chains),
        "mean_entropy_per_step": {s.name: round(float(e), 4) for s, e in zip(spec.steps, ent.mean(0))},
        "expansions_total": int(exp.sum()),
        "expanded_steps_share": round(float((exp > 0).mean()), 4),
        "label_counts": {s.name: _counts([c.labels[i] for c in chains.values()]) for i, s in enumerate(spec.steps)},
    }


def _counts(xs: list[str]) -> dict:
    u, c = np.unique(xs, return_counts=True)
    return {str(a): int(b) for a, b in sorted(zip(u, c), key=lambda t: -t[1])}
