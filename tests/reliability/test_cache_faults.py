"""Caches that heal: a damaged data-cache entry or LLM cache is named, set aside and rebuilt; temp folders
of killed cache builds are removed."""

from __future__ import annotations

import logging

from coldstart_exp.data.loading import load_tables
from coldstart_exp.llm.cache import LLMCache
from tests.conftest import compose


def _cfg(tmp_path):
    (tmp_path / "i.csv").write_text("user_id,item_id,timestamp\n" + "".join(f"u{u},i{i},{i}\n" for u in range(3)
                                                                            for i in range(4)))
    return compose(["data=csv", f"data.source.dir={tmp_path}", "data.source.interactions=i.csv", "data.cache=true"],
                   tmp_path).data


def test_truncated_parquet_cache_is_set_aside_and_rebuilt(tmp_path, caplog):
    cfg, cache = _cfg(tmp_path), tmp_path / "cache"
    first = load_tables(cfg, cache)
    (entry,) = (cache / "tables").iterdir()
    pq = entry / "interactions.parquet"
    pq.write_bytes(pq.read_bytes()[:40])
    with caplog.at_level(logging.WARNING):
        again = load_tables(cfg, cache)
    assert f"data cache {entry} is damaged" in caplog.text
    assert len(again.interactions) == len(first.interactions) == 12 and "loaded_from_cache" not in again.report
    assert any(p.name.startswith(entry.name + ".corrupt-") for p in (cache / "tables").iterdir())
    assert "loaded_from_cache" in load_tables(cfg, cache).report  # the rebuilt entry is used next time


def test_temp_folder_of_a_killed_build_is_removed(tmp_path):
    cfg, cache = _cfg(tmp_path), tmp_path / "cache"
    load_tables(cfg, cache)
    (entry,) = (cache / "tables").iterdir()
    stale = entry.with_name(entry.name + ".tmp999999999")  # no such process
    stale.mkdir()
    load_tables(cfg, cache)
    assert not stale.exists()


def test_corrupt_llm_cache_is_named_set_aside_and_replaced(tmp_path, caplog):
    path = tmp_path / "llm_cache.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING):
        cache = LLMCache(path)
    assert f"LLM cache {path} is damaged" in caplog.text
    assert list(tmp_path.glob("llm_cache.sqlite.corrupt-*"))
    cache.put("k", {"v": 1})  # the fresh cache works
    assert cache.get("k") == {"v": 1} and len(cache) == 1
