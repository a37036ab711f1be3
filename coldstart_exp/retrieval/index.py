"""faiss indexes: exact inner product (flat) and HNSW, CPU by default; and faiss k-means.

Why a wrapper: methods want "k nearest items by id", saved next to the run
and reloaded, without caring whether faiss runs on CPU or GPU. Positions are
mapped back to caller ids (item ids), missing neighbours are -1.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

KINDS = ("flat", "hnsw")
METRICS = ("ip", "l2")


def _faiss():
    import faiss

    return faiss


def gpu_available() -> bool:
    """True when faiss-gpu is installed and sees a GPU."""
    try:
        f = _faiss()
        return hasattr(f, "StandardGpuResources") and f.get_num_gpus() > 0
    except Exception:  # pragma: no cover
        return False


class FaissIndex:
    def __init__(self, index: Any, kind: str, metric: str, dim: int, ids: np.ndarray | None = None,
                 device: str = "cpu", params: dict | None = None) -> None:
        self.index, self.kind, self.metric, self.dim = index, kind, metric, int(dim)
        self.ids = None if ids is None else np.asarray(ids, dtype=np.int64)
        self.device = device
        self.params = dict(params or {})

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def set_ef_search(self, ef: int) -> None:
        """HNSW query beam: higher = better recall, slower."""
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = int(ef)
            self.params["ef_search"] = int(ef)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) each (n, k); ids are caller ids, -1 where fewer than k exist."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if q.shape[1] != self.dim:
            raise ValueError(f"query dim {q.shape[1]} != index dim {self.dim}")
        if q.shape[0] == 0 or self.ntotal == 0:
            return np.zeros((q.shape[0], k), np.float32), np.full((q.shape[0], k), -1, np.int64)
        scores, pos = self.index.search(q, int(k))
        if self.ids is not None:
            pos = np.where(pos >= 0, self.ids[np.clip(pos, 0, None)], -1)
        return scores, pos

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``index.faiss`` + ``meta.json`` (+ ``ids.npy``) into a folder."""
        f = _faiss()
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        cpu = f.index_gpu_to_cpu(self.index) if self.device == "gpu" else self.index
        f.write_index(cpu, str(p / "index.faiss"))
        if self.ids is not None:
            np.save(p / "ids.npy", self.ids)
        (p / "meta.json").write_text(json.dumps({"kind": self.kind, "metric": self.metric, "dim": self.dim,
                                                 "params": self.params, "ntotal": self.ntotal}))
        return p

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> FaissIndex:
        f = _faiss()
        p = Path(path)
        meta = json.loads((p / "meta.json").read_text())
        idx = f.read_index(str(p / "index.faiss"))
        ids = np.load(p / "ids.npy") if (p / "ids.npy").exists() else None
        out = cls(idx, meta["kind"], meta["metric"], meta["dim"], ids, "cpu", meta.get("params"))
        if meta["kind"] == "hnsw" and "ef_search" in out.params:
            out.set_ef_search(out.params["ef_search"])
        return _maybe_gpu(out, device)


def _maybe_gpu(fi: FaissIndex, device: str) -> FaissIndex:
    if device not in ("gpu", "cuda"):
        return fi
    if not gpu_available():
        log.warning("faiss GPU requested but faiss-gpu/GPU not available; using CPU")
        return fi
    if fi.kind != "flat":
        log.warning("faiss HNSW has no GPU implementation; keeping it on CPU")
        return fi
    f = _faiss()
    fi._gpu_res = f.StandardGpuResources()  # keep alive as long as the index
    fi.index = f.index_cpu_to_gpu(fi._gpu_res, 0, fi.index)
    fi.device = "gpu"
    return fi


def build_index(vectors: np.ndarray, kind: str = "flat", metric: str = "ip", ids: np.ndarray | None = None,
                hnsw_m: int = 32, ef_construction: int = 40, ef_search: int = 64, device: str = "cpu",
                cfg: Any = None) -> FaissIndex:
    """Build a flat (exact) or HNSW index over ``vectors``; ``cfg`` (a mapping with kind, metric,
    hnsw_m, ef_construction, ef_search, device) overrides the knobs."""
    if cfg is not None:
        g = cfg.get
        kind, hnsw_m = g("kind", kind), int(g("hnsw_m", hnsw_m))
        ef_construction, ef_search = int(g("ef_construction", ef_construction)), int(g("ef_search", ef_search))
        metric, device = g("metric", metric), g("device", device)
    if kind not in KINDS:
        raise ValueError(f"index kind must be one of {KINDS}, got {kind!r}")
    if metric not in METRICS:
        raise ValueError(f"index metric must be one of {METRICS}, got {metric!r}")
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"build_index needs a non-empty (n, d) array, got shape {x.shape}")
    if ids is not None and len(ids) != len(x):
        raise ValueError("ids and vectors differ in length")
    f = _faiss()
    d = x.shape[1]
    fm = f.METRIC_INNER_PRODUCT if metric == "ip" else f.METRIC_L2
    params: dict = {}
    if kind == "flat":
        idx = f.IndexFlatIP(d) if metric == "ip" else f.IndexFlatL2(d)
    else:
        idx = f.IndexHNSWFlat(d, int(hnsw_m), fm)
        idx.hnsw.efConstruction = int(ef_construction)
        idx.hnsw.efSearch = int(ef_search)
        params = {"hnsw_m": int(hnsw_m), "ef_construction": int(ef_construction), "ef_search": int(ef_search)}
    idx.add(x)
    return _maybe_gpu(FaissIndex(idx, kind, metric, d, ids, "cpu", params), device)


def kmeans(x: np.ndarray, k: int, seed: int = 0, niter: int = 25, spherical: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(labels (n,), centroids (k, d)) of faiss k-means on ``x``, seeded; ``spherical`` keeps the
    centroids on the unit sphere (for L2-normalised inputs)."""
    f = _faiss()
    x = np.ascontiguousarray(x, dtype=np.float32)
    km = f.Kmeans(x.shape[1], int(k), niter=int(niter), seed=int(seed), spherical=spherical, verbose=False,
                  min_points_per_centroid=1, max_points_per_centroid=100000)
    km.train(x)
    _, labels = km.index.search(x, 1)
    return labels[:, 0].astype(np.int64), np.asarray(km.centroids, dtype=np.float32)
