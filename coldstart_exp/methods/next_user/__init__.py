"""method=next_user: Next-User Retrieval for cold-start items (arXiv 2506.15267), our reimplementation.

Pipeline: pre-train a user tower on warm interactions -> train a generator that reads an item's
feature prefix and its first users and emits the embedding of the *next* user -> put the cold items'
embeddings (after n seed users) into a faiss HNSW index -> each user's tower embedding retrieves
its top-K cold items. `method.scorer` picks the generator or a baseline (content_only, lookalike,
popularity); `ablation=next_user/<name>` picks a named set of switches (conf/ablation/next_user).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ...eval.evaluator import hits_matrix, ranking_metrics
from ...experiment import finish, prepare
from ...retrieval import cache_key
from .evaluate import evaluate_set
from .features import category_matrix, item_text_embeddings, seed_users
from .generator import NextUserGenerator
from .model import NextUserModel
from .scorers import GeneratorScorer, LookalikeScorer, PopularityScorer
from .towers import UserTower, pretrain_user_tower
from .train import train_generator

log = logging.getLogger(__name__)
TOWER_KNOBS = ("dim", "use_profile", "dropout", "tower_epochs", "tower_lr", "tower_batch_size", "temperature")
SCORERS = ("next_user", "content_only", "lookalike", "popularity")


def check_method(cfg: DictConfig, split) -> None:
    if cfg.method.scorer not in SCORERS:
        raise ValueError(f"method.scorer={cfg.method.scorer!r}; known: {SCORERS}")
    if split.kind != "cold_item":
        raise ValueError(f"method=next_user needs split=cold_item, got split={split.kind}")


def build_model(cfg: DictConfig, tables, tower: UserTower, cache_dir: str) -> NextUserModel:
    m = cfg.method
    cats, n_cat = category_matrix(tables, int(m.max_categories))
    text = item_text_embeddings(tables, m.text_encoder, cache_dir) if m.use_text else np.zeros((tables.n_items + 1, 0), np.float32)
    gen = NextUserGenerator(n_cat, text.shape[1], int(m.dim), int(m.d_model), int(m.layers), int(m.heads),
                            float(m.dropout), int(m.max_users), int(m.max_categories), bool(m.use_prefix),
                            bool(m.use_text), bool(m.use_categories), str(m.encoder), int(m.n_hash),
                            bool(m.seed_skip) and m.scorer != "content_only",  # content-only reads no seeds
                            bool(m.content_skip) and m.scorer != "content_only")
    return NextUserModel(tower, gen, cats, text, content_only=m.scorer == "content_only")


def validation_score(model: NextUserModel, split, n: int, metric_k: int = 20) -> float:
    """Mean per-user NDCG@k on the validation cold items (exact scoring): model selection only."""
    return ranking_ndcg(model.item_vectors, model.tower.all_users(), split.valid, split.held_out, n, metric_k)


def ranking_ndcg(vectors, user_vecs: torch.Tensor, es, held_out, n: int, metric_k: int = 20) -> float:
    """Mean per-user NDCG@k of ranking `es`'s candidate items, embedded by `vectors(items, seeds,
    counts)` after their first n users, against `user_vecs` (exact inner product)."""
    items = np.asarray(es.candidates)
    seeds, counts = seed_users(held_out, items, n)
    V = vectors(items, seeds, counts)
    U = user_vecs[torch.as_tensor(np.array(es.users))]
    s = U @ V.T
    col = {int(i): c for c, i in enumerate(items)}
    for r, sn in enumerate(es.masked()):
        idx = [col[int(i)] for i in sn if int(i) in col]
        if idx:
            s[r, idx] = float("-inf")
    top = torch.as_tensor(items)[s.topk(min(metric_k, len(items)), 1).indices]
    if not len(es.targets):
        return 0.0
    targets = torch.full((len(es.targets), max(len(t) for t in es.targets)), -1, dtype=torch.long)
    for r, t in enumerate(es.targets):
        targets[r, : len(t)] = torch.as_tensor(np.asarray(t, dtype=np.int64))
    k = top.shape[1]  # float64, as model selection always compared it
    ndcg = ranking_metrics(hits_matrix(top, targets), (targets >= 0).sum(1), [k], ("ndcg",), torch.float64)
    return float(np.mean(ndcg[f"ndcg@{k}"].numpy()))


def cached_tower(cfg: DictConfig, tower: UserTower, split, tables) -> dict:
    """Pre-train the user tower, or load it: every variant of one (data, split, seed) shares it,
    so an ablation grid trains it once per seed (same result as training it again)."""
    m = cfg.method
    key = cache_key([tables.name, _knobs(cfg.split), cfg.seed, len(split.train),
                     int(split.train.item.sum()), [m[k] for k in TOWER_KNOBS]], algo="sha1", length=16)
    path = Path(cfg.paths.cache_dir) / "next_user" / f"tower-{key}.pt"
    if m.cache_tower and path.exists():
        blob = torch.load(path, weights_only=True)  # tensors and plain facts only: no pickled code runs
        tower.load_state_dict(blob["state"])
        torch.set_rng_state(blob["rng"])
        return {**blob["facts"], "loaded_from_cache": str(path)}
    facts = pretrain_user_tower(tower, split.train, tables.n_items, int(m.dim), int(m.tower_epochs), float(m.tower_lr),
                                int(m.tower_batch_size), float(m.temperature), cfg.seed)
    if m.cache_tower:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state": tower.state_dict(), "rng": torch.get_rng_state(), "facts": facts}, path)
    return facts


def _knobs(node) -> dict:
    return {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k != "_target_"}


def run(cfg: DictConfig) -> dict:
    ctx = prepare(cfg)
    check_method(cfg, ctx.split)
    m, tables, split = cfg.method, ctx.tables, ctx.split
    curve = None
    t0 = time.perf_counter()
    codes, cards = tables.profile_codes()
    tower = UserTower(tables.n_users, cards, int(m.dim), bool(m.use_profile), float(m.dropout))
    tower.set_profiles(codes)
    ctx.extra["user_tower"] = cached_tower(cfg, tower, split, tables)
    t1 = time.perf_counter()
    if m.scorer in ("next_user", "content_only"):
        model = build_model(cfg, tables, tower, cfg.paths.cache_dir)
        vn = int(cfg.split.valid_n_support)
        es0 = split.valid_by_n.get(0, split.valid)  # the content warm-up is judged without seeds
        fit = train_generator(model, split.train, m, tables.n_users, cfg.seed,
                              validate=lambda mdl: validation_score(mdl, split, vn),
                              validate_content=lambda mdl: ranking_ndcg(mdl.item_vectors, mdl.tower.all_users(), es0,
                                                                        split.held_out, 0))
        ctx.extra["generator"] = {k: v for k, v in fit.items() if k != "curve"}
        ctx.extra["loss_curve"] = {"first": fit["curve"][0], "last": fit["curve"][-1]} if fit["curve"] else {}
        curve = fit["curve"]
        (ctx.run_dir / "checkpoints").mkdir(exist_ok=True)
        torch.save(model.state_dict(), ctx.run_dir / "checkpoints" / "best.pt")  # the selected (best-validation) state
        scorer = GeneratorScorer(model)
    elif m.scorer == "lookalike":
        scorer = LookalikeScorer(tower.all_users(), cfg.seed)
    else:
        scorer = PopularityScorer(split.train, tables.n_users, cfg.seed)
    t2 = time.perf_counter()
    user_vecs = tower.all_users()
    if m.scorer != "popularity":  # design-choice yardstick: validation NDCG@20 at every n, not only the selection n
        ctx.extra["result_valid_ndcg20_by_n"] = {
            str(n): round(ranking_ndcg(scorer.vectors, user_vecs, es, split.held_out, n), 5)
            for n, es in split.valid_by_n.items()}
        log.info("validation NDCG@20 by n: %s", ctx.extra["result_valid_ndcg20_by_n"])
    evaluator = ctx.evaluator
    sets = {"valid": (split.valid, int(cfg.split.valid_n_support))}
    sets.update({name: (es, int(name.split("=")[1])) for name, es in split.tests.items()})
    tables_by_set, by_n = {}, {}
    for name, (es, n) in sets.items():
        tables_by_set[name], facts = evaluate_set(es, split.held_out, n, scorer, user_vecs, evaluator, m.index)
        by_n[name] = facts
        log.info("%s: %s", name, facts)
    t3 = time.perf_counter()
    ctx.timings.update(tower_s=round(t1 - t0, 2), generator_s=round(t2 - t1, 2), eval_s=round(t3 - t2, 2))
    ctx.extra["next_user"] = by_n
    ctx.extra["switches"] = {k: OmegaConf.to_container(m, resolve=True)[k] for k in (
        "scorer", "ablation", "use_prefix", "encoder", "use_text", "use_categories", "use_profile")} | {
        "loss": OmegaConf.to_container(m.loss)}
    print("next-user Recall@20/50 per cold item, HNSW agreement with exact search (recall@50):")
    for name, f in by_n.items():
        print(f"  [{name}] items={f['next_user_items']}  next_user_recall@20={f['next_user_recall@20']}  "
              f"next_user_recall@50={f['next_user_recall@50']}  hnsw_vs_exact@50={f.get('hnsw_recall@50_vs_exact', 'n/a')}")
    return finish(ctx, tables_by_set, curve=curve, curve_logged=False)
