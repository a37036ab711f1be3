import numpy as np
import pytest

from coldstart_exp.retrieval import TextEncoder, embedded_minilm


class CountingModel:
    """Stands in for SentenceTransformer: deterministic vectors, counts calls."""

    def __init__(self):
        self.calls = 0

    def encode(self, texts, batch_size, convert_to_numpy, normalize_embeddings, show_progress_bar):
        self.calls += 1
        v = np.array([[len(t), t.count("a") + 1.0, 1.0] for t in texts], dtype=np.float64)
        return v / np.linalg.norm(v, axis=1, keepdims=True) if normalize_embeddings else v


def test_embedded_path_exists():
    assert (embedded_minilm() / "modules.json").exists()


def test_encode_cached_per_dataset(tmp_path):
    m = CountingModel()
    enc = TextEncoder(model=m)
    texts = ["a film", "another film", "banana"]
    e1 = enc.encode_cached(texts, tmp_path, "ml-100k")
    e2 = TextEncoder(model=m).encode_cached(texts, tmp_path, "ml-100k")
    np.testing.assert_array_equal(e1, e2)
    assert m.calls == 1 and e1.dtype == np.float32
    enc.encode_cached(texts + ["new"], tmp_path, "ml-100k")  # different texts -> new entry
    enc.encode_cached(texts, tmp_path, "other-dataset")
    assert m.calls == 3 and len(list((tmp_path / "ml-100k").glob("*.npy"))) == 2


def test_encode_empty():
    assert TextEncoder(model=CountingModel()).encode([]).shape[0] == 0


def test_from_cfg():
    from omegaconf import OmegaConf
    enc = TextEncoder.from_cfg(OmegaConf.create({"path": None, "batch_size": 8, "device": "cpu", "normalize": False}))
    assert enc.batch_size == 8 and enc.normalize is False and enc.path == embedded_minilm()


@pytest.mark.slow
def test_real_minilm_semantics(minilm):
    e = minilm.encode(["A space opera with starships and laser battles.",
                       "Science fiction adventure among the stars.",
                       "A tender romantic comedy set in Paris."])
    assert e.shape == (3, 384) and np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    assert e[0] @ e[1] > e[0] @ e[2]
