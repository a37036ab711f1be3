#!/usr/bin/env python
"""Benchmark the LLM layer (``make bench``): prints and writes outputs/bench/llm.json.

Measures, with the machine's load and slot occupancy stated: generate tokens/s at
batch 1/8/32/64 with the embedded SmolLM2 for the decode loop and ``model.generate``
side by side (speedup, identical outputs); time to first token; label scoring
options/s packed vs per prompt; peak RSS; ``--profile`` splits a batch's time
into prompt pass and decoding and lists the top torch operators. Also cached
re-run time, encoder sentences/s, HNSW recall@50 and queries/s on 200k vectors.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

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


def _gen(b, ps, p) -> tuple[list[str], int, float]:
    b.batch_size = len(ps)
    before = b.counters.tokens_generated
    texts, dt = timed(lambda: b.generate(ps, p))
    return texts, b.counters.tokens_generated - before, dt


def bench_generate(b, quick: bool, decoders: list[str], batches: list[int], ref: dict | None = None) -> dict:
    """tokens/s per batch size for each decoder on the same prompts (ratio = loop / generate).

    ``ref`` (outputs of an earlier call, e.g. float32) is compared with this call's first decoder."""
    res: dict = {"max_new_tokens": 16 if quick else 64, "repetition_penalty": 1.2}
    p = GenerationParams(max_new_tokens=res["max_new_tokens"], repetition_penalty=1.2)
    for bs in batches:
        ps = prompts(bs, seed=bs)
        row, outs = {"prompts": bs}, {}
        for dec in decoders:
            b.decoder = dec
            outs[dec], ntok, dt = _gen(b, ps, p)
            row[dec] = {"tokens": ntok, "seconds": round(dt, 2), "tokens_per_s": round(ntok / dt, 1)}
            print(f"generate batch {bs:>2} [{dec:>8}]: {ntok} tokens in {dt:.1f}s -> {ntok / dt:.1f} tok/s", flush=True)
        if len(decoders) == 2:
            a, r = outs[decoders[0]], outs[decoders[1]]
            row["identical_outputs"] = f"{sum(x == y for x, y in zip(a, r))}/{bs}"
            row["speedup"] = round(row[decoders[0]]["tokens_per_s"] / row[decoders[1]]["tokens_per_s"], 2)
        if ref is not None and bs in ref["_outputs"]:
            row["identical_to_reference_dtype"] = f"{sum(x == y for x, y in zip(outs[decoders[0]], ref['_outputs'][bs]))}/{bs}"
        res.setdefault("_outputs", {})[bs] = outs[decoders[0]]
        res[f"batch_{bs}"] = row
    b.decoder = decoders[0]
    return res


def bench_ttft(b, batches: list[int]) -> dict:
    """Time to first token: prompt pass plus one decoding step, per batch size (loop decoder)."""
    from coldstart_exp.llm.backends.hf_decode import decode

    res = {}
    for bs in batches:
        seqs = b._encode_prompts([b.render(q) for q in prompts(bs, seed=100 + bs)], 1)
        _, dt = timed(lambda: decode(b.model, seqs, max_new_tokens=1, eos_ids=b._eos_ids(), pad_id=b.tok.pad_token_id,
                                     share_prefix=b.share_prefix))
        res[f"batch_{bs}"] = {"seconds": round(dt, 3), "prompt_tokens": sum(map(len, seqs))}
        print(f"time to first token, batch {bs:>2}: {dt * 1000:.0f} ms ({sum(map(len, seqs))} prompt tokens)", flush=True)
    return res


def bench_scoring(b, quick: bool) -> dict:
    """options/s: all prompts packed (new) vs one prompt per forward pass (the previous path)."""
    n = 8 if quick else 32
    ps = prompts(n, seed=99)
    r: dict = {"prompts": n, "options_per_prompt": len(GENRES)}
    sbs = b.score_batch_size
    scored = {}
    for name, size in (("packed", sbs), ("per_prompt", len(GENRES))):
        b.score_batch_size = size
        scored[name], dt = timed(lambda: b.score_many(ps, [GENRES] * n))
        r[name] = {"options_per_forward": size, "seconds": round(dt, 2), "options_per_s": round(n * len(GENRES) / dt, 1)}
        print(f"label scoring [{name}]: {r[name]['options_per_s']} options/s", flush=True)
    b.score_batch_size = sbs
    r["options_per_s"] = r["packed"]["options_per_s"]
    r["speedup"] = round(r["packed"]["options_per_s"] / r["per_prompt"]["options_per_s"], 2)
    r["max_abs_diff"] = float(max(np.abs(a - c).max() for a, c in zip(scored["packed"], scored["per_prompt"])))
    b.batch_size = n
    gen, dt_g = timed(lambda: b.generate(ps, GenerationParams(max_new_tokens=6, repetition_penalty=1.2)))
    agree, parsed = 0, 0
    for s, g in zip(scored["packed"], gen):
        try:
            c = parse_choice(g, GENRES)
            parsed += 1
            agree += c == GENRES[int(np.argmax(normalize_logprobs(s)))]
        except ValueError:
            pass
    r.update({"generate_prompts_per_s": round(n / dt_g, 2), "generated_parseable": parsed,
              "agreement_with_generation": agree})
    print(f"label scoring: {r['options_per_s']} options/s ({r['speedup']}x per-prompt); generating the choice "
          f"{r['generate_prompts_per_s']} prompts/s; {parsed}/{n} generations parseable, {agree} agree", flush=True)
    return r


def profile_generate(b, bs: int, max_new: int, top: int = 12) -> dict:
    """Where a batch's time goes: prompt pass vs decoding steps, and the top torch operators."""
    from torch.profiler import ProfilerActivity, profile

    from coldstart_exp.llm.backends.hf_decode import decode

    seqs = b._encode_prompts([b.render(q) for q in prompts(bs, seed=5)], max_new)
    kw = dict(eos_ids=b._eos_ids(), pad_id=b.tok.pad_token_id, repetition_penalty=1.2, share_prefix=b.share_prefix)
    _, t_first = timed(lambda: decode(b.model, seqs, max_new_tokens=1, **kw))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        rows, t_all = timed(lambda: decode(b.model, seqs, max_new_tokens=max_new, **kw))
    ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:top]
    total = sum(e.self_cpu_time_total for e in prof.key_averages()) or 1
    out = {"batch": bs, "max_new_tokens": max_new, "prompt_tokens": sum(map(len, seqs)),
           "new_tokens": sum(map(len, rows)), "prompt_pass_s": round(t_first, 3), "total_s": round(t_all, 3),
           "top_ops": {e.key: round(100 * e.self_cpu_time_total / total, 1) for e in ops}}
    print(f"profile batch {bs}: prompt pass {t_first:.2f}s of {t_all:.2f}s; top ops (% self CPU): "
          + ", ".join(f"{k} {v}" for k, v in out["top_ops"].items()), flush=True)
    return out


def peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine_load() -> dict:
    """Load average and who holds the shared machine's job slots (stated with every figure)."""
    slots = {}
    for f in sorted(Path("/work/slots").glob("slot*.who")) if Path("/work/slots").exists() else []:
        slots[f.stem] = f.read_text().strip()[:120] or "free"
    return {"loadavg": Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None,
            "slots": slots}


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
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    ap.add_argument("--dtype", default=None, help="bfloat16 | float32 (default: conf/llm/smollm2.yaml's dtype)")
    ap.add_argument("--compare-dtype", default=None, help="also run generation/scoring in this dtype (e.g. float32)")
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 8, 32, 64])
    ap.add_argument("--decoders", nargs="*", default=["loop", "generate"], help="first = the path reported")
    ap.add_argument("--profile", action="store_true", help="profile one batch-32 generation (prompt vs decode, top ops)")
    ap.add_argument("--model-cache-dir", default="~/.cache/coldstart_exp/models")
    ap.add_argument("--skip", nargs="*", default=[],
                    choices=["generate", "ttft", "scoring", "cache", "encoder", "hnsw"])
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    shipped = OmegaConf.load(ROOT / "conf" / "llm" / "smollm2.yaml")  # the shipped default: factory and dtype
    target, args.dtype = shipped["_target_"], args.dtype or shipped["dtype"]
    report: dict = {"quick": args.quick, "threads": args.threads, "dtype": args.dtype, "machine": platform.machine(),
                    "cpu_count": os.cpu_count(), "load_start": machine_load()}
    b, t_load = timed(lambda: build_backend({"_target_": target, "backend": "smollm2", "model_cache_dir": args.model_cache_dir,
                                             "dtype": args.dtype, "progress": False}))
    _, t_w = timed(lambda: b.model)
    report["model"] = {"name": b.name, "version": b.version, "load_s": round(t_load + t_w, 2),
                       "peak_rss_mb_after_load": peak_rss_mb()}
    print(f"model {b.name} ({args.dtype}, {args.threads} threads): loaded in {t_load + t_w:.1f}s; "
          f"load {report['load_start']}", flush=True)
    if args.profile:
        report["profile"] = profile_generate(b, 32, 16 if args.quick else 64)
    if "generate" not in args.skip:
        report["generate"] = bench_generate(b, args.quick, args.decoders, args.batches)
        report["generate"]["peak_rss_mb_after"] = peak_rss_mb()
    if args.compare_dtype:  # same run, same prompts: tokens/s and identical outputs in another dtype
        b._model = b.model.to(getattr(torch, args.compare_dtype))
        section = {"dtype": args.compare_dtype,
                   "generate": bench_generate(b, args.quick, args.decoders[:1], args.batches, report.get("generate"))}
        if "scoring" not in args.skip:
            section["label_scoring"] = bench_scoring(b, args.quick)
        b._model = b.model.to(getattr(torch, args.dtype))
        section["generate"].pop("_outputs", None)
        report[f"compare_{args.compare_dtype}"] = section
    report.get("generate", {}).pop("_outputs", None)
    if "ttft" not in args.skip:
        report["time_to_first_token"] = bench_ttft(b, [1, 32])
        report["time_to_first_token"]["peak_rss_mb_after"] = peak_rss_mb()
    if "scoring" not in args.skip:
        report["label_scoring"] = bench_scoring(b, args.quick)
        report["label_scoring"]["peak_rss_mb_after"] = peak_rss_mb()
    if "cache" not in args.skip:
        report["cache"] = bench_cache(b, args.quick)
    if "encoder" not in args.skip:
        report["encoder"] = bench_encoder(args.quick)
    if "hnsw" not in args.skip:
        report["hnsw"] = bench_hnsw(args.quick)
    report["peak_rss_mb"] = peak_rss_mb()
    report["load_end"] = machine_load()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.skip and out.exists():  # partial re-run: keep the sections that were skipped
        report = {**json.loads(out.read_text()), **report}
    out.write_text(json.dumps(report, indent=1))
    print(f"peak RSS {report['peak_rss_mb']} MB; load at end {report['load_end']}; wrote {out}")


if __name__ == "__main__":
    main()
