import logging

import numpy as np
import pytest

from coldstart_exp.retrieval import FaissIndex, build_index


def brute(x, q, k):
    s = q @ x.T
    return np.argsort(-s, axis=1)[:, :k]


def test_flat_is_exact_and_maps_ids(clustered):
    x, q = clustered[:1500], clustered[1500:1520]
    ids = np.arange(1500) * 10 + 7
    fi = build_index(x, "flat", ids=ids)
    scores, got = fi.search(q, 5)
    np.testing.assert_array_equal(got, ids[brute(x, q, 5)])
    np.testing.assert_allclose(scores[:, 0], (q * x[brute(x, q, 1)[:, 0]]).sum(1), rtol=1e-5)


def test_hnsw_recall_vs_exact(clustered):
    x, q = clustered[:1800], clustered[1800:]
    exact = build_index(x, "flat").search(q, 10)[1]
    hn = build_index(x, "hnsw", hnsw_m=16, ef_construction=40, ef_search=64)
    approx = hn.search(q, 10)[1]
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall > 0.9
    hn.set_ef_search(1)
    low = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(hn.search(q, 10)[1], exact)])
    assert low <= recall  # ef_search really is applied


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_save_load_roundtrip(clustered, tmp_path, kind):
    x, q = clustered[:500], clustered[500:510]
    fi = build_index(x, kind, ids=np.arange(500) + 100, ef_search=32)
    fi.save(tmp_path / "idx")
    back = FaissIndex.load(tmp_path / "idx")
    assert back.kind == kind and back.ntotal == 500 and back.dim == 64
    np.testing.assert_array_equal(back.search(q, 7)[1], fi.search(q, 7)[1])
    if kind == "hnsw":
        assert back.index.hnsw.efSearch == 32


def test_more_neighbours_than_items_gives_minus_one(clustered):
    fi = build_index(clustered[:3], "flat", ids=np.array([5, 6, 7]))
    _, ids = fi.search(clustered[:1], 5)
    assert set(ids[0, :3]) == {5, 6, 7} and (ids[0, 3:] == -1).all()


def test_gpu_request_falls_back_to_cpu(clustered, caplog):
    with caplog.at_level(logging.WARNING):
        fi = build_index(clustered[:100], "flat", device="gpu")
    assert fi.device == "cpu" and "GPU" in caplog.text
    assert fi.search(clustered[:2], 1)[1].shape == (2, 1)


def test_bad_inputs(clustered):
    with pytest.raises(ValueError):
        build_index(np.zeros((0, 4)), "flat")
    with pytest.raises(ValueError):
        build_index(clustered, "ivf")
    fi = build_index(clustered[:10], "flat")
    with pytest.raises(ValueError, match="dim"):
        fi.search(np.zeros((1, 3)), 1)


def test_cfg_overrides():
    from omegaconf import OmegaConf
    x = np.random.default_rng(1).normal(size=(50, 8)).astype(np.float32)
    fi = build_index(x, cfg=OmegaConf.create({"kind": "hnsw", "hnsw_m": 8, "ef_search": 20}))
    assert fi.kind == "hnsw" and fi.params["hnsw_m"] == 8 and fi.index.hnsw.efSearch == 20


def test_kmeans_is_seeded_and_spherical(clustered):
    from coldstart_exp.retrieval import kmeans

    a_lab, a_cent = kmeans(clustered, 20, seed=3, spherical=True)
    b_lab, b_cent = kmeans(clustered, 20, seed=3, spherical=True)
    assert np.array_equal(a_lab, b_lab) and np.array_equal(a_cent, b_cent)
    assert a_lab.shape == (len(clustered),) and set(a_lab.tolist()) <= set(range(20))
    assert np.allclose(np.linalg.norm(a_cent, axis=1), 1.0, atol=1e-4)
