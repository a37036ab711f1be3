"""PAT's three agents through the shared LLM layer: style summarizer, topic summarizer, generator.

Prompts live in `conf/prompts/pat_{style,topic,generate}.yaml`; every call goes through
`CachedLLM.generate` (persistent cache, counters). The generator also serves every LLM baseline:
its context block is either retrieved reviews (PGraphRAG profiles) or the agents' summaries.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...llm import GenerationParams, load_template
from .split import Example


def snippet(title: str, text: str, chars: int) -> str:
    t = " ".join(str(text).split())
    return f"- {title.strip()}: {t[:chars]}" if title.strip() else f"- {t[:chars]}"


def clean_output(text: str, task: str, max_title_words: int) -> str:
    """First paragraph of the answer, quotes stripped; titles cut to `max_title_words` words."""
    t = text.strip().split("\n\n")[0].strip().strip('"').strip()
    if task == "title":
        t = " ".join(t.splitlines()[0].split()[:max_title_words]) if t else ""
    return t


class Agents:
    def __init__(self, llm, task: str, summary_params: GenerationParams, generate_params: GenerationParams,
                 snippet_chars: int = 200, max_title_words: int = 10,
                 prompts: dict | None = None):
        p = {"style": "pat_style", "topic": "pat_topic", "generate": "pat_generate", **(prompts or {})}
        self.llm, self.task = llm, task
        self.tpl = {k: load_template(v) for k, v in p.items()}
        gen = self.tpl["generate"].meta
        if task not in gen.get("instructions", {}):
            raise ValueError(f"{p['generate']}.yaml: no instructions.{task} (task.target)")
        self.instruction, self.labels = gen["instructions"][task], gen["context_labels"]
        self.summary_params, self.generate_params = summary_params, generate_params
        self.snippet_chars, self.max_title_words = snippet_chars, max_title_words

    def snippets(self, reviews, rids: Sequence[int]) -> str:
        return "\n".join(snippet(reviews.title[i], reviews.text[i], self.snippet_chars) for i in rids) or "- (none)"

    def summary_prompts(self, kind: str, examples: Sequence[Example], snippets: Sequence[str]) -> list:
        tpl = self.tpl[kind]
        return [tpl.render(snippets=s, input=ex.input[: self.snippet_chars]) if "input" in tpl.fields
                else tpl.render(snippets=s) for ex, s in zip(examples, snippets)]

    def summarize(self, kind: str, examples: Sequence[Example], snippets: Sequence[str], llm=None,
                  params: GenerationParams | None = None, version_tag: str = "") -> list[str]:
        """One summary per example; `llm` may be an adapter-wrapped view (DPO rounds), tagged in the key."""
        tpl = self.tpl[kind]
        out = (llm or self.llm).generate(self.summary_prompts(kind, examples, snippets), params or self.summary_params,
                                         template_version=tpl.version_key + version_tag, desc=f"pat.{kind}")
        return [o.strip() for o in out]  # the LLM layer returns the answer with its prefill ("They write ...")

    def context(self, blocks: dict[str, str]) -> str:
        parts = [f"{self.labels[k]}\n{v}" for k, v in blocks.items() if v]
        return "\n\n".join(parts) if parts else "(no information about this user)"

    def generate(self, examples: Sequence[Example], contexts: Sequence[str]) -> list[str]:
        tpl = self.tpl["generate"]
        prompts = [tpl.render(context=c, instruction=self.instruction.format(input=ex.input[:600]))
                   for ex, c in zip(examples, contexts)]
        out = self.llm.generate(prompts, self.generate_params, template_version=tpl.version_key, desc="pat.generate")
        return [clean_output(o, self.task, self.max_title_words) for o in out]
