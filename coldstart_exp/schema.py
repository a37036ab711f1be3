"""Types and ranges of the shared knobs (seed, threads, trainer, eval, split, data), checked at the start of
`experiment.prepare`, before any data is read: `trainer.lr=abc` or `split.holdout_frac=1.5` fail at once
with the key, the value and what is allowed. A backbone's knobs (`backbone.model`) are checked against its
`_target_` class: a key its constructor does not take (a typo such as `backbone.model.hiden=128`, which the
backbones' `**_` catch-all would otherwise drop silently) or a value that does not fit the parameter's type
annotation fails the same way. Method knobs are plain YAML read by each method. Other unknown keys are allowed
here (groups add their own).
"""

from __future__ import annotations

import inspect
import logging
import typing
from typing import Annotated, Literal

from omegaconf import DictConfig, OmegaConf
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from .eval.evaluator import METRICS

log = logging.getLogger(__name__)

PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]


class ConfigError(ValueError):
    """A config value of the wrong type or out of range; the message names key, value and what is allowed."""


class _Node(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class TrainerSchema(_Node):
    max_epochs: NonNegInt
    patience: NonNegInt
    val_every: PosInt
    lr: Annotated[float, Field(gt=0)]
    weight_decay: Annotated[float, Field(ge=0)]
    grad_clip: Annotated[float, Field(gt=0)] | None = None
    batch_size: PosInt
    eval_batch_size: PosInt
    num_workers: NonNegInt
    deterministic: bool
    resume: bool | Literal["force"]
    progress_refresh: PosInt
    log_every: PosInt
    max_time: str | None = None


class EvalSchema(_Node):
    ks: Annotated[list[PosInt], Field(min_length=1)]
    metrics: Annotated[list[Literal[METRICS]], Field(min_length=1)]
    mask_seen: bool
    bucket_edges: Annotated[list[NonNegInt], Field(min_length=1)]

    @field_validator("bucket_edges")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        if v[0] != 0 or any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError("must start at 0 and increase strictly, e.g. [0, 1, 3, 6, 11, 21]")
        return v


class SplitSchema(_Node):
    name: str
    holdout_frac: Annotated[float, Field(gt=0, lt=1)] | None = None
    seed: NonNegInt | None = None
    n_support: Annotated[list[NonNegInt], Field(min_length=1)] | None = None
    valid_n_support: NonNegInt | None = None
    candidates: Literal["reachable", "all"] | None = None


class DataSchema(_Node):
    name: str
    max_len: PosInt
    rating_threshold: float | None = None
    kcore: NonNegInt = 0
    on_bad_rows: Literal["error", "skip"] = "error"
    duplicates: Literal["keep", "drop", "error"] = "keep"
    cache: bool = False


class RunSchema(_Node):
    seed: Annotated[int, Field(ge=0, lt=2**32)]
    threads: PosInt | None = None
    trainer: TrainerSchema
    eval: EvalSchema
    split: SplitSchema
    data: DataSchema


def _allowed(err: dict) -> str:
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        return f"allowed: {ctx['expected']}"
    return err["msg"]


def validate_config(cfg: DictConfig) -> None:
    """Raise ConfigError listing every shared knob with a wrong type or an out-of-range value."""
    present = {k: OmegaConf.to_container(cfg[k], resolve=True) if isinstance(cfg[k], DictConfig) else cfg[k]
               for k in ("seed", "threads", "trainer", "eval", "split", "data") if k in cfg}
    if set(present) != {"seed", "threads", "trainer", "eval", "split", "data"}:
        return  # a partial config (a unit test's); the full ones always have all six
    backbone = cfg.get("backbone")
    lines = target_knob_problems(backbone.model, "backbone.model") if backbone and backbone.get("model") else []
    try:
        RunSchema.model_validate(present)
    except ValidationError as e:
        for err in e.errors():
            loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "constrained-"))]
            # unions report once per member ('int', 'none'); the key and value are what matter
            parts = [p for p in loc if p not in ("int", "float", "str", "bool", "none", "list[...]")
                     and not p.startswith("literal[")]
            key = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts).lstrip(".")
            line = f"{key} = {err.get('input')!r}: {_allowed(err)}"
            if line not in lines:
                lines.append(line)
    if lines:
        raise ConfigError("invalid config (fix these overrides or YAML values):\n  " + "\n  ".join(lines)) from None


def target_knob_problems(node: DictConfig, key: str) -> list[str]:
    """Keys of a `_target_` node that its constructor does not name, and values that do not fit a parameter's
    type annotation (pydantic's lax mode: `64` fits `float`, `"abc"` does not fit `int`)."""
    import hydra

    if "_target_" not in node:
        return []
    target = hydra.utils.get_object(node._target_)
    fn = target.__init__ if isinstance(target, type) else target
    params = inspect.signature(fn).parameters
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - an annotation that cannot be resolved: check names only
        hints = {}
    named = [n for n, p in params.items() if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    out = []
    for k, v in OmegaConf.to_container(node, resolve=True).items():
        if k.startswith("_"):
            continue
        if k not in params:
            out.append(f"{key}.{k} = {v!r}: {node._target_} takes no such parameter (it takes: {', '.join(named)})")
        elif k in hints:
            try:
                TypeAdapter(hints[k]).validate_python(v)
            except ValidationError:
                out.append(f"{key}.{k} = {v!r}: expected {_type_name(hints[k])}")
    return out


def _type_name(t) -> str:
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


def check_against_data(cfg: DictConfig, tables, split) -> None:
    """Knobs that can only be judged once the tables and split exist (before any training). Ranking
    tasks only: a generation split (PAT's GenSplit) checks its own sizes."""
    if cfg.task.name != "ranking" or not hasattr(split, "tests"):
        return
    ks = list(cfg.eval.ks)
    if max(ks) > tables.n_items:
        log.warning("eval.ks=%s: cut-off(s) %s exceed the %d items of %s, so @k ranks every item there is",
                    ks, [k for k in ks if k > tables.n_items], tables.n_items, tables.name)
    empty = [name for name, es in {"valid": split.valid, **split.tests}.items() if len(es) == 0]
    if empty:
        knob = " (split.n_support / split.valid_n_support)" if "n_support" in cfg.split else ""
        raise ConfigError(f"evaluation set(s) {empty} of split={cfg.split.name} have no users on {tables.name}"
                          f"{knob}: their metrics would be NaN; choose values the data can fill")
