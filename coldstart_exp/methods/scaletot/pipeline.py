"""The LLM side of a ScaleToT run: teacher -> verify -> student -> representations -> encoder.

Only training users (never the held-out cold users) are reasoned about for training; their
verification reads `split.train` only. The one exception is `reasoning=teacher` (the no-transfer
ablation), which runs the teacher on the cold users' *profiles* at serving time, as an LLM-served
system would. Expensive artefacts (chains, student adapter) are cached by content under
`paths.cache_dir`, so other seeds and reruns reuse them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ...llm import build_llm, load_template
from ...retrieval import HashEncoder, cache_key
from .chain import ChainSpec, profile_texts
from .controls import ControlTeacher, banner, check_kind, control_chains, shuffle_chains
from .scorer import PrefixScorer, build_scorer, embed_texts
from .stress import agreement, reorder
from .teacher import Budget, ToTConfig, chain_stats, reason, run_teacher
from .transfer import LabelReason, ProfileEncoder, fit_encoder, pca_targets
from .verify import liked_genre_shares, sample_pairs, verify

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, cfg, ctx, spec: ChainSpec, codes: np.ndarray):
        self.cfg, self.ctx, self.spec, self.codes = cfg, ctx, spec, codes
        self.m = cfg.method
        self.facts: dict = {}
        self.timings: dict = {}
        t = ctx.tables
        self.profiles = profile_texts(t.users, self.m.profile, t.n_users)
        self.llm = build_llm(cfg.llm)
        tm = self.m.teacher
        self.scorer = build_scorer(self.llm, str(tm.scoring), int(tm.n_samples), float(tm.sample_temperature))
        self.local = isinstance(self.scorer, PrefixScorer)
        cold = set(int(u) for u in ctx.split.cold_users)
        train_users = np.array(sorted(set(int(u) for u in ctx.split.train.user.unique()) - cold))
        rng = np.random.default_rng(int(tm.user_seed))
        self.train_pool = [int(u) for u in rng.permutation(train_users)]  # fixed order across run seeds
        self.teacher_users = _first(self.train_pool, cfg.llm.get("max_users") or tm.max_users, "method.teacher.max_users")
        v = self.m.verify
        self.shares = liked_genre_shares(ctx.split.train, t.items, v.like_rating, int(v.min_liked))
        self.tot = ToTConfig(tau=float(tm.tau), max_rounds_per_step=int(tm.max_rounds_per_step),
                             max_expansions_per_chain=int(tm.max_expansions_per_chain), top_m=int(tm.top_m),
                             mix=float(tm.mix), calibrate=bool(tm.get("calibrate", True)))
        self.cache_root = Path(cfg.paths.cache_dir) / "scaletot"
        self.kind = check_kind(str(tm.get("kind", "llm")))
        self.control_key: list = []  # content of a control teacher's chains, part of the student's cache key
        shots = int(tm.get("few_shot") or 0)
        if shots > 0 and self.kind == "llm":
            self.spec = replace(spec, shots=self.few_shot(shots))

    # -- helpers -------------------------------------------------------------------------------
    def header(self, profile: str) -> str:
        text = self.spec.teacher_header(profile)
        if self.local and self.spec.teacher.meta.get("chat"):
            sys_msg = self.spec.teacher.system
            msgs = ([{"role": "system", "content": sys_msg}] if sys_msg else []) + [{"role": "user", "content": text.strip()}]
            return self.llm.render(msgs)
        return text

    def teacher(self, users: list[int], profiles: list[str] | None = None, budget: Budget | None = None,
                desc: str = "teacher", tag: str = "") -> dict:
        profiles = profiles or self.profiles
        budget = budget or Budget(None)
        return run_teacher(self.llm, self.scorer, self.spec, {u: self.header(profiles[u]) for u in users}, self.tot,
                           budget, str(self.m.teacher.scoring), desc=desc, tag=tag)

    def few_shot(self, n: int) -> str:
        """`n` worked examples for the LLM teacher: training users outside the teacher set, each with the labels
        the informed CONTROL derives from that user's own training rows (never a cold user's)."""
        users = self.train_pool[len(self.teacher_users) : len(self.teacher_users) + n]
        chains = self.control_teacher().chains(self.ctx.split.train, users)
        self.facts["few_shot"] = {"users": [int(u) for u in users]}
        return "".join(self.spec.teacher_chain(self.profiles[u], chains[u].labels) + "\n" for u in users)

    def _time(self, name: str, t0: float) -> None:
        self.timings[f"{name}_s"] = round(time.perf_counter() - t0, 1)

    # -- the reasoning module fed to the user tower ------------------------------------------------
    def build_reason(self, mode: str, cards: list[int]):
        if mode == "freeform":
            users, targets = self.freeform()
        else:
            t0 = time.perf_counter()
            tm = self.m.teacher
            budget = Budget(tm.budget if tm.budget is not None else len(self.teacher_users) * self.tot.max_expansions_per_chain)
            chains = self.teacher(self.teacher_users, budget=budget) if self.kind == "llm" else self.control()
            self._time("teacher", t0)
            self.facts["teacher"] = {**chain_stats(chains, self.spec), "users": len(chains),
                                     "budget": budget.total, "budget_used": budget.used,
                                     "scoring": type(self.scorer).__name__}
            if self.kind == "llm":
                self.facts["teacher"].update(self.agreement_with_informed(chains))
            if self.local:
                self.facts["teacher"]["prefix_scorer"] = dict(self.scorer.stats)
            ok = [u for u in self.teacher_users if verify(self.spec, chains[u].labels, self.shares.get(u),
                                                           int(self.m.verify.top_n_genres))]
            self.facts["verify"] = {"verified": len(ok), "rejected": len(chains) - len(ok),
                                    "verified_share": round(len(ok) / max(1, len(chains)), 4)}
            if mode == "teacher":
                return self.teacher_labels(chains, cards)
            users, targets = self.distilled(chains, ok)
        t0 = time.perf_counter()
        tr = self.m.transfer
        tgt, info = pca_targets(targets, int(tr.dim))
        with torch.random.fork_rng():  # the encoder does not depend on how much RNG earlier stages used
            torch.manual_seed(int(self.m.teacher.user_seed))
            enc = ProfileEncoder(cards, tgt.shape[1], tgt.shape[2], int(tr.hidden))
        info.update(fit_encoder(enc, self.codes[users], tgt, int(tr.epochs), float(tr.lr), float(tr.temperature),
                                float(tr.nce_weight), float(tr.get("field_dropout", 0.2)), seed=int(self.m.teacher.user_seed)))
        info["encoder_user_ids_sha"] = _ids_hash(users)
        self.facts["transfer"] = info
        self._time("transfer", t0)
        self.facts["llm_counters"] = self.llm.counters.as_dict()
        return enc

    def teacher_labels(self, chains: dict, cards: list[int]) -> LabelReason:
        """No transfer: teacher labels for the training subset and, at serving time, the cold users. A CONTROL
        teacher serves its own chains (the oracle's include the cold users, from their held-out behaviour; the
        informed and shuffled ones have none for users without training history, who get label 0 = unknown):
        with the oracle this shows whether typed labels reach the recommender at all, transfer aside."""
        t0 = time.perf_counter()
        cold = [int(u) for u in self.ctx.split.cold_users]
        if self.kind != "llm":
            serve = {}
        else:
            serve = self.teacher(cold, budget=Budget(len(cold) * self.tot.max_expansions_per_chain),
                                 desc="teacher@serving", tag="serving")
        self._time("teacher_serving", t0)
        table = np.zeros((self.ctx.tables.n_users, self.spec.k), dtype=np.int64)
        for u, c in {**chains, **serve}.items():
            table[u] = [s.labels.index(lab) + 1 for s, lab in zip(self.spec.steps, c.labels)]
        self.facts["teacher_serving_users"] = len(serve) if self.kind == "llm" else sum(u in chains for u in cold)
        self.consistency(None)
        self.facts["llm_counters"] = self.llm.counters.as_dict() if self.kind == "llm" else None
        return LabelReason(table, [len(s.labels) for s in self.spec.steps], int(self.m.transfer.dim))

    def distilled(self, chains: dict, ok: list[int]) -> tuple[list[int], np.ndarray]:
        """Student (SFT + OSIPO) per-step hidden states; without local weights, the teacher's
        committed distributions stand in (logged as student=skipped)."""
        sm = self.m.student
        if not (sm.enabled and self.local):
            self.facts["student"] = {"status": "skipped (disabled or backend without local weights)"}
            users = self.teacher_users
            width = max(len(s.labels) for s in self.spec.steps)
            reps = np.zeros((len(users), self.spec.k, width), dtype=np.float32)
            for i, u in enumerate(users):
                for k, p in enumerate(chains[u].probs):
                    reps[i, k, : len(p)] = p
            self.consistency(None)
            return users, reps
        from .student import Student

        t0 = time.perf_counter()
        sft_key = _ids_hash([self.llm.version, self.spec.key(), self.tot.key(), ok, sm.lora_r, sm.lora_alpha,
                             list(sm.target_modules), sm.sft_steps, sm.sft_batch, sm.sft_lr, *self.control_key])
        student = Student(self.scorer.model, self.scorer.tok, self.spec, sm, self.cache_root / "student" / sft_key,
                          seed=int(self.m.teacher.user_seed))
        sh = {u: self.spec.student_header(self.profiles[u]) for u in set(self.train_pool) | set(self.teacher_users)}
        info = student.sft([(sh[u], chains[u].labels) for u in ok])
        self._time("sft", t0)
        t0 = time.perf_counter()
        pairs = sample_pairs(self.spec, chains, self.shares, ok, int(sm.pairs_per_user), int(self.m.teacher.user_seed))
        student.stage = f"osipo-{_ids_hash([sm.osipo_steps, sm.osipo_batch, sm.osipo_lr, sm.beta, sm.pairs_per_user, [s.weight for s in self.spec.steps]])}"
        info.update(student.osipo(pairs, sh))
        self._time("osipo", t0)
        t0 = time.perf_counter()
        users = sorted(set(self.teacher_users) | set(self.train_pool[: int(sm.max_users)]))
        sscorer = PrefixScorer(student.model, self.scorer.tok, self.llm.counters)
        no_tot = ToTConfig(calibrate=False, max_rounds_per_step=0)
        on = str(self.m.transfer.get("targets", "student"))
        if on not in ("student", "teacher"):
            raise ValueError(f"method.transfer.targets must be student | teacher, got {on!r}")
        reps, labels = [], {}
        for s in range(0, len(users), 16):
            b = users[s : s + 16]
            forced = [chains[u].labels if u in chains else None for u in b] if on == "teacher" else None
            for u, c in zip(b, reason(sscorer, self.spec, [sh[u] for u in b], no_tot, Budget(0), pool=True, student=True,
                                      forced=forced)):
                reps.append(np.stack(c.segments))
                labels[u] = c.labels if forced is None else [st.labels[int(np.argmax(p))] for st, p in zip(self.spec.steps, c.probs)]
        self._time("student_reps", t0)
        info["targets"] = {"on": on, "teacher_chains": sum(u in chains for u in users) if on == "teacher" else 0}
        agree = agreement({u: chains[u].labels for u in self.teacher_users}, labels, [s.name for s in self.spec.steps])
        info.update(users=len(users), teacher_student_agreement=agree, status="trained")
        self.facts["student"] = info
        self.consistency((sscorer, no_tot))
        return users, np.stack(reps).astype(np.float32)

    def consistency(self, student) -> None:
        """Teacher (and student) labels with the profile fields reordered, on a small subset."""
        n = int(self.m.stress.consistency_users)
        t = self.ctx.tables
        if n <= 0 or t.users is None or self.kind != "llm":  # controls have no LLM teacher to stress
            return
        t0 = time.perf_counter()
        users = self.teacher_users[:n]
        order = reorder(t.n_users, len(t.users.columns), int(self.m.stress.seed))
        shuffled = profile_texts(t.users, self.m.profile, t.n_users, order=order)
        names = [s.name for s in self.spec.steps]
        a = self.teacher(users, desc="teacher@consistency", tag="stress")
        b = self.teacher(users, shuffled, desc="teacher@reordered", tag="stress")
        out = {"teacher": agreement({u: a[u].labels for u in users}, {u: b[u].labels for u in users}, names)}
        if student is not None:
            sc, tot = student
            la = reason(sc, self.spec, [self.spec.student_header(self.profiles[u]) for u in users], tot, Budget(0), student=True)
            lb = reason(sc, self.spec, [self.spec.student_header(shuffled[u]) for u in users], tot, Budget(0), student=True)
            out["student"] = agreement({u: c.labels for u, c in zip(users, la)}, {u: c.labels for u, c in zip(users, lb)}, names)
        self.facts["consistency_reordered"] = out
        self._time("consistency", t0)

    def control(self) -> dict:
        """CONTROL (not the method): data-derived chains (controls.py); the oracle adds the cold users
        to the teacher users and verifies them against their held-out behaviour (leak by design)."""
        if self.m.reasoning not in ("distilled", "teacher"):
            raise ValueError(f"method.teacher.kind={self.kind} needs method.reasoning=distilled or teacher, "
                             f"got {self.m.reasoning!r}")
        log.warning(banner(self.kind))
        c, t, v = self.m.teacher.control, self.ctx.tables, self.m.verify
        cover = c.get("users")
        if cover is not None:  # a control costs no LLM time: it may label more training users than the LLM teacher
            self.teacher_users = _first(self.train_pool, cover, "method.teacher.control.users")
        ct = self.control_teacher()
        chains, self.teacher_users = control_chains(self.kind, ct, self.ctx.split, self.teacher_users, int(c.seed))
        if self.kind == "oracle":
            import pandas as pd

            seen = pd.concat([self.ctx.split.train, self.ctx.split.held_out])
            self.shares = liked_genre_shares(seen, t.items, v.like_rating, int(v.min_liked))
        self.control_key = [self.kind, int(c.seed), float(c.smooth), {u: chains[u].labels for u in self.teacher_users}]
        self.facts["control"] = {"kind": self.kind, "banner": banner(self.kind), "users": len(self.teacher_users)}
        return chains

    def control_teacher(self) -> ControlTeacher:
        from omegaconf import OmegaConf

        c, t = self.m.teacher.control, self.ctx.tables
        return ControlTeacher(self.spec, OmegaConf.to_container(c.rules, resolve=True), self.ctx.split.train, t.items,
                              t.n_items, float(c.smooth))

    def agreement_with_informed(self, chains: dict) -> dict:
        """How often the LLM teacher's label is the one the informed CONTROL derives from the same user's
        training rows (issue 17), per step; beside it the informed labels against themselves shuffled across
        the same users (chance for that label distribution). No LLM call: the control is computed from data."""
        users, names = self.teacher_users, [s.name for s in self.spec.steps]
        try:
            informed = self.control_teacher().chains(self.ctx.split.train, users)
        except (ValueError, KeyError) as e:  # data or chain without what the control's rules need
            log.warning("agreement with the informed control not computed: %s", e)
            return {"agreement_with_informed": f"not computed: {e}"}
        shuffled = shuffle_chains(informed, int(self.m.teacher.control.seed))
        lab = lambda ch: {u: ch[u].labels for u in users}  # noqa: E731
        return {"agreement_with_informed": agreement(lab(chains), lab(informed), names),
                "agreement_informed_vs_shuffled": agreement(lab(informed), lab(shuffled), names)}

    def freeform(self) -> tuple[list[int], np.ndarray]:
        """Ablation: one untyped chain per teacher user, generated freely and embedded as one vector."""
        from ...llm import generation_params

        t0 = time.perf_counter()
        tmpl = load_template(self.m.get("freeform_template", "scaletot_freeform"))
        users = self.teacher_users
        prompts = [tmpl.render(profile=self.profiles[u]) for u in users]
        params = generation_params(self.cfg.llm, max_new_tokens=int(self.m.get("freeform_tokens", 48)), temperature=0.0)
        texts = self.llm.generate(prompts, params, template_version=tmpl.version_key, desc="scaletot.freeform")
        full = [f"{self.profiles[u]}. {t}" for u, t in zip(users, texts)]
        vec = embed_texts(self.scorer.model, self.scorer.tok, full) if self.local else HashEncoder(normalize=False).encode(full)
        self.facts["freeform"] = {"users": len(users), "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
                                  "example": texts[0][:200] if texts else ""}
        self._time("freeform", t0)
        self.facts["llm_counters"] = self.llm.counters.as_dict()
        return users, vec[:, None, :].astype(np.float32)


def _first(pool: list[int], n, key: str) -> list[int]:
    """The first `n` users of the fixed pool order (`all`: the whole pool), sorted."""
    if str(n) != "all" and not str(n).isdigit():
        raise ValueError(f"{key} must be all or a number, got {n!r}")
    return sorted(pool if str(n) == "all" else pool[: int(n)])


def _ids_hash(x) -> str:
    return cache_key(x, algo="sha1", length=12)
