#!/usr/bin/env python
"""Benchmark the LLM layer (``make bench``): prints and writes outputs/bench/llm.json.

Measures: generate tokens/s at batch 1/8/32 with the embedded SmolLM2; label
scoring options/s vs generating the same choice; cached re-run time; encoder
sentences/s; HNSW recall@50 vs exact search and queries/s on 200k vectors.
``--quick`` shrinks every workload (for CI / shared machines).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from coldstart_exp.llm import CachedLLM, GenerationParams, LLMCache, normalize_logprobs, parse_choice  # noqa: E402
from coldstart_exp.llm.factory import build_backend  # noqa: E402

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Animation"]
MOVIES = ["Star Wars (1977)", "Toy Story (1995)", "Scream (1996)", "Titanic (1997)", "Fargo (1996)",
          "Alien (1979)", "Emma (1996)", "Airplane! (1980)", "Heat (1995)", "Babe (1995)", "Jaws (1975)"]


def prompts(n: int, seed: int = 0) -> list[list[dict]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        liked = ", ".join(rng.choice(MOVIES, 3, replace=False))
        out.append([{"role": "user", "content": f"User {i} liked {liked}. Which genre will they enjoy most? "
                                                f"Answer with one of: {', '.join(GENRES)}."}])
    return out


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench_generate(b, quick: bool) -> dict:
    res = {}
    new = 16 if quick else 32
    for bs in (1, 8, 32):
        b.batch_size = bs
        ps = prompts(bs, seed=bs)
        p = GenerationParams(max_new_tokens=new, repetition_penalty=1.2)
        before = b.counters.tokens_generated
        _, dt = timed(lambda: b.generate(ps, p))
        ntok = b.counters.tokens_generated - before
        res[f"batch_{bs}"] = {"prompts": bs, "tokens": ntok, "seconds": round(dt, 2), "tokens_per_s": round(ntok / dt, 1)}
        print(f"generate batch {bs:>2}: {ntok} tokens in {dt:.1f}s -> {ntok / dt:.1f} tok/s", flush=True)
    return res


def bench_scoring(b, quick: bool) -> dict:
    n = 8 if quick else 32
    ps = prompts(n, seed=99)
    scored, dt_s = timed(lambda: b.score_many(ps, [GENRES] * n))
    b.batch_size = n
    gen, dt_g = timed(lambda: b.generate(ps, GenerationParams(max_new_tokens=6, repetition_penalty=1.2)))
    agree, parsed = 0, 0
    for s, g in zip(scored, gen):
        try:
            c = parse_choice(g, GENRES)
            parsed += 1
            agree += c == GENRES[int(np.argmax(normalize_logprobs(s)))]
        except ValueError:
            pass
    r = {"prompts": n, "options_per_prompt": len(GENRES), "score_seconds": round(dt_s, 2),
         "options_per_s": round(n * len(GENRES) / dt_s, 1), "score_prompts_per_s": round(n / dt_s, 2),
         "generate_seconds": round(dt_g, 2), "generate_prompts_per_s": round(n / dt_g, 2),
         "generated_parseable": parsed, "agreement_with_generation": agree}
    print(f"label scoring: {r['options_per_s']} options/s ({r['score_prompts_per_s']} prompts/s) vs "
          f"generating the choice {r['generate_prompts_per_s']} prompts/s; "
          f"{parsed}/{n} generations parseable, {agree} agree", flush=True)
    return r


def bench_cache(b, quick: bool) -> dict:
    n = 8 if quick else 16
    ps = prompts(n, seed=7)
    p = GenerationParams(max_new_tokens=16, repetition_penalty=1.2)
    with tempfile.TemporaryDirectory() as d:
        llm = CachedLLM(b, LLMCache(d))
        _, t1 = timed(lambda: llm.generate(ps, p))
        _, t2 = timed(lambda: llm.generate(ps, p))
    r = {"prompts": n, "first_s": round(t1, 3), "cached_s": round(t2, 4), "speedup": round(t1 / max(t2, 1e-9), 1)}
    print(f"cache: first {t1:.2f}s, cached re-run {t2 * 1000:.1f} ms ({r['speedup']}x)", flush=True)
    return r


def bench_encoder(quick: bool) -> dict:
    from coldstart_exp.retrieval import TextEncoder

    n = 256 if quick else 1682
    texts = [f"{MOVIES[i % len(MOVIES)]} - a {GENRES[i % len(GENRES)].lower()} film, item {i}" for i in range(n)]
    enc = TextEncoder(batch_size=64)
    _, t_load = timed(lambda: enc.model)
    emb, dt = timed(lambda: enc.encode_raw(texts))  # the model alone, no cache
    r = {"sentences": n, "dim": int(emb.shape[1]), "load_s": round(t_load, 2), "seconds": round(dt, 2),
         "sentences_per_s": round(n / dt, 1)}
    print(f"encoder: {n} sentences in {dt:.1f}s -> {r['sentences_per_s']} sentences/s (dim {emb.shape[1]})", flush=True)
    return r


def bench_hnsw(quick: bool) -> dict:
    from coldstart_exp.retrieval import build_index

    n, nq, d, k = (50_000, 200, 64, 50) if quick else (200_000, 1000, 64, 50)
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(256, d)).astype(np.float32)
    x = centers[rng.integers(0, 256, n)] + 0.5 * rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.choice(n, nq, replace=False)] + 0.1 * rng.normal(size=(nq, d)).astype(np.float32)
    flat, t_flat_build = timed(lambda: build_index(x, "flat"))
    (_, exact), t_flat = timed(lambda: flat.search(q, k))
    hn, t_build = timed(lambda: build_index(x, "hnsw", hnsw_m=32, ef_construction=40, ef_search=128))
    out = {"vectors": n, "dim": d, "queries": nq, "k": k, "hnsw_build_s": round(t_build, 2),
           "flat_queries_per_s": round(nq / t_flat, 1), "hnsw": {}}
    for ef in (64, 128, 256):
        hn.set_ef_search(ef)
        (_, approx), dt = timed(lambda: hn.search(q, k))
        rec = float(np.mean([len(set(a) & set(e)) / k for a, e in zip(approx, exact)]))
        out["hnsw"][f"ef_{ef}"] = {"recall_at_50": round(rec, 4), "queries_per_s": round(nq / dt, 1)}
        print(f"HNSW n={n} ef={ef}: recall@50 {rec:.3f}, {nq / dt:.0f} q/s (exact {nq / t_flat:.0f} q/s; build {t_build:.1f}s)", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller workloads")
    ap.add_argument("--out", default="outputs/bench/llm.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model-cache-dir", default="~/.cache/coldstart_exp/models")
    ap.add_argument("--skip", nargs="*", default=[], choices=["generate", "scoring", "cache", "encoder", "hnsw"])
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    report: dict = {"quick": args.quick, "threads": args.threads, "machine": platform.machine(),
                    "cpu_count": os.cpu_count(), "load_avg_start": os.getloadavg()[0]}
    b, t_load = timed(lambda: build_backend({"backend": "smollm2", "model_cache_dir": args.model_cache_dir,
                                             "dtype": "float32", "progress": False}))
    _, t_w = timed(lambda: b.model)
    report["model"] = {"name": b.name, "version": b.version, "load_s": round(t_load + t_w, 2)}
    print(f"model {b.name}: loaded in {t_load + t_w:.1f}s", flush=True)
    if "generate" not in args.skip:
        report["generate"] = bench_generate(b, args.quick)
    if "scoring" not in args.skip:
        report["label_scoring"] = bench_scoring(b, args.quick)
    if "cache" not in args.skip:
        report["cache"] = bench_cache(b, args.quick)
    if "encoder" not in args.skip:
        report["encoder"] = bench_encoder(args.quick)
    if "hnsw" not in args.skip:
        report["hnsw"] = bench_hnsw(args.quick)
    report["load_avg_end"] = os.getloadavg()[0]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.skip and out.exists():  # partial re-run: keep the sections that were skipped
        report = {**json.loads(out.read_text()), **report}
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
