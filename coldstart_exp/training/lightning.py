"""The Lightning pieces every method trains with: `RecModule`, the Trainer and its loggers.

`RecModule`: the LightningModule that trains any `Backbone` and evaluates it by full ranking.

The Trainer, built from config: strategy checks, checkpoints, early stopping.

Loggers: assembled from `conf/logger/*.yaml` (every `_target_` node of `cfg.logger`), and the one place
where a finished run's results reach them (metrics, the bucket table and chart, the validation curve).

`ResumableCSVLogger`: Lightning's CSVLogger, except that a resumed run appends to `csv/metrics.csv` instead of deleting it.

Lightning's writer removes an existing metrics file when it starts; with `append=true` (set from
`trainer.resume`) the existing rows stay and their header is carried on. Rows logged after the checkpoint
the run resumes from are trimmed by `training/resume.py` (`trim_csv`), so no epoch appears twice.
"""

from __future__ import annotations

import csv
import logging
import netrc
import os
import time
from pathlib import Path
from urllib.parse import urlparse

import hydra
import lightning as L
import pandas as pd
import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from omegaconf import DictConfig, OmegaConf

from ..eval.evaluator import RankingEvaluator
from .resume import ResumeState

log = logging.getLogger(__name__)


class RecModule(L.LightningModule):
    """Optimises `backbone.loss`; validation/test compute per-user ranking metrics per EvalSet."""

    def __init__(self, backbone, evaluator: RankingEvaluator, lr: float = 1e-3, weight_decay: float = 0.0,
                 eval_names: list[str] | None = None):
        super().__init__()
        self.backbone, self.evaluator = backbone, evaluator
        self.lr, self.weight_decay = lr, weight_decay
        self.test_names = list(eval_names or [])
        self.results: dict[str, tuple] = {}  # eval name -> (rows, values), filled on every rank
        self.curve: list[dict] = []  # validation NDCG@10 (etc.) against wall-clock seconds
        self._t0 = time.perf_counter()
        self._test_evaluators: dict[int, RankingEvaluator] = {}

    # -- training ---------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        loss = self.backbone.loss(batch)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=batch["seq"].shape[0])
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.backbone.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    # -- evaluation -------------------------------------------------------------------------
    def _gather_fn(self):
        return self.all_gather if self.trainer.world_size > 1 else None

    def on_validation_epoch_start(self):
        self.evaluator.reset()

    def validation_step(self, batch, batch_idx):
        self.evaluator.update(self.evaluator.topk_items(self.backbone, batch), batch)

    def on_validation_epoch_end(self):
        rows, vals = self.evaluator.gather(self._gather_fn())
        means = vals.mean(0) if len(vals) else vals.sum(0)
        logged = {f"val/{n}": float(v) for n, v in zip(self.evaluator.names, means)}
        for k, v in logged.items():
            self.log(k, v, prog_bar=k == "val/ndcg@10", sync_dist=False, rank_zero_only=False)
        self.results["valid"] = (rows, vals)
        if not self.trainer.sanity_checking and self.trainer.state.fn == "fit":
            self.curve.append({"epoch": self.current_epoch, "step": self.global_step,
                               "seconds": round(time.perf_counter() - self._t0, 2), **logged})

    def on_test_epoch_start(self):
        self._test_evaluators = {}

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        ev = self._test_evaluators.setdefault(dataloader_idx, self.evaluator.clone())
        ev.update(ev.topk_items(self.backbone, batch), batch)

    def on_test_epoch_end(self):
        for idx, name in enumerate(self.test_names):
            ev = self._test_evaluators.get(idx)
            if ev is None:
                ev = self.evaluator.clone()
            self.results[name] = ev.gather(self._gather_fn())


class StrategyError(RuntimeError):
    pass


def check_strategy(cfg: DictConfig) -> None:
    """Fail at start, not mid-run, when the chosen strategy cannot run on this machine."""
    acc = cfg.strategy.accelerator
    if acc in ("gpu", "cuda") and not torch.cuda.is_available():
        raise StrategyError(
            f"strategy={cfg.strategy.name} needs a CUDA GPU, but torch {torch.__version__} sees none "
            f"(CUDA build: {torch.version.cuda is not None}). Use strategy=cpu, or strategy=ddp_cpu for "
            f"multi-process DDP on CPU, or install a CUDA build of torch on a GPU machine."
        )


def build_trainer(cfg: DictConfig, run_dir: Path, loggers: list) -> L.Trainer:
    t = cfg.trainer
    ckpt_dir = run_dir / "checkpoints"
    callbacks = [
        ModelCheckpoint(dirpath=str(ckpt_dir), filename="best", monitor=t.monitor, mode="max",
                        save_last=True, save_top_k=1),
        EarlyStopping(monitor=t.monitor, mode="max", patience=t.patience),
        TQDMProgressBar(refresh_rate=t.progress_refresh),
        ResumeState(cfg),  # config, RNG states, curve and fit seconds in every checkpoint (exact resume)
    ]
    s = cfg.strategy
    kwargs = {k: v for k, v in OmegaConf.to_container(s, resolve=True).items() if k not in ("name",)}
    return L.Trainer(
        **kwargs,
        max_epochs=t.max_epochs,
        max_time=t.get("max_time"),
        check_val_every_n_epoch=t.val_every,
        gradient_clip_val=t.get("grad_clip"),
        logger=loggers or False,
        callbacks=callbacks,
        default_root_dir=str(run_dir),
        deterministic=t.deterministic,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=t.log_every,
    )


# -- loggers --------------------------------------------------------------------------------
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
    steps = {k: v for k, v in flat.items() if not k.startswith(VAL + "/")}  # validation already has its curve
    for lg in loggers:
        for step, row in enumerate((curve or []) if log_rows else []):
            lg.log_metrics({f"curve/{k}": float(v) for k, v in row.items() if isinstance(v, int | float)}, step=step)
        lg.log_metrics(steps)
        if _is_wandb(lg):
            _wandb_extras(lg, payload, run_dir, curve, flat, best, chart or [], tables or {})


VAL = "val"  # the validation set's name in loggers: the training curve's `val/ndcg@10`, one namespace, not two


def flat_metrics(metrics: dict) -> dict[str, float]:
    """`test/ndcg@10` overall and `test/bucket/3-5/ndcg@10` per bucket (plus `.../users`), as floats. The
    `valid` set is named `val/...` as in the training curve, so a logger has one validation namespace: its
    summary holds the best checkpoint's value, its history the curve."""
    flat = {}
    for s, m in metrics.items():
        s = VAL if s == "valid" else s
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


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as fh:
                self.metrics_keys = next(csv.reader(fh), [])


class ResumableCSVLogger(CSVLogger):
    def __init__(self, *args, append: bool | str = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.append = bool(append)

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = (_AppendingWriter if self.append else ExperimentWriter)(log_dir=self.log_dir)
        return self._experiment
