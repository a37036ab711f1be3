"""Exact and safe resume: what a checkpoint must carry beyond Lightning's weights/optimizer/loop state.

`ResumeState` (a Lightning Callback, so its `state_dict` rides in every checkpoint) stores the resolved
config, the Python/NumPy/torch (and CUDA) RNG states, the validation curve so far and the fit seconds
spent, and puts them back when a fit resumes: a run killed and resumed from `last.ckpt` continues with
the same random draws (dropout, negatives) as an uninterrupted run, and its curve and timings cover
every epoch. `check_resume` runs before anything is written: it refuses a checkpoint whose config
differs from the run's (listing the keys) unless `trainer.resume=force`, and names a truncated file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import random
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

# keys that may change between the killed run and its resume without changing what is computed
HARMLESS = ("trainer.max_epochs", "trainer.resume", "trainer.max_time", "trainer.progress_refresh",
            "trainer.log_every", "threads", "paths.", "logger.", "hydra.", "study")
# keys that change how the run executes, not what it is: allowed, with a warning (under DDP the training
# batches differ from one process; evaluating a checkpoint gives the same numbers)
WARN_ONLY = ("strategy.",)


def _matches(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == h or (h.endswith(".") and key.startswith(h)) for h in prefixes)


class ResumeError(RuntimeError):
    """A resume that would mix two configs or read a damaged checkpoint."""


class RunDirBusy(RuntimeError):
    """Another live run is writing the same run dir."""


def lock_run_dir(run_dir: Path):
    """An exclusive lock on `run_dir` for this run (released by `finish`, or when the process ends, even by
    kill -9): a second run (process) into the same dir is refused instead of mixing its config with the
    first's metrics. Re-entrant within a process (a failed in-process run does not block the next one);
    DDP ranks > 0 share rank 0's lock."""
    import os

    from filelock import FileLock, Timeout

    if os.environ.get("LOCAL_RANK", "0") != "0":
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / ".run.lock"), is_singleton=True)  # re-entrant within one process
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunDirBusy(f"{run_dir} is being written by another run (lock {run_dir / '.run.lock'} is held); "
                         f"wait for it, or give this run its own hydra.run.dir") from None
    return lock


def config_dict(cfg: DictConfig) -> dict:
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # e.g. ${hydra:...} outside a Hydra app (a test's composed config): compare as written
        return OmegaConf.to_container(cfg, resolve=False)


def config_hash(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _flatten(d, prefix: str = "") -> dict:
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def config_diff(old: dict, new: dict, ignore: tuple[str, ...] = HARMLESS + WARN_ONLY) -> list[str]:
    """`key: old -> new` for every leaf that differs, except the `ignore`d ones."""
    a, b = _flatten(old), _flatten(new)
    out = []
    for k in sorted(set(a) | set(b)):
        if _matches(k, ignore):
            continue
        if a.get(k, "<absent>") != b.get(k, "<absent>"):
            out.append(f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}")
    return out


def last_checkpoint(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints" / "last.ckpt"


def load_checkpoint(path: Path) -> dict:
    """The checkpoint dict, or a ResumeError naming the file when it cannot be read (e.g. truncated)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError/EOFError/UnpicklingError for damaged files
        raise ResumeError(f"{path}: cannot read the checkpoint ({type(e).__name__}: {e}); it is damaged "
                          f"(e.g. the run was killed while writing it)") from e


def check_resume(cfg: DictConfig, run_dir: Path) -> tuple[Path, int, int] | None:
    """(checkpoint, its global step, its epoch) to resume from (None: start from scratch), after checking that it
    matches this config.
    Called before the run writes anything to `run_dir`."""
    mode = cfg.trainer.get("resume")
    if mode not in (True, False, None, "force"):
        raise ResumeError(f"trainer.resume must be true, false or force, got {mode!r}")
    if not mode:
        return None
    path = last_checkpoint(run_dir)
    if not path.exists():
        log.warning("trainer.resume=%s but there is no checkpoint at %s: starting from scratch", mode, path)
        return None
    try:
        state = load_checkpoint(path)
    except ResumeError as damaged:  # fall back to the last good checkpoint: best.ckpt, an earlier epoch's end
        best = path.parent / "best.ckpt"
        try:
            state = load_checkpoint(best) if best.exists() else None
        except ResumeError:
            state = None
        if state is None:
            raise ResumeError(f"{damaged}, and there is no readable {best} to fall back to; set "
                              f"trainer.resume=false to start again") from damaged
        log.warning("%s; resuming from %s instead (epoch %s, step %s): the epochs after it are trained again, "
                    "exactly as the first time", damaged, best, state.get("epoch"), state.get("global_step"))
        path = best
    saved = next((v for k, v in state.get("callbacks", {}).items() if k.startswith("ResumeState")), None)
    if saved is None or "config" not in saved:
        msg = f"{path} carries no config (written by an older version), so it cannot be checked against this run"
        if mode != "force":
            raise ResumeError(msg + "; set trainer.resume=force to resume anyway")
        log.warning(msg)
        return path, int(state.get("global_step", 0)), int(state.get("epoch", 0))
    now = config_dict(cfg)
    changed_how = [d for d in config_diff(saved["config"], now, HARMLESS) if _matches(d.split(":")[0], WARN_ONLY)]
    if changed_how:
        log.warning("resuming %s with a different execution setup (%s): epochs trained from here on batch "
                    "differently", path, "; ".join(changed_how))
    diff = config_diff(saved["config"], now)
    if diff:
        msg = (f"{path} was written by a different config ({len(diff)} key(s) differ, checkpoint -> now):\n  "
               + "\n  ".join(diff))
        if mode != "force":
            raise ResumeError(msg + "\nRepeat the original overrides (see " + str(Path(run_dir) / "config.yaml")
                              + "), or set trainer.resume=force to resume with the new values.")
        log.warning("trainer.resume=force: %s", msg)
    return path, int(state.get("global_step", 0)), int(state.get("epoch", 0))


def trim_csv(path: Path, max_step: int, max_epoch: int | None = None) -> int:
    """Keep the rows of a Lightning CSV metrics file logged at or before `max_step` and `max_epoch` (the
    checkpoint's): rows of the epoch that was interrupted are dropped, so the resumed run re-logs them once.
    The epoch matters as well as the step: the interrupted epoch's first training rows carry the checkpoint's
    step. Returns the number of rows kept."""
    path = Path(path)
    if not path.exists():
        return 0
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames or [], list(reader)
    def kept(r: dict) -> bool:
        if r.get("step") not in (None, "") and int(float(r["step"])) > max_step:
            return False
        return max_epoch is None or r.get("epoch") in (None, "") or int(float(r["epoch"])) <= max_epoch

    keep = [r for r in rows if kept(r)]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(keep)
    return len(keep)


def _rng_state() -> dict:
    """Tensors and plain values only, so that Lightning's `weights_only=True` loading accepts the checkpoint."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    st = {"python": random.getstate(), "torch": torch.get_rng_state(),
          "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss))}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict) -> None:
    random.setstate(st["python"])
    name, keys, pos, has_gauss, gauss = st["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


class ResumeState(L.Callback):
    """Rides in every checkpoint: config + hash, RNG states, validation curve, fit seconds so far."""

    def __init__(self, cfg: DictConfig | None = None):
        self.config = config_dict(cfg) if cfg is not None else None
        self.prior_fit_s = 0.0  # fit seconds spent before this process (resumed runs)
        self._fit_t0 = time.perf_counter()
        self._loaded: dict | None = None
        self._rng: dict | None = None  # RNG states of a loaded checkpoint, set at this process's first batch

    def fit_seconds(self) -> float:
        return self.prior_fit_s + time.perf_counter() - self._fit_t0

    def on_fit_start(self, trainer, pl_module) -> None:
        self._fit_t0 = time.perf_counter()

    def state_dict(self) -> dict:
        module = getattr(self, "_module", None)
        return {"config": self.config, "config_hash": config_hash(self.config or {}), "rng": _rng_state(),
                "curve": list(getattr(module, "curve", []) or []), "fit_s": self.fit_seconds()}

    def load_state_dict(self, state_dict: dict) -> None:
        self._loaded = state_dict  # applied in on_train_start, after Lightning restored everything else

    def setup(self, trainer, pl_module, stage: str) -> None:
        self._module = pl_module

    def on_train_start(self, trainer, pl_module) -> None:
        st, self._loaded = self._loaded, None
        if not st:
            return
        self.prior_fit_s = float(st.get("fit_s", 0.0))
        if hasattr(pl_module, "curve"):
            pl_module.curve[:0] = st.get("curve", [])
            if hasattr(pl_module, "_t0"):  # curve seconds continue from the killed run's
                pl_module._t0 = time.perf_counter() - self.prior_fit_s
        self._rng = st.get("rng")  # set at the first training batch of this process (below), not now
        log.info("resumed at epoch %d: RNG states, %d curve points and %.1f fit seconds restored",
                 trainer.current_epoch, len(st.get("curve", [])), self.prior_fit_s)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        """Exact resume (issue 15). The checkpoint holds the RNG states of the moment it was written, the end of
        an epoch. The uninterrupted run then starts the next epoch by creating the train DataLoader's iterator,
        which draws one int64 (its base seed) from torch's global RNG when the loader has no generator of its
        own (torch.utils.data `_BaseDataLoaderIter`; measured: exactly one draw between a checkpoint and the next
        epoch's first batch). A resumed run creates that iterator before any hook could restore the states, so
        they are restored here, at its first batch, and that one draw is replayed: the resumed run's dropout
        masks and negatives are then the uninterrupted run's. Checkpoints are written at epoch ends only."""
        rng, self._rng = self._rng, None
        if not rng:
            return
        _set_rng_state(rng)
        loader = trainer.train_dataloader
        if getattr(loader, "generator", None) is None:
            torch.empty((), dtype=torch.int64).random_()
