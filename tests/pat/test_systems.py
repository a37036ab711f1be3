"""PAT agents and systems with the scripted LLM: prompts hold no gold text, contexts per system."""

import pytest

from coldstart_exp.llm import GenerationParams, build_llm
from coldstart_exp.methods.pat.agents import Agents, clean_output
from coldstart_exp.methods.pat.retrieval import Retriever
from coldstart_exp.methods.pat.split import make_generation_split
from coldstart_exp.methods.pat.systems import SYSTEMS, run_system

from .synthetic import synthetic_reviews


@pytest.fixture(scope="module")
def setup():
    split = make_generation_split(synthetic_reviews(seed=3), task="text", n_test=10, n_valid=0, n_train=0, seed=0)
    llm = build_llm({"_target_": "coldstart_exp.llm.backends.fake.fake_backend", "backend": "fake", "cache": {"mode": "off"}})
    agents = Agents(llm, "text", GenerationParams(max_new_tokens=16), GenerationParams(max_new_tokens=32))
    return split, Retriever(split, k=2, sage_epochs=20), agents, llm


def test_every_system_runs_and_no_prompt_holds_a_gold_review(setup):
    split, retriever, agents, llm = setup
    exs = split.examples["test"]
    for name in SYSTEMS:
        before = len(llm.backend.seen)
        out = run_system(name, exs, retriever, agents)
        assert len(out.outputs) == len(exs)
        prompts = llm.backend.seen[before:]
        n_calls = {"none": 1, "random": 1, "user": 1, "neighbor": 1, "both": 1, "style": 2, "topic": 2,
                   "pat_norl": 3, "pat": 3, "reference": 0}[name]
        assert len(prompts) == n_calls * len(exs)
        for ex in exs:
            assert not any(ex.gold in p for p in prompts)


def test_context_blocks(setup):
    split, retriever, agents, _ = setup
    exs = split.examples["test"][:3]
    assert run_system("none", exs, retriever, agents).contexts[0] == "(no information about this user)"
    both = run_system("both", exs, retriever, agents)
    assert "Reviews of this product by other users:" in both.contexts[0]
    pat = run_system("pat_norl", exs, retriever, agents)
    assert pat.summaries["style"][0].startswith("They write") and pat.summaries["topic"][0].startswith("They say")
    assert not pat.summaries["style"][0].startswith("They write They write")  # the prefill appears once
    assert "How similar users write:" in pat.contexts[0] and "What other reviewers say" in pat.contexts[0]


def test_reference_copies_the_most_similar_neighbour_review(setup):
    split, retriever, _, _ = setup
    exs = split.examples["test"]
    out = run_system("reference", exs, retriever, None)
    for ex, o, top in zip(exs, out.outputs, out.retrieved["neighbor"]):
        assert split.reviews.item[top[0]] == ex.item and split.reviews.user[top[0]] != ex.user
        assert o == split.reviews.text[top[0]]
    with pytest.raises(ValueError, match="needs the LLM"):
        run_system("user", exs, retriever, None)


def test_clean_output_cuts_titles():
    assert clean_output('"A very good cable that I would buy again and again and again"\nmore', "title", 10) == \
        "A very good cable that I would buy again and"
    assert clean_output("Para one.\n\nPara two.", "text", 10) == "Para one."
