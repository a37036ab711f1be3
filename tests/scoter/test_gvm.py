"""GVM never reads the test item: prompts see only pre-validation history, scores use the validation item."""

import copy
import re

import numpy as np
from omegaconf import OmegaConf

from coldstart_exp.llm import LLMCache
from coldstart_exp.llm.backends.fake import ScriptedBackend
from coldstart_exp.llm.cache import CachedLLM
from coldstart_exp.methods.scoter import gvm
from coldstart_exp.retrieval import HashEncoder, build_index

GCFG = OmegaConf.create({"prompt": "scoter_generate", "users": 20, "n_chains": 2, "temperature": 0.9, "top_p": 0.95,
                         "repetition_penalty": 1.0, "max_new_tokens": 40, "history_items": 10, "recall_k": 20,
                         "k": 3, "n_types": 4, "min_support": 2, "seed": 0})


def _script(rendered, params):
    """Names a genre from the prompt's last listed title, varied by the decoding seed."""
    genres = re.findall(r"(horror|scifi|drama|comedy|romance|action|thriller|family)", rendered.split("user:")[-1])
    g = genres[-1] if genres else "drama"
    opener = ["The user likes", "Recent picks are", "Mostly"][params.seed % 3]
    return f"1. {opener} {g} titles.\n2. Their taste is steady.\n3. Next: a {g} item"


def _index(item_emb):
    return build_index(item_emb[1:], "flat", ids=np.arange(1, len(item_emb)))


def _llm(tmp_path):
    return CachedLLM(ScriptedBackend(_script), LLMCache(tmp_path / "llm", mode="use"))


def test_gvm_only_uses_history_before_validation_item(synth, tmp_path):
    tables, split = synth
    titles, enc = tables.item_titles(), HashEncoder()
    index = _index(enc.encode(tables.item_texts()))
    llm = _llm(tmp_path)
    mined = gvm.run_gvm(llm, enc, index, split.valid, titles, GCFG, tmp_path / "a", "item")
    prompts = llm.backend.seen
    assert len(prompts) == 20 * 2
    rows = gvm.sample_users(split.valid, 20, 0)
    test_by_user = {int(u): int(t[0]) for u, t in zip(split.tests["test"].users, split.tests["test"].targets)}
    for r in rows:
        u, v = int(split.valid.users[r]), int(split.valid.targets[r][0])
        hist = split.valid.histories[r]
        shown = gvm.history_text(hist, titles, GCFG.history_items)
        assert any(shown in p for p in prompts)
        for item in (v, test_by_user[u]):  # neither held-out item is shown unless it is also an earlier item
            if item not in set(hist.tolist()):
                assert titles[item] not in shown.split("; ")
    assert (tmp_path / "a" / "pattern.yaml").exists() and (tmp_path / "a" / "pattern_stats.csv").exists()
    assert len(mined.types) == 3


def test_gvm_output_does_not_depend_on_test_items(synth, tmp_path):
    tables, split = synth
    titles, enc = tables.item_titles(), HashEncoder()
    index = _index(enc.encode(tables.item_texts()))
    a = gvm.run_gvm(_llm(tmp_path / "1"), enc, index, split.valid, titles, GCFG, tmp_path / "a", "item")
    poisoned = copy.deepcopy(split)
    rng = np.random.default_rng(1)
    poisoned.tests["test"].targets = [rng.integers(1, tables.n_items + 1, size=1) for _ in poisoned.tests["test"].targets]
    b = gvm.run_gvm(_llm(tmp_path / "2"), enc, index, poisoned.valid, titles, GCFG, tmp_path / "b", "item")
    assert a.types == b.types and a.stats == b.stats
    assert (tmp_path / "a" / "pattern.yaml").read_text() == (tmp_path / "b" / "pattern.yaml").read_text()


def test_validate_scores_against_the_validation_item(synth):
    tables, split = synth
    texts, enc = tables.item_texts(), HashEncoder()
    index = _index(enc.encode(texts))
    test_by_user = {int(u): int(t[0]) for u, t in zip(split.tests["test"].users, split.tests["test"].targets)}
    r = next(i for i, u in enumerate(split.valid.users)
             if test_by_user[int(u)] != int(split.valid.targets[i][0]))
    v, t = int(split.valid.targets[r][0]), test_by_user[int(split.valid.users[r])]
    chains = [{"row": r, "steps": ["x", f"Next: {texts[v]}"]}, {"row": r, "steps": ["x", f"Next: {texts[t]}"]}]
    scored = gvm.validate(chains, split.valid, enc, index, k=1)
    assert [c["score"] for c in scored] == [1.0, 0.0]
