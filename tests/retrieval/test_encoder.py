import numpy as np
import pytest
from omegaconf import OmegaConf

from coldstart_exp.retrieval import HashEncoder, TextEncoder, build_encoder, embedded_minilm


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


def test_encode_list_cached_per_namespace(tmp_path):
    m = CountingModel()
    enc = TextEncoder(model=m, cache_dir=tmp_path)
    texts = ["a film", "another film", "banana"]
    e1 = enc.encode_list(texts, "ml-100k")
    e2 = TextEncoder(model=m, cache_dir=tmp_path).encode_list(texts, "ml-100k")
    np.testing.assert_array_equal(e1, e2)
    assert m.calls == 1 and e1.dtype == np.float32
    enc.encode_list(texts + ["new"], "ml-100k")  # different texts -> new entry
    enc.encode_list(texts, "other-dataset")
    assert m.calls == 3 and len(list((tmp_path / "embeddings" / "ml-100k").glob("*.npy"))) == 2


def test_encode_each_text_once_in_key_order(tmp_path):
    """Per-text cache: a text is encoded once (even across encoders sharing the folder), and the
    texts missing from the cache are encoded together in key order, whatever the caller's order."""
    m = CountingModel()
    seen = []
    enc = TextEncoder(model=m, cache_dir=tmp_path)
    orig = enc.encode_raw
    enc.encode_raw = lambda texts, progress=False: seen.append(list(texts)) or orig(texts, progress)
    e = enc.encode(["banana", "a film", "banana", "kiwi"])
    assert m.calls == 1 and e.shape == (4, 3) and np.array_equal(e[0], e[2])
    assert seen[0] == sorted(set(seen[0]), key=enc._key) and len(seen[0]) == 3
    again = TextEncoder(model=m, cache_dir=tmp_path).encode(["kiwi", "a film"])
    assert m.calls == 1 and np.array_equal(again, e[[3, 1]])
    TextEncoder(model=m).encode(["kiwi"])  # no cache_dir: memory only, encodes
    assert m.calls == 2


def test_encode_empty():
    enc = TextEncoder(model=CountingModel())
    assert enc.encode([]).shape == (0, 3) and enc.encode_raw([]).shape[0] == 0


def test_build_encoder_kinds(tmp_path):
    assert isinstance(build_encoder("hash"), HashEncoder)
    enc = build_encoder("minilm", OmegaConf.create({"batch_size": 16}), tmp_path)
    assert enc.batch_size == 16 and enc.root == tmp_path / "embeddings" and enc.name == "st:model"
    with pytest.raises(ValueError, match="minilm | hash"):
        build_encoder("bert")


def test_hash_encoder_bag_of_words():
    e = HashEncoder(dim=32).encode(["Red apple", "apple red!", "pear"])
    assert np.allclose(e[0], e[1]) and np.allclose(np.linalg.norm(e, axis=1), 1.0) and e[0] @ e[2] < 1.0
    raw = HashEncoder(dim=32, normalize=False).encode(["apple apple pear"])
    assert sorted(raw[raw > 0].tolist()) == [1.0, 2.0]


def test_from_cfg():
    enc = TextEncoder.from_cfg(OmegaConf.create({"path": None, "batch_size": 8, "device": "cpu", "normalize": False}))
    assert enc.batch_size == 8 and enc.normalize is False and enc.path == embedded_minilm()


@pytest.mark.slow
def test_real_minilm_semantics(minilm):
    e = minilm.encode(["A space opera with starships and laser battles.",
                       "Science fiction adventure among the stars.",
                       "A tender romantic comedy set in Paris."])
    assert e.shape == (3, 384) and np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    assert e[0] @ e[1] > e[0] @ e[2]
