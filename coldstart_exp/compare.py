"""Paired per-user comparison of two runs, sweeps or studies (B against A; positive differences: B is better).

    python -m coldstart_exp.compare A B [--metrics ndcg@10 recall@10] [--sets test] [--where method=scoter] [--out DIR]

A and B are each a run directory (holding metrics.json and per_user_*.parquet), a sweep/study directory
(every run below it), or a study name (outputs/results/<study>). A side with several runs of one
configuration (seeds) is averaged per user over its runs before pairing; a side with several configurations
must be narrowed with --where. Prints one Markdown table per eval set (overall, then each activity bucket:
mean difference with a 95% bootstrap CI, paired t-test, Wilcoxon signed-rank, Holm-adjusted bucket
p-values) and writes compare.json and compare.md to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from .eval.significance import _bucket_key, compare_tables, stars

CONFIG_KEYS = ("data", "split", "method", "backbone", "variant", "study")


def find_runs(spec: str, results_dir: Path = Path("outputs/results")) -> list[Path]:
    """Run directories named by `spec`: a run dir, a directory with runs below it, or a study name."""
    p = Path(spec)
    if not p.exists() and (results_dir / spec).exists():
        p = results_dir / spec
    if not p.exists():
        raise FileNotFoundError(f"{spec}: neither a run/sweep directory nor a study under {results_dir}/")
    if (p / "metrics.json").exists():
        return [p]
    runs = sorted(mf.parent for mf in p.glob("**/metrics.json"))
    if not runs:
        raise FileNotFoundError(f"{p}: no metrics.json in it or below it")
    return runs


def select(runs: list[Path], where: dict[str, str]) -> list[tuple[Path, dict]]:
    out = []
    for r in runs:
        m = json.loads((r / "metrics.json").read_text())
        if all(str(m.get(k)) == v for k, v in where.items()):
            out.append((r, m))
    return out


def side_tables(spec: str, where: dict[str, str], results_dir: Path) -> tuple[dict[str, pd.DataFrame], dict]:
    """Per eval set, the side's per-user table (averaged over its runs); and a description of the side."""
    runs = select(find_runs(spec, results_dir), where)
    if not runs:
        raise ValueError(f"{spec}: no run matches --where {where}")
    configs = {tuple(m.get(k) for k in CONFIG_KEYS[:5]) for _, m in runs}
    if len(configs) > 1:
        listing = "\n  ".join(" ".join(f"{k}={v}" for k, v in zip(CONFIG_KEYS, c)) for c in sorted(configs, key=str))
        raise ValueError(f"{spec}: {len(configs)} configurations; narrow with --where key=value:\n  {listing}")
    sets: dict[str, list[pd.DataFrame]] = {}
    for run, _ in runs:
        for f in sorted(run.glob("per_user_*.parquet")):
            sets.setdefault(f.stem.removeprefix("per_user_"), []).append(pd.read_parquet(f))
    if not sets:
        raise FileNotFoundError(f"{spec}: no per_user_*.parquet in {[str(r) for r, _ in runs]}")
    tables = {name: average_runs(frames) for name, frames in sets.items()}
    m0 = runs[0][1]
    desc = {**{k: m0.get(k) for k in CONFIG_KEYS}, "seeds": sorted(m.get("seed") for _, m in runs),
            "runs": [str(r) for r, _ in runs]}
    return tables, desc


def average_runs(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-user tables of several runs (seeds) of one configuration -> one table of per-user means."""
    if len(frames) == 1:
        return frames[0]
    df = pd.concat(frames, ignore_index=True)
    key = ["user"] if frames[0]["user"].is_unique else ["row", "user"]
    num = [c for c in df.columns if c not in (*key, "bucket", "row") and pd.api.types.is_numeric_dtype(df[c])]
    return df.groupby(key, as_index=False).agg({"bucket": "first", **{c: "mean" for c in num}})


def compare(a: str, b: str, metrics: list[str], sets: list[str] | None = None, where: dict[str, str] | None = None,
            results_dir: Path = Path("outputs/results"), n_boot: int = 2000, seed: int = 0) -> dict:
    ta, da = side_tables(a, where or {}, results_dir)
    tb, db = side_tables(b, where or {}, results_dir)
    asked = {x.replace("/", "_").replace("=", "") for x in sets or []}  # eval-set names or their file stems
    common = [s for s in ta if s in tb and (not sets or s in asked)]
    if not common:
        raise ValueError(f"no eval set in common (A: {sorted(ta)}, B: {sorted(tb)}, asked: {sets})")
    return {"a": da, "b": db, "metrics": metrics, "n_boot": n_boot,
            "sets": {s: compare_tables(ta[s], tb[s], metrics, n_boot=n_boot, seed=seed) for s in common}}


def _fmt(x, spec=".4f") -> str:
    return "–" if x is None else format(x, spec)


def _p(x) -> str:
    return "–" if x is None else f"{x:.2g}" if x >= 1e-4 else f"{x:.1e}"


def label(d: dict) -> str:
    return f"{d['method']}/{d['backbone']} ({d['variant']}) on {d['data']} {d['split']}, seeds {d['seeds']}"


def to_markdown(res: dict) -> str:
    out = [f"**A** = {label(res['a'])}  ", f"**B** = {label(res['b'])}  ",
           "diff = B − A per user (positive: B better); CI: 95% percentile bootstrap of the mean "
           f"({res['n_boot']} resamples); p: paired t-test and Wilcoxon signed-rank, two-sided; "
           "Holm: adjusted across the buckets of one metric.", ""]
    for s, r in res["sets"].items():
        out += [f"### {s} ({r['users']} paired users; unpaired: A {r['dropped_a']}, B {r['dropped_b']})", "",
                "| metric | bucket | users | A | B | diff [95% CI] | p (t) | p (Wilcoxon) | p Holm (t) | p Holm (W) | |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for m, e in r["metrics"].items():
            rows = [("all", e["overall"])] + sorted(e["buckets"].items(), key=lambda kv: _bucket_key(kv[0]))
            for bk, st in rows:
                ci = f"{_fmt(st['diff'], '+.4f')} [{_fmt(st['ci_low'], '+.4f')}, {_fmt(st['ci_high'], '+.4f')}]"
                hp = st.get("p_t_holm", st["p_t"])
                out.append(f"| {m} | {bk} | {st['n']} | {_fmt(st['mean_a'])} | {_fmt(st['mean_b'])} | {ci} | "
                           f"{_p(st['p_t'])} | {_p(st['p_wilcoxon'])} | {_p(st.get('p_t_holm'))} | "
                           f"{_p(st.get('p_wilcoxon_holm'))} | {stars(hp)} |")
        out.append("")
    return "\n".join(out)


def plot(res: dict, path: Path) -> None:
    """A and B side by side per bucket (first metric, one panel per eval set), each bucket marked with its
    Holm-adjusted paired t-test stars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(res["sets"])
    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 3.8), squeeze=False)
    for ax, s in zip(axes[0], sets):
        m, e = next(iter(res["sets"][s]["metrics"].items()))
        rows = [("all", e["overall"])] + sorted(e["buckets"].items(), key=lambda kv: _bucket_key(kv[0]))
        x = range(len(rows))
        for off, side, lab in ((-0.2, "mean_a", "A: " + label(res["a"])), (0.2, "mean_b", "B: " + label(res["b"]))):
            ax.bar([i + off for i in x], [st[side] or 0 for _, st in rows], 0.4, label=lab)
        for i, (_, st) in enumerate(rows):
            top = max(st["mean_a"] or 0, st["mean_b"] or 0)
            ax.annotate(stars(st.get("p_t_holm", st["p_t"])), (i, top), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(list(x), [f"{b}\n(n={st['n']})" for b, st in rows], fontsize=7)
        ax.set_title(f"{s}: {m}", fontsize=9)
        ax.margins(y=0.12)
    h, lab = axes[0][0].get_legend_handles_labels()
    fig.legend(h, lab, loc="lower center", fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m coldstart_exp.compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--metrics", nargs="+", default=["ndcg@10", "recall@10"])
    ap.add_argument("--sets", nargs="+", default=None, help="eval sets, as named in metrics.json (test, test/n=3) or as file stems (test_n3)")
    ap.add_argument("--where", nargs="*", default=[], help="key=value filters on metrics.json (both sides)")
    ap.add_argument("--results-dir", default="outputs/results")
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="directory for compare.json and compare.md (default: print only)")
    args = ap.parse_args(argv)
    where = dict(w.split("=", 1) for w in args.where)
    try:
        res = compare(args.a, args.b, args.metrics, args.sets, where, Path(args.results_dir), args.n_boot, args.seed)
    except (FileNotFoundError, ValueError) as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    md = to_markdown(res)
    print(md)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(res, indent=1))
        (out / "compare.md").write_text(md + "\n")
        plot(res, out / "compare.png")
        print(f"written: {out / 'compare.json'}, {out / 'compare.md'}, {out / 'compare.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
