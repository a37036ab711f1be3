"""Every system of the PAT comparison on one protocol: what context each gives the generator.

    none       no retrieval (input only)
    random     one random-profile block (k reviews of other users)
    user       LaMP-style: the user's own visible reviews, BM25 top-k
    neighbor   other users' reviews of the target item, BM25 top-k
    both       user + neighbor (PGraphRAG's best)
    style      PAT style trajectory -> style summary only
    topic      PAT topic trajectory -> topic summary only
    pat_norl   both summaries from the base summarizers (PAT without RL: one round, no DPO)
    pat        both summaries from the DPO-trained summarizer adapters (see rl.py)
    reference  no LLM: the neighbour review most similar (BM25) to the input, copied as the output
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .agents import Agents, clean_output
from .retrieval import Retriever
from .split import Example

RAW = ("none", "random", "user", "neighbor", "both")
SUMMARY = {"style": ("style",), "topic": ("topic",), "pat_norl": ("style", "topic"), "pat": ("style", "topic")}
SYSTEMS = (*RAW, *SUMMARY, "reference")


@dataclass
class Outputs:
    outputs: list[str]
    contexts: list[str]
    summaries: dict[str, list[str]] = field(default_factory=dict)
    retrieved: dict[str, list[list[int]]] = field(default_factory=dict)


def retrieve(retriever: Retriever, examples: list[Example], profile: str) -> list[list[int]]:
    return [retriever.profile(ex, profile) for ex in examples]


def run_system(name: str, examples: list[Example], retriever: Retriever, agents: Agents | None,
               summarizer_llm: dict | None = None) -> Outputs:
    """Outputs of one system. `summarizer_llm` maps style/topic to (llm view, cache tag) for `pat`."""
    if name not in SYSTEMS:
        raise ValueError(f"unknown PAT system {name!r}; expected one of {SYSTEMS}")
    reviews = retriever.split.reviews
    if name == "reference":
        col = "text" if retriever.split.task == "text" else "title"
        top = [retriever.bm25_rank(ex.input, retriever.candidates(ex, "neighbor"), 1) for ex in examples]
        mw = int(retriever.split.info.get("max_title_words", 10))
        outs = [clean_output(str(reviews[col][t[0]]), retriever.split.task, mw) if t else "" for t in top]
        return Outputs(outs, ["" for _ in examples], retrieved={"neighbor": top})
    if agents is None:
        raise ValueError(f"system {name!r} needs the LLM agents")
    if name in RAW:
        parts = {"none": [], "both": ["user", "neighbor"]}.get(name, [name])
        got = {p: retrieve(retriever, examples, p) for p in parts}
        ctx = [agents.context({p: agents.snippets(reviews, got[p][j]) if got[p][j] else "" for p in parts})
               for j in range(len(examples))]
        return Outputs(agents.generate(examples, ctx), ctx, retrieved=got)
    got, summ = {}, {}
    for kind in SUMMARY[name]:
        got[kind] = retrieve(retriever, examples, kind)
        view, tag = (summarizer_llm or {}).get(kind, (None, ""))
        summ[kind] = agents.summarize(kind, examples, [agents.snippets(reviews, r) for r in got[kind]], llm=view,
                                      version_tag=tag)
    ctx = [agents.context({k: summ[k][j] for k in summ}) for j in range(len(examples))]
    return Outputs(agents.generate(examples, ctx), ctx, summ, got)
