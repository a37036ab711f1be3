"""Subprocess body for the cache concurrency / interruption tests.

usage: cache_worker.py write <db> <tag> <n>     # n entries in batches of 10, overlapping keys
       cache_worker.py generate <db> <n> <delay> # CachedLLM over n prompts, slow scripted backend
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from coldstart_exp.llm import CachedLLM, GenerationParams, LLMCache  # noqa: E402
from coldstart_exp.llm.backends.fake import ScriptedBackend  # noqa: E402


def answer(rendered, params):
    return "ANS:" + rendered.split("user: ")[-1]


if __name__ == "__main__":
    cmd, db = sys.argv[1], sys.argv[2]
    if cmd == "write":
        tag, n = sys.argv[3], int(sys.argv[4])
        c = LLMCache(db, timeout_s=30)
        for s in range(0, n, 10):
            c.put_many([(f"k{i}", {"i": i, "by": tag}) for i in range(s, min(s + 10, n))] +
                       [(f"{tag}-{i}", i) for i in range(s, min(s + 10, n))])
        print("ok")
    elif cmd == "generate":
        n, delay = int(sys.argv[3]), float(sys.argv[4])
        llm = CachedLLM(ScriptedBackend(answer, batch_size=10, delay_s=delay), LLMCache(db))
        llm.generate([f"p{i}" for i in range(n)], GenerationParams())
        print("done")
