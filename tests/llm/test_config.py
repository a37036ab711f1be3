"""The `llm` config group composes, builds, and documents every knob."""
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from coldstart_exp.llm import build_llm, generation_params

CONF = Path(__file__).resolve().parents[2] / "conf"
GROUP = sorted(p.stem for p in (CONF / "llm").glob("*.yaml"))


def _compose(name, tmp_path, *extra):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose(config_name=None, overrides=[f"+llm={name}", f"+paths.cache_dir={tmp_path}", *extra])


def test_group_has_the_three_backends():
    assert {"smollm2", "hf", "openai"} <= set(GROUP)


@pytest.mark.parametrize("name", GROUP)
def test_compose_and_keys(name, tmp_path):
    cfg = _compose(name, tmp_path)
    assert cfg.llm._name_ == name and cfg.llm.backend in ("smollm2", "hf", "openai", "fake")
    assert cfg.llm.cache.dir == f"{tmp_path}/llm" and cfg.llm.cache.mode == "use"
    for k in ("max_new_tokens", "temperature", "seed", "max_users"):
        assert k in cfg.llm
    gp = generation_params(cfg.llm)
    assert gp.max_new_tokens == cfg.llm.max_new_tokens
    from coldstart_exp.llm import structured_options
    so = structured_options(cfg.llm)
    assert so["max_retries"] == cfg.llm.parse_retries and so["max_items"] == cfg.llm.max_users


@pytest.mark.parametrize("name", GROUP)
def test_every_knob_has_a_comment(name):
    for line in (CONF / "llm" / f"{name}.yaml").read_text().splitlines():
        if re.match(r"^\s*[A-Za-z_]+:", line):
            assert "#" in line, f"{name}.yaml: undocumented key: {line!r}"


def test_build_fake_with_cache_mode_override(tmp_path):
    cfg = _compose("fake", tmp_path, "llm.cache.mode=off")
    llm = build_llm(cfg.llm)
    assert llm.cache.mode == "off" and llm.generate(["hi"], generation_params(cfg.llm))[0]


def test_hf_requires_model_path(tmp_path):
    cfg = _compose("hf", tmp_path)
    with pytest.raises(ValueError, match="model_path"):
        build_llm(cfg.llm)


def test_hf_backend_loads_local_folder(tmp_path, tiny_hf):
    """`llm=hf llm.model_path=<folder>` loads offline with dtype/device from config."""
    model, tok = tiny_hf
    folder = tmp_path / "tiny"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    cfg = _compose("hf", tmp_path, f"llm.model_path={folder}", "llm.dtype=bfloat16", "llm.device=cpu",
                   "llm.progress=false")
    llm = build_llm(cfg.llm)
    assert llm.backend._model is None  # weights load lazily
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "paris"}]
    assert llm.backend.renderer is not None  # light renderer == transformers' chat template
    assert llm.render(msgs) == llm.backend.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    import torch
    assert llm.backend.model.dtype == torch.bfloat16 and llm.name == "hf:tiny" and "bfloat16" in llm.version
    out = llm.generate(["paris"], generation_params(cfg.llm, max_new_tokens=4))
    assert isinstance(out[0], str) and llm.counters.cache_misses == 1
