"""`cache_key`: one hashing rule for every cache; the LLM cache's keys did not change with it."""

import hashlib
import json

from coldstart_exp.llm.cache import make_key
from coldstart_exp.retrieval import cache_key


def test_llm_keys_are_the_ones_warm_caches_hold():
    # the value the LLM cache computed before `cache_key` existed (sha256 of the JSON parts)
    assert make_key("gen", "smollm2", "abc123", "tmpl@1:deadbeef", "rendered prompt ü", {"seed": 0, "t": 0.0}) == \
        "2d3c7ea918cbf41ea9e3a7f5d0f9792b455c24e71212b31c55d18c0baf330b4a"


def test_parts_one_as_itself_several_as_a_list():
    assert cache_key({"b": 1, "a": [1, 2]}) == hashlib.sha256(b'{"a": [1, 2], "b": 1}').hexdigest()
    assert cache_key("x", 1, algo="sha1", length=12) == hashlib.sha1(json.dumps(["x", 1]).encode()).hexdigest()[:12]
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})  # dict order does not matter
    assert cache_key("x", 1) != cache_key(["x", 1], "")


def test_raw_text_and_files(tmp_path):
    assert cache_key("st:model", "a text", algo="sha1", sep="\x00") == hashlib.sha1(b"st:model\x00a text").hexdigest()
    f = tmp_path / "data.csv"
    f.write_text("1,2\n")
    k1 = cache_key("cfg", length=16, files=[f])
    f.write_text("1,3\n")
    assert len(k1) == 16 and cache_key("cfg", length=16, files=[f]) != k1
