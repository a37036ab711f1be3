"""Generator training on warm-item episodes, with model selection on the validation cold items."""

from __future__ import annotations

import copy
import logging
import time

import numpy as np
import torch

from .features import Episodes, warm_episodes
from .model import NextUserModel

log = logging.getLogger(__name__)


def batches(ep: Episodes, batch_size: int, rng: np.random.Generator, by_length: bool = False):
    """Shuffled batches of items; `by_length` groups items of similar length (less padding, faster
    when most items have few users, but batches of short items have fewer in-batch negatives)."""
    if by_length:
        order = np.lexsort((rng.random(len(ep.items)), ep.lengths))
        chunks = [order[s: s + batch_size] for s in range(0, len(order), batch_size)]
        chunks = [chunks[c] for c in rng.permutation(len(chunks))]
    else:
        order = rng.permutation(len(ep.items))
        chunks = [order[s: s + batch_size] for s in range(0, len(order), batch_size)]
    for idx in chunks:
        L = max(1, int(ep.lengths[idx].max()))
        yield {
            "items": torch.as_tensor(ep.items[idx]), "users": torch.as_tensor(ep.users[idx, :L]),
            "lengths": torch.as_tensor(ep.lengths[idx]), "positive": torch.as_tensor(ep.positive[idx, :L]),
            "exposed": torch.as_tensor(ep.exposed[idx]),
        }


class _BestEpoch:
    """Early stopping: keeps the best-scoring state and counts validations without improvement."""

    def __init__(self, patience):
        self.patience, self.best, self.state, self.epoch, self.bad = int(patience or 0), -np.inf, None, 0, 0

    def update(self, model, score: float, epoch: int) -> float:
        if score > self.best:
            self.best, self.state, self.epoch, self.bad = score, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            self.bad += 1
        return score

    @property
    def stop(self) -> bool:
        return bool(self.patience) and self.bad >= self.patience

    def restore(self, model) -> bool:
        """Load the best state (if any validation ran); True when it did."""
        if self.state is not None:
            model.load_state_dict(self.state)
        return self.state is not None


def _train_epoch(model: NextUserModel, ep: Episodes, m, n_users: int, rng, gen_t, opt) -> dict[str, float]:
    """One pass over the episodes; returns the mean of each loss part."""
    model.train()
    sums: dict[str, float] = {}
    nb = 0
    for b in batches(ep, int(m.batch_size), rng, bool(m.get("bucket_by_length", False))):
        parts = model.loss(b, m, n_users, gen_t)
        opt.zero_grad()
        parts["total"].backward()
        if m.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), m.grad_clip)
        opt.step()
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        nb += 1
    return {k: v / max(nb, 1) for k, v in sums.items()}


def train_generator(model: NextUserModel, train_df, cfg, n_users: int, seed: int, validate=None,
                    validate_content=None) -> dict:
    """Adam over generator + tower (tower at `lr * tower_lr_scale`); `validate(model) -> float`
    (higher is better) picks the best epoch, `validate_content` the best content warm-up epoch.
    Returns per-epoch loss means and the selection facts.
    Outside Lightning on purpose: two phases (content warm-up, generator) each selected by its own
    exact-search validation (n = 0, then the selection n) over resampled episodes; the curve, the best
    state and the loggers are handled by experiment.finish like any other run."""
    m = cfg
    rng = np.random.default_rng(seed)
    gen_t = torch.Generator().manual_seed(seed)
    exposed_max = m.exposed_max_rating if m.exposed_negatives == "ratings" else None
    pos_min = m.positive_min_rating if m.exposed_negatives == "ratings" else None
    make = lambda: warm_episodes(train_df, int(m.max_users), pos_min, exposed_max, int(m.max_exposed),  # noqa: E731
                                 str(m.window), rng)
    ep = make()
    groups = [{"params": [p for n, p in model.named_parameters() if not n.startswith("tower.")], "lr": m.lr}]
    scale = m.tower_lr_scale
    if m.scorer == "content_only" and m.get("content_only_tower_lr_scale") is not None:
        scale = m.content_only_tower_lr_scale
    if scale > 0:
        groups.append({"params": list(model.tower.parameters()), "lr": m.lr * scale})
    else:
        model.tower.requires_grad_(False)
    opt = torch.optim.AdamW(groups, weight_decay=m.weight_decay)
    curve, sel = [], _BestEpoch(m.patience)
    t0 = time.perf_counter()
    warm = int(m.get("content_warmup", 0)) if not model.content_only else 0
    warm_facts = {}
    if warm:  # design choice: first learn item -> audience from the prefix alone (the content-only task),
        # stopped by `validate_content` (the n = 0 validation) with the same patience; its best state is kept
        model.content_only = True
        warm_sel = _BestEpoch(m.patience)
        for epoch in range(warm):
            if m.window == "random" and epoch:
                ep = make()
            row = {"epoch": epoch - warm, **_train_epoch(model, ep, m, n_users, rng, gen_t, opt)}
            if validate_content is not None:
                row["val_content"] = warm_sel.update(model, validate_content(model), epoch)
            curve.append(row | {"seconds": round(time.perf_counter() - t0, 2)})
            log.info("content warm-up epoch %d %s", epoch, {k: round(v, 4) for k, v in row.items() if k != "epoch"})
            if warm_sel.stop:
                break
        if warm_sel.restore(model):
            warm_facts = {"warmup_best_epoch": warm_sel.epoch, "warmup_best_val": round(float(warm_sel.best), 5)}
        model.content_only = False
    for epoch in range(int(m.epochs)):
        if m.window == "random" and epoch:
            ep = make()
        row = {"epoch": epoch, **_train_epoch(model, ep, m, n_users, rng, gen_t, opt)}
        if validate is not None and ((epoch + 1) % int(m.val_every) == 0 or epoch == int(m.epochs) - 1):
            row["val"] = sel.update(model, validate(model), epoch)
        curve.append(row | {"seconds": round(time.perf_counter() - t0, 2)})
        log.info("epoch %d %s", epoch, {k: round(v, 4) for k, v in row.items() if k != "epoch"})
        if sel.stop:
            break
    sel.restore(model)
    return {"curve": curve, "best_epoch": sel.epoch, "best_val": None if sel.state is None else round(float(sel.best), 5),
            "train_s": round(time.perf_counter() - t0, 2), "episodes": len(ep.items),
            "exposed_items": int((ep.exposed >= 0).any(1).sum()), **warm_facts}
