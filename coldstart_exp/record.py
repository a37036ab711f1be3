"""What a run record (metrics.json) says about where its numbers came from: the code (git commit and
whether the tree was dirty), the command line and Hydra overrides, the start time, the CPU, the versions of
the libraries that shape results, and the best validation epoch; floats rounded to 6 significant digits
so float32 noise is not printed as if it were precision."""

from __future__ import annotations

import functools
import math
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("torch", "lightning", "numpy", "pandas", "scipy", "faiss-cpu", "transformers",
             "sentence-transformers", "hydra-core")


def run_record(total_s: float) -> dict:
    """Provenance facts of the current job (`total_s`: seconds since the job started)."""
    return {
        "git": git_state(),
        "command": shlex.join(getattr(sys, "orig_argv", sys.argv)),
        "overrides": _hydra_overrides(),
        "started_at": (datetime.now(timezone.utc) - timedelta(seconds=total_s)).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "versions": library_versions(),
    }


@functools.cache
def git_state(repo: Path = PACKAGE_ROOT) -> dict | None:
    """{"commit", "dirty"} of the checkout holding this package (None outside a git checkout).
    `dirty`: tracked files differ from the commit (untracked files are not counted)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode:
            return None
        status = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.TimeoutExpired):
        return None


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def library_versions() -> dict:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def best_epoch(curve: list[dict] | None, monitor: str) -> dict | None:
    """The validation round with the highest `monitor` (the checkpointed one; first of ties, as Lightning's
    ModelCheckpoint keeps the first best): its epoch, step, seconds and monitor value."""
    rows = [r for r in curve or [] if isinstance(r.get(monitor), int | float) and not math.isnan(r[monitor])]
    if not rows:
        return None
    top = max(rows, key=lambda r: r[monitor])  # max returns the first maximal row
    return {k: top[k] for k in ("epoch", "step", "seconds", monitor) if k in top}


def round_floats(obj, digits: int = 6):
    """Recursively round floats to `digits` significant digits (NaN/inf kept)."""
    if isinstance(obj, float):
        return obj if not math.isfinite(obj) else float(f"{obj:.{digits}g}")
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [round_floats(v, digits) for v in obj]
    if hasattr(obj, "dtype") and getattr(obj, "ndim", 1) == 0:  # numpy scalar
        return round_floats(obj.item(), digits)
    return obj


def _hydra_overrides() -> list[str] | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except (ValueError, ImportError):  # not inside a Hydra app (tests, scripts)
        return None
