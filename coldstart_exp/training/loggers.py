"""Loggers assembled from `conf/logger/*.yaml` (every `_target_` node of `cfg.logger`), and the one place
where a finished run's results reach them (metrics, the bucket table and chart, the validation curve)."""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

import hydra
import pandas as pd
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def build_loggers(cfg: DictConfig) -> list:
    """One Lightning logger per `_target_` entry of `cfg.logger` (none for `logger=none`), with the
    resolved config recorded as the run's hyperparameters."""
    loggers = [hydra.utils.instantiate(node) for node in (cfg.get("logger") or {}).values()
               if isinstance(node, DictConfig) and "_target_" in node]
    if loggers:
        hparams = OmegaConf.to_container(cfg, resolve=True)
        for lg in loggers:
            lg.log_hyperparams(hparams)
    return loggers


def wandb_credentials() -> str | None:
    """Where W&B credentials come from: "WANDB_API_KEY", "netrc" (`wandb login`) or None."""
    if os.environ.get("WANDB_API_KEY"):
        return "WANDB_API_KEY"
    host = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname
    candidates = [os.environ["NETRC"]] if os.environ.get("NETRC") else [Path.home() / ".netrc", Path.home() / "_netrc"]
    for path in map(Path, candidates):
        try:
            if path.is_file() and netrc.netrc(str(path)).authenticators(host):
                return "netrc"
        except (netrc.NetrcParseError, OSError):
            continue
    return None


def wandb_logger(project: str, name: str, save_dir: str, mode: str = "auto", entity: str | None = None,
                 group: str | None = None, job_type: str | None = None, tags: list | None = None,
                 artifacts: bool = False, **kwargs):
    """Lightning's WandbLogger. `mode=auto`: WANDB_MODE when set, else online when credentials exist
    (WANDB_API_KEY or a `wandb login` netrc entry), else offline in <run dir>/wandb (`wandb sync` uploads
    it later); the chosen mode and why is logged. `group` (the study), `job_type` (the method) and `tags`
    (data, backbone, split, variant, seed) let W&B panels group and filter runs. `artifacts`: also upload
    the best checkpoint and the per-user parquet files at the end."""
    from lightning.pytorch.loggers import WandbLogger

    if mode == "auto":
        cred = wandb_credentials()
        if os.environ.get("WANDB_MODE"):
            mode, why = os.environ["WANDB_MODE"], "WANDB_MODE is set"
        else:
            mode, why = ("online", f"credentials from {cred}") if cred else ("offline", "no W&B credentials")
    else:
        why = "logger.wandb.mode"
    os.environ.setdefault("WANDB_SILENT", "true")
    (Path(save_dir) / "wandb").mkdir(parents=True, exist_ok=True)
    log.info("W&B %s (%s): project=%s group=%s run=%s%s", mode, why, project, group, name,
             f"; upload later with `wandb sync {save_dir}/wandb/offline-run-*`" if mode == "offline" else "")
    lg = WandbLogger(project=project, name=name, save_dir=save_dir, mode=mode, entity=entity, group=group,
                     job_type=job_type, tags=[str(t) for t in tags or []] or None, **kwargs)
    getattr(lg, "_wandb_init", {}).pop("anonymous", None)  # Lightning always passes it; wandb>=0.22 warns every run
    lg.coldstart_artifacts = artifacts
    lg.coldstart_mode = mode
    return lg


def log_payload(loggers: list, payload: dict, run_dir: Path, curve: list[dict] | None = None,
                log_rows: bool = False, chart: list[str] | None = None,
                tables: dict[str, pd.DataFrame] | None = None) -> None:
    """Final metrics to every logger: `<set>/<metric>` and `<set>/bucket/<bucket>/<metric>` scalars. For W&B
    also the bucket table, a native bar chart per eval set, the chart image, the curve and any extra `tables`
    as tables, and in the summary the final (best-checkpoint) metrics and the best validation epoch
    (`best/epoch`, `best/<monitor>`).
    `log_rows`: also log each curve row as a step (for training loops that ran outside Lightning)."""
    flat = flat_metrics(payload["metrics"])
    best = payload.get("best") or {}
    for lg in loggers:
        for step, row in enumerate((curve or []) if log_rows else []):
            lg.log_metrics({f"curve/{k}": float(v) for k, v in row.items() if isinstance(v, int | float)}, step=step)
        lg.log_metrics(flat)
        if _is_wandb(lg):
            _wandb_extras(lg, payload, run_dir, curve, flat, best, chart or [], tables or {})


def flat_metrics(metrics: dict) -> dict[str, float]:
    """`test/ndcg@10` overall and `test/bucket/3-5/ndcg@10` per bucket (plus `.../users`), as floats."""
    flat = {}
    for s, m in metrics.items():
        flat.update({f"{s}/{n}": float(v) for n, v in m["overall"].items() if isinstance(v, int | float)})
        for b, bm in m.get("buckets", {}).items():
            flat.update({f"{s}/bucket/{b}/{n}": float(v) for n, v in bm.items() if isinstance(v, int | float)})
    return flat


def _wandb_extras(lg, payload: dict, run_dir: Path, curve, flat: dict, best: dict, chart: list[str],
                  tables: dict[str, pd.DataFrame]) -> None:
    import wandb

    run = lg.experiment
    for s, m in payload["metrics"].items():
        if s == "valid" or not m.get("buckets"):
            continue
        for metric in chart[:1]:
            rows = [[b, float(bm[metric])] for b, bm in m["buckets"].items() if metric in bm]
            table = wandb.Table(data=rows, columns=["bucket", metric])
            run.log({f"{s}/buckets_{metric}": wandb.plot.bar(table, "bucket", metric,
                                                             title=f"{s}: {metric} by activity bucket")})
    if (run_dir / "buckets.csv").exists():
        run.log({"buckets": wandb.Table(dataframe=pd.read_csv(run_dir / "buckets.csv"))})
    if (run_dir / "buckets.png").exists():
        run.log({"buckets_chart": wandb.Image(str(run_dir / "buckets.png"))})
    if curve:
        run.log({"val_curve": wandb.Table(dataframe=pd.DataFrame(curve))})
    for name, df in tables.items():  # e.g. generation samples
        run.log({name: wandb.Table(dataframe=df)})
    run.summary.update({**flat, **{f"best/{k}": v for k, v in best.items() if isinstance(v, int | float)}})
    if getattr(lg, "coldstart_artifacts", False):
        art = wandb.Artifact(f"{run.id}-outputs", type="run-outputs")
        for f in [*run_dir.glob("per_user_*.parquet"), run_dir / "checkpoints" / "best.ckpt", run_dir / "metrics.json"]:
            if f.exists():
                art.add_file(str(f))
        run.log_artifact(art)


def close_loggers(loggers: list) -> None:
    """Finalize every logger; end the W&B run so the next job of a --multirun starts its own."""
    for lg in loggers:
        lg.finalize("success")
        if _is_wandb(lg):
            lg.experiment.finish()


def _is_wandb(lg) -> bool:
    return type(lg).__name__ == "WandbLogger"
