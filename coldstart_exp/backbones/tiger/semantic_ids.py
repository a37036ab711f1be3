"""Semantic IDs per data set: text embeddings -> RQ-VAE codes -> + collision token, cached on disk.

Items whose RQ-VAE codes coincide get a 4th token 0, 1, 2, ... (in item order), so every item has a
unique ID. The result is saved under `<cache_dir>/tiger/<dataset>-<hash>/` (hash of the item texts
and every setting that changes the codes) and reused by later runs. Item text is
`Tables.item_texts()`, embedded by the shared `coldstart_exp.retrieval.TextEncoder` (whose
embedding cache keeps the vectors across RQ-VAE settings).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from ...retrieval import TextEncoder, cache_key
from .rqvae import fit_rqvae

log = logging.getLogger(__name__)


def add_collision_token(codes: np.ndarray) -> tuple[np.ndarray, dict]:
    """(N, L) codes -> (N, L + 1) unique IDs, and collision statistics."""
    n = len(codes)
    _, inv, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    order = np.argsort(inv, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank[order] = np.arange(n) - np.repeat(starts, counts)
    ids = np.concatenate([codes, rank[:, None]], 1)
    stats = {
        "collision_rate": round(float((counts[inv] > 1).mean()), 4),  # share of items sharing codes
        "distinct_prefixes": int(len(counts)), "max_collisions": int(counts.max()),
    }
    return ids, stats


def _plain(d) -> dict:
    from omegaconf import OmegaConf

    return {k: OmegaConf.to_container(v) if OmegaConf.is_config(v) else v for k, v in dict(d).items()}


def encode_items(texts: list[str], encoder: dict, cache_dir: str | Path, namespace: str) -> np.ndarray:
    """(N, D) L2-normalised embeddings of `texts`, through the shared encoder and its embedding cache."""
    enc = TextEncoder(encoder.get("path"), int(encoder.get("batch_size", 64)), "cpu", normalize=True,
                      cache_dir=cache_dir)
    return enc.encode_list(texts, namespace)


def build_semantic_ids(tables, cache_dir: str | Path, rqvae: dict, encoder: dict, seed: int = 0) -> tuple[np.ndarray, dict]:
    """(n_items + 1, levels + 1) semantic IDs (row 0 = padding, -1) and the tokenizer report."""
    rqvae, encoder = _plain(rqvae), _plain(encoder)
    texts = tables.item_texts()[1:]
    settings = {"rqvae": dict(rqvae), "encoder": {k: encoder.get(k) for k in ("path",)}, "seed": seed, "v": 1}
    folder = Path(cache_dir) / "tiger" / f"{tables.name}-{cache_key(settings, texts, length=12)}"
    ids_p, rep_p = folder / "semantic_ids.npy", folder / "report.json"
    if ids_p.exists() and rep_p.exists():
        report = json.loads(rep_p.read_text())
        report["cached"] = True
        log.info("TIGER: semantic IDs reused from %s", folder)
        return np.load(ids_p), report
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    emb = encode_items(texts, encoder, cache_dir, tables.name)  # cached per data set, shared by settings
    if len(emb) != len(texts):
        raise ValueError(f"{len(emb)} embeddings for {len(texts)} items of {tables.name}")
    t1 = time.perf_counter()
    codes, report = fit_rqvae(emb, seed=seed, **{k: v for k, v in rqvae.items() if k != "seed"})
    ids, stats = add_collision_token(codes)
    report.update(stats, encode_s=round(t1 - t0, 2), n_items=len(ids), dir=str(folder), cached=False)
    out = np.full((len(ids) + 1, ids.shape[1]), -1, dtype=np.int64)
    out[1:] = ids
    np.save(ids_p, out)
    rep_p.write_text(json.dumps(report, indent=1))
    log.info("TIGER tokenizer: utilisation %s, collision rate %.3f, max collisions %d, recon %.4f -> %.4f",
             report["utilisation"], stats["collision_rate"], stats["max_collisions"], report["recon_first"],
             report["recon_last"])
    return out, report
