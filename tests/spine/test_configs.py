"""Every config file composes; presets compose; bad options fail with Hydra's own message."""

import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from tests.conftest import CONF, ROOT, compose

GROUPS = ["data", "split", "task", "backbone", "datamodule", "module", "method", "strategy", "logger", "llm", "paths"]
NAMED = ("data", "split", "task", "backbone", "method", "strategy", "llm")  # groups whose options carry a name


def _options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in _options(g)])
def test_every_group_option_composes(group, option, tmp_path):
    cfg = compose([f"{group}={option}"], tmp_path)
    node = cfg[group]
    OmegaConf.to_container(node, resolve=True)  # every interpolation resolves
    if group in NAMED:
        assert node.get("name") or node.get("backend"), f"{group}/{option}.yaml lacks a name"
    for target in _targets(OmegaConf.to_container(node)):
        _import(target)  # every `_target_` names something that exists
    if group == "backbone":  # every knob is a parameter of the class, of the annotated type
        from coldstart_exp.schema import target_knob_problems

        assert target_knob_problems(node.model, "backbone.model") == []


def _targets(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["_target_"]] if "_target_" in node else []
        return own + [t for v in node.values() for t in _targets(v)]
    if isinstance(node, list):
        return [t for v in node for t in _targets(v)]
    return []


def _import(target: str):
    from hydra._internal.utils import _locate

    return _locate(target)


def _ablations():
    return sorted(f"{p.parent.name}/{p.stem}" for p in (CONF / "ablation").glob("*/*.yaml"))


@pytest.mark.parametrize("task", _options("task"))
@pytest.mark.parametrize("entry", ["method=" + m for m in _options("method")] + ["ablation=" + a for a in _ablations()])
def test_every_method_and_ablation_composes_with_every_task(task, entry, tmp_path):
    """The composed config is the whole truth about a run: an ablation's label and switches are in it."""
    over = [f"task={task}", entry]
    if entry.startswith("ablation="):
        method, name = entry.split("=")[1].split("/")
        over.insert(0, f"method={method}")
    cfg = compose(over, tmp_path)
    c = OmegaConf.to_container(cfg, resolve=True)
    assert c["trainer"]["monitor"] == c["task"]["monitor"]
    for target in _targets(c):
        _import(target)
    if entry.startswith("ablation="):
        assert c["ablation_of"] == method and c["variant"] == c["method"]["ablation"]
        assert c["variant"] == name


def test_an_ablation_of_another_method_is_refused(tmp_path):
    from coldstart_exp.experiment import prepare

    cfg = compose(["method=baseline", "data=synthetic", "logger=none", "ablation=scaletot/greedy"], tmp_path)
    with pytest.raises(ValueError, match="switch set of method=scaletot, but method=baseline"):
        prepare(cfg)


@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_preset_composes(preset, tmp_path):
    cfg = compose([f"experiment={preset}"], tmp_path)
    c = OmegaConf.to_container(cfg, resolve=True)
    assert c["method"]["entry"].startswith("coldstart_exp.methods.")
    from hydra.utils import get_method

    get_method(c["method"]["entry"])  # the entry point exists
    if cfg.get("backbone"):  # its backbone knobs are parameters of the backbone class, of the right types
        from coldstart_exp.schema import target_knob_problems

        assert target_knob_problems(cfg.backbone.model, "backbone.model") == []


@pytest.mark.parametrize("search", sorted(p.stem for p in (CONF / "hparams_search").glob("*.yaml")))
def test_hparams_search_composes(search, tmp_path):
    from hydra import compose as hcompose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = hcompose("config", overrides=[f"hparams_search={search}"], return_hydra_config=True)
    assert cfg.optimized_metric and cfg.hydra.sweeper.params


def test_method_entries_exist(tmp_path):
    from hydra.utils import get_method

    for m in _options("method"):
        get_method(compose([f"method={m}"], tmp_path).method.entry)


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "coldstart_exp", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_unknown_option_fails_with_hydra_message():
    r = _cli("backbone=nope")
    assert r.returncode != 0
    assert "Could not find 'backbone/nope'" in r.stderr and "Available options" in r.stderr


def test_missing_required_value_fails_clearly(tmp_path):
    r = _cli("seed=???", f"paths.output_dir={tmp_path}")
    assert r.returncode != 0 and "Missing mandatory value: seed" in r.stderr


def test_gpu_strategy_without_gpu_fails_at_start(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    r = _cli("strategy=gpu", "data=synthetic", "logger=none", f"hydra.run.dir={tmp_path}")
    assert r.returncode != 0 and "needs a CUDA GPU" in r.stderr
