"""Label scoring, entropy gating and budget of the ScaleToT teacher."""

from __future__ import annotations

import numpy as np
import torch

from coldstart_exp.methods.scaletot.scorer import LayerScorer, PrefixScorer
from coldstart_exp.methods.scaletot.teacher import Budget, ToTConfig, reason


def overlap_scorer(rendered: str, option: str) -> float:
    """Obvious labels: an option that appears in the profile line scores far higher."""
    profile = rendered.split("\n")[0].lower()  # "user: Movie viewer: <profile>."
    return 5.0 if option.strip().lower() in profile else 0.0


def test_label_scoring_picks_the_obvious_label(spec, scripted_llm):
    scorer = LayerScorer(scripted_llm(overlap_scorer))
    headers = [spec.teacher_header("19 years old, man, works as student"),
               spec.teacher_header("70 years old, woman, works as retired")]
    chains = reason(scorer, spec, headers, ToTConfig(calibrate=False, tau=2.0), Budget(0))
    assert [c.labels[0] for c in chains] == ["student", "retired"]
    p = np.array(chains[0].probs[0])
    assert p.argmax() == spec.steps[0].labels.index("student") and p.max() > 0.9


def gated_scorer(flat_steps: set[int]):
    """Peaked distributions, except at the listed steps (flat: maximal entropy)."""

    def score(rendered: str, option: str) -> float:
        step = rendered.count("\nA") - rendered.count("Check A")  # questions asked so far
        if step - 1 in flat_steps and "Check A" not in rendered:
            return 0.0
        return 4.0 if option.strip() in ("teen", "busy", "humor", "comedy", "fun") else 0.0

    return score


def test_entropy_gate_expands_only_above_tau(spec, scripted_llm):
    scorer = LayerScorer(scripted_llm(gated_scorer({1, 3})))
    headers = [spec.teacher_header(f"user {i}") for i in range(3)]
    budget = Budget(None)
    chains = reason(scorer, spec, headers, ToTConfig(tau=0.9, calibrate=False, max_expansions_per_chain=5), budget)
    for c in chains:
        ent = np.array(c.entropy)
        assert (ent[[1, 3]] > 0.99).all() and (ent[[0, 2, 4]] < 0.9).all()
        assert c.expansions == [0, 1, 0, 1, 0]  # only the flat steps were expanded
        # the critique round (peaked on 'comedy' at the genre step) moved the committed label
        assert c.labels[3] == "comedy"
    assert budget.used == 6


def test_expansion_respects_chain_and_run_budgets(spec, scripted_llm):
    scorer = LayerScorer(scripted_llm(lambda r, o: 0.0))  # every step is maximally uncertain
    headers = [spec.teacher_header(f"user {i}") for i in range(4)]
    per_chain = reason(scorer, spec, headers, ToTConfig(tau=0.5, calibrate=False, max_expansions_per_chain=2),
                       Budget(None))
    assert all(sum(c.expansions) == 2 for c in per_chain)
    run_wide = Budget(3)
    capped = reason(scorer, spec, headers, ToTConfig(tau=0.5, calibrate=False, max_expansions_per_chain=2), run_wide)
    assert sum(sum(c.expansions) for c in capped) == 3 and run_wide.used == 3
    greedy = reason(scorer, spec, headers, ToTConfig(tau=1.01, calibrate=False), Budget(None))
    assert all(sum(c.expansions) == 0 for c in greedy)


def test_prefix_scorer_is_exact_under_batching(tiny_lm, spec):
    """Batched, KV-cached scores equal a plain full forward of each row (incl. multi-token options)."""
    model, tok = tiny_lm
    sc = PrefixScorer(model, tok)
    headers = ["viewer: 19 years old man works as student \n", "viewer: woman \n"]
    st = sc.start(headers)
    st = sc.extend(st, ["q1 which life stage ? a1 :"] * 2)
    opts = ["teen", "young adult", "retired"]
    got = sc.score(st, [opts, opts])
    st = sc.extend(st, [" parent \n", " senior \n"], tails=["q2 what genre ? a2 :"] * 2, pool=True)
    got2 = sc.score_after(st, ["check again", ""], [opts, opts])
    after = sc.score(st, [opts, opts])
    for r, h in enumerate(headers):
        def direct(prefix):
            out = []
            for o in opts:
                ids = tok(prefix, add_special_tokens=False)["input_ids"]
                oi = tok(" " + o, add_special_tokens=False)["input_ids"]
                with torch.no_grad():
                    lp = torch.log_softmax(model(input_ids=torch.tensor([ids + oi])).logits[0].float(), -1)
                out.append(sum(float(lp[len(ids) - 1 + j, t]) for j, t in enumerate(oi)))
            return np.array(out)
        p1 = h + "q1 which life stage ? a1 :"
        np.testing.assert_allclose(got[r], direct(p1), atol=1e-4)
        p2 = p1 + [" parent \n", " senior \n"][r] + "q2 what genre ? a2 :"
        np.testing.assert_allclose(after[r], direct(p2), atol=1e-4)  # the branch left no trace
        if r == 0:
            np.testing.assert_allclose(got2[0], direct(p2 + " check again"), atol=1e-4)
    assert len(st.segments[0]) == 1 and st.segments[0][0].shape == (32,)


def test_forced_labels_are_committed_and_scored_in_context(spec, scripted_llm):
    """Teacher forcing (transfer.targets=teacher): the forced chain is what the prompt carries, while the
    distributions stay the scorer's own; rows without a forced chain keep the argmax."""
    seen: list[str] = []

    def score(rendered: str, option: str) -> float:
        seen.append(rendered)
        return 5.0 if option.strip() in ("teen", "busy", "humor", "comedy", "fun") else 0.0

    scorer = LayerScorer(scripted_llm(score))
    headers = [spec.teacher_header("user a"), spec.teacher_header("user b")]
    forced = [[s.labels[-1] for s in spec.steps], None]
    chains = reason(scorer, spec, headers, ToTConfig(calibrate=False, tau=2.0), Budget(0), forced=forced)
    assert chains[0].labels == forced[0]
    assert chains[1].labels == ["teen", "busy", "humor", "comedy", "fun"]
    own = [s.labels[int(np.argmax(p))] for s, p in zip(spec.steps, chains[0].probs)]
    assert own == chains[1].labels  # the scorer still prefers its own labels
    last = [r for r in seen if "user a" in r][-1]  # the last step's prompt of the forced row
    assert all(spec.commit(spec.teacher, lab).strip() in last for lab in forced[0][:-1])


def test_few_shot_examples_precede_every_teacher_header_and_key_the_cache(spec, scripted_llm):
    """method.teacher.few_shot: the worked examples lead every teacher prompt, the content-free calibration row's
    included (so calibration divides by the prior the model has *with* the examples), and change the cache key."""
    from dataclasses import replace

    labels = [s.labels[-1] for s in spec.steps]
    example = spec.teacher_chain("70 years old, woman", labels) + "\n"
    assert all(spec.commit(spec.teacher, lab) in example for lab in labels)
    shot = replace(spec, shots=example)
    assert shot.teacher_header("19 years old").startswith(example) and shot.key() != spec.key()
    assert replace(spec, shots="").key() == spec.key()  # no examples: the recorded chains' keys are unchanged
    seen: list[str] = []

    def score(rendered: str, option: str) -> float:
        seen.append(rendered)
        return 0.0

    reason(LayerScorer(scripted_llm(score)), shot, [shot.teacher_header("19 years old")], ToTConfig(tau=2.0), Budget(0))
    assert seen and all(example in r for r in seen)  # the profile row and the calibration row alike
