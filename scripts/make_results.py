"""Rebuild docs/RESULTS.md from run outputs (never typed by hand).

1. Harvest every outputs/results/<study>/**/metrics.json into docs/results/runs.jsonl (committed;
   a later run of the same (study, data, split, method, backbone, variant, seed) replaces the
   earlier one), so the page can be rebuilt without re-running old studies.
2. Render docs/RESULTS.md: per study, its notes (docs/results/notes/<study>.md), then per eval set a
   table of mean ± std over seeds, and the per-bucket NDCG@10 table.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = ("study", "data", "split", "method", "backbone", "variant", "seed")
MAIN = ["recall@5", "ndcg@5", "recall@10", "ndcg@10", "recall@20", "ndcg@20"]
STANDARD = ("recall@", "ndcg@", "mrr@", "hit@", "precision@")


BUCKET_KEEP = ("users", "ndcg@10", "rouge1", "rougeL", "meteor_nosyn")  # what the per-bucket tables show (ranking: NDCG@10; generation: ROUGE/METEOR); the full buckets stay in each run's metrics.json
GENERATION = ("rouge1", "rougeL", "meteor_nosyn")


def _bucket_cells(bucket: dict) -> dict:
    return {k: bucket[k] for k in BUCKET_KEEP if k in bucket}


def is_best_trial(run_dir: Path, m: dict) -> bool:
    """In an Optuna sweep (its dir holds optimization_results.yaml), only the best trial by the optimised
    metric is a result; every other job, and every run outside such a sweep, passes."""
    res = run_dir.parent / "optimization_results.yaml"
    if not res.exists():
        return True
    import yaml

    best = (yaml.safe_load(res.read_text()) or {}).get("best_params") or {}
    ov = (m.get("run") or {}).get("overrides")
    if ov is None and (run_dir / ".hydra" / "overrides.yaml").exists():
        ov = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
    got = dict(o.split("=", 1) for o in ov or [] if "=" in o)
    return all(k in got and _same(got[k], v) for k, v in best.items())


def _same(text: str, value) -> bool:
    try:
        return math.isclose(float(text), float(value), rel_tol=1e-9)
    except (TypeError, ValueError):
        return str(text) == str(value)


def harvest(results_dir: Path, store: Path) -> list[dict]:
    records = {}
    if store.exists():
        for line in store.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                records[tuple(r.get(k) for k in KEY)] = r
    for mf in sorted(results_dir.glob("**/metrics.json")):
        m = json.loads(mf.read_text())
        if not is_best_trial(mf.parent, m):
            continue
        parts = mf.relative_to(results_dir).parts
        study = m.get("study")  # the default study name `adhoc` yields to the folder: results/<study>/...
        study = parts[0] if (not study or study == "adhoc") and len(parts) > 1 else study or "adhoc"
        r = {
            "study": study, "data": m.get("data"), "split": m.get("split"), "method": m.get("method"),
            "backbone": m.get("backbone"), "variant": m.get("variant") or "default", "seed": m.get("seed"),
            "mask_seen": m.get("mask_seen"), "key_config": m.get("key_config", {}),
            "timings": m.get("timings", {}), "machine": m.get("machine", {}),
            "metrics": {s: {"overall": v.get("overall", {}), "users": v.get("users"),
                            "buckets": {b: _bucket_cells(bv) for b, bv in v.get("buckets", {}).items()}}
                        for s, v in m.get("metrics", {}).items()},
            "extra": {k: m[k] for k in m if k.startswith("result_")},
            "run_dir": str(mf.parent.relative_to(ROOT)) if mf.is_relative_to(ROOT) else str(mf.parent),
        }
        picked = [k.split("_vs_", 1)[1] for k, v in (m.get("paired") or {}).items()
                  if isinstance(v, dict) and "baseline_chosen_on" in v]  # PAT: the baseline chosen on validation
        if picked:
            r["extra"]["result_best_baseline"] = picked[0]
        for es, facts in (m.get("next_user") or {}).items():  # per-item next-user recall (method=next_user)
            for k in ("next_user_recall@20", "next_user_recall@50"):
                if es in r["metrics"] and facts.get(k) is not None:
                    r["metrics"][es]["overall"][k] = facts[k]
        records[tuple(r.get(k) for k in KEY)] = r
    for r in records.values():  # records stored by older versions of this script carried every bucket metric
        for m in r["metrics"].values():
            m["buckets"] = {b: _bucket_cells(bv) for b, bv in m.get("buckets", {}).items()}
    rows = sorted(records.values(), key=lambda r: tuple(str(r.get(k)) for k in KEY))
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return rows


def _ms(vals: list[float]) -> str:
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return "–"
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return f"{mean:.4f}"
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return f"{mean:.4f} ± {sd:.4f}"


def overview(groups: dict, eval_sets: list[str], metric: str = "ndcg@10") -> list[str]:
    """One row per configuration, one column per eval set: the study at a glance."""
    out = [f"**Overview: {metric} by eval set** (mean ± std over the seeds)", "",
           "| method | backbone | variant | seeds | " + " | ".join(eval_sets) + " |",
           "|" + "---|" * (4 + len(eval_sets))]
    for g, rs in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        seeds = ",".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"]))
        cells = [_ms([r["metrics"][es]["overall"].get(metric) for r in rs if es in r["metrics"]]) for es in eval_sets]
        out.append(f"| {g[2]} | {g[3]} | {g[4]} | {seeds} | " + " | ".join(cells) + " |")
    return out + [""]


def by_n_overview(groups: dict, key: str, title: str) -> list[str]:
    """A per-run dict {n: value} stored under `extra[key]` (e.g. validation NDCG@20 at every seed
    count), one column per n; empty when no run of the study reports it."""
    ns = sorted({n for rs in groups.values() for r in rs for n in (r.get("extra", {}).get(key) or {})}, key=int)
    if not ns:
        return []
    out = [f"**{title}** (mean ± std over the seeds)", "",
           "| method | backbone | variant | seeds | " + " | ".join(f"n={n}" for n in ns) + " |",
           "|" + "---|" * (4 + len(ns))]
    for g, rs in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        rs = [r for r in rs if r.get("extra", {}).get(key)]
        if not rs:
            continue
        seeds = ",".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"]))
        cells = [_ms([r["extra"][key].get(n) for r in rs]) for n in ns]
        out.append(f"| {g[2]} | {g[3]} | {g[4]} | {seeds} | " + " | ".join(cells) + " |")
    return out + [""]


def generation_tables(groups: dict, metrics: list[str]) -> list[str]:
    """Text-generation studies (PAT): per metric, one row per (configuration, system), the test
    mean overall and per history bucket; each system is the eval set `test` or `test/<system>`."""
    out = []
    for n in metrics:
        buckets = sorted({b for rs in groups.values() for r in rs for es, m in r["metrics"].items()
                          if es.split("/")[0] == "test" for b in m.get("buckets", {})},
                         key=lambda b: int(b.split("-")[0].rstrip("+")))
        out += [f"**{n}, test users, overall and by visible-history bucket** (mean ± std over the seeds)", "",
                "| split | backbone | variant | system | seeds | users | all | " + " | ".join(buckets) + " |",
                "|" + "---|" * (7 + len(buckets))]
        for g, rs in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
            sets = sorted({es for r in rs for es in r["metrics"] if es.split("/")[0] == "test"}, key=lambda s: (len(s), s))
            for es in sets:
                rr = [r for r in rs if es in r["metrics"]]
                system = es.split("/", 1)[1] if "/" in es else rr[0].get("extra", {}).get("result_system", "run")
                seeds = ",".join(str(r["seed"]) for r in sorted(rr, key=lambda r: r["seed"]))
                m0 = rr[0]["metrics"][es]
                cells = [_ms([r["metrics"][es]["overall"].get(n) for r in rr])]
                cells += [_ms([r["metrics"][es]["buckets"].get(b, {}).get(n) for r in rr])
                          + f" (n={m0['buckets'].get(b, {}).get('users', 0)})" for b in buckets]
                out.append(f"| {g[1]} | {g[3]} | {g[4]} | {system} | {seeds} | {m0['users']} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def generation_significance(groups: dict, metrics: list[str]) -> list[str]:
    """Per configuration: the run's system against the best baseline (each run picks it on validation ROUGE-L;
    the most frequent pick is used) and against PAT without RL, paired per test user over the seed-averaged
    per-user files (`coldstart_exp.compare`'s statistics), so the 3-seed verdict is generated, not typed."""
    import pandas as pd

    from coldstart_exp.compare import average_runs
    from coldstart_exp.eval.significance import compare_tables

    out = ["**Paired per-user tests on the test users** (seed-averaged per-user scores; diff = system minus "
           "other, [95% bootstrap CI], p = paired t / Wilcoxon)", "",
           "| split | variant | seeds | the run's system vs | picked on validation | " + " | ".join(metrics) + " |",
           "|" + "---|" * (5 + len(metrics))]
    for g, rs in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        picks = [r["extra"].get("result_best_baseline") for r in rs]
        best = max(set(picks), key=picks.count) if any(picks) else None
        for other in [b for b in (best, "pat_norl") if b]:
            fa = [_per_user(r, f"test/{other}") for r in rs]
            fb = [_per_user(r, "test") for r in rs]
            seeds = ",".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"]))
            key = _key(rs, [], f"test/{other}", metrics)
            pick = (f"{picks.count(other)}/{len(picks)} seeds" if other == best else "(ablation)")
            if not all(fa) or not all(fb):
                cells = PAIRED.get(key, " | ".join("n/a (no per-user files)" for _ in metrics))
                out.append(f"| {g[1]} | {g[4]} | {seeds} | {other} | {pick if key in PAIRED else '–'} | {cells} |")
                continue
            ta, tb = average_runs([pd.read_parquet(f) for f in fa]), average_runs([pd.read_parquet(f) for f in fb])
            st = compare_tables(ta, tb, metrics)["metrics"]
            PAIRED[key] = " | ".join(f"{st[n]['overall']['diff']:+.4f} [{st[n]['overall']['ci_low']:+.4f}, "
                                     f"{st[n]['overall']['ci_high']:+.4f}] p={_p(st[n]['overall']['p_t'])}/"
                                     f"{_p(st[n]['overall']['p_wilcoxon'])}" for n in metrics)
            out.append(f"| {g[1]} | {g[4]} | {seeds} | {other} | {pick} | {PAIRED[key]} |")
    return out + [""]


# A method whose backbone-alone row is one of its own variants (no method=baseline row in its studies):
# ScaleToT's `profile_mlp` is the two-tower user tower without the reasoning vector.
OWN_BASELINE = {"scaletot": "profile_mlp"}


def _per_user(r: dict, es: str) -> Path | None:
    f = ROOT / r.get("run_dir", "-") / f"per_user_{es.replace('/', '_').replace('=', '')}.parquet"
    return f if f.exists() else None


_SIGNIFICANCE: dict[tuple, str] = {}  # the overview by method and the study tables ask for the same cells


def significance(rs: list[dict], rows: list[dict], es: str, metric: str = "ndcg@10") -> str:
    key = (tuple(sorted(r.get("run_dir", "") for r in rs)), es, metric)
    if key not in _SIGNIFICANCE:
        _SIGNIFICANCE[key] = _significance(rs, rows, es, metric)
    return _SIGNIFICANCE[key]


def _significance(rs: list[dict], rows: list[dict], es: str, metric: str = "ndcg@10") -> str:
    """Paired per-user test of a configuration against its baseline (method=baseline, same data, split and
    backbone, default variant; the same study preferred), both sides averaged over their seeds:
    `diff [95% CI] p(t) p(Wilcoxon)`. Generated by `coldstart_exp.compare`, never typed."""
    r0 = rs[0]
    if r0["method"] == "baseline" or r0["variant"] == OWN_BASELINE.get(r0["method"]):
        return "(reference)"
    refs = [r for r in rows if r["method"] == "baseline" and r["variant"] == "default"
            and all(r.get(k) == r0.get(k) for k in ("data", "split", "backbone")) and es in r["metrics"]]
    same = [r for r in refs if r["study"] == r0["study"]]
    refs = same or [r for r in refs if r["study"] == (refs[0]["study"] if refs else None)]
    if not same and r0["method"] in OWN_BASELINE:  # the method's own backbone-alone arm in the same study
        refs = [r for r in rows if r["variant"] == OWN_BASELINE[r0["method"]] and es in r["metrics"]
                and all(r.get(k) == r0.get(k) for k in ("study", "data", "split", "method", "backbone"))] or refs
    if not refs:
        return "n/a (no baseline run)"
    fa, fb = [_per_user(r, es) for r in refs], [_per_user(r, es) for r in rs]
    key = _key(rs, refs, es, metric)
    if not all(fa) or not all(fb):
        return PAIRED.get(key, "n/a (no per-user files)")
    import pandas as pd

    from coldstart_exp.compare import average_runs
    from coldstart_exp.eval.significance import compare_tables, stars

    ta, tb = average_runs([pd.read_parquet(f) for f in fa]), average_runs([pd.read_parquet(f) for f in fb])
    st = compare_tables(ta, tb, [metric])["metrics"][metric]["overall"]
    if st["ci_low"] is None:
        return "n/a (too few users)"
    PAIRED[key] = (f"{st['diff']:+.4f} [{st['ci_low']:+.4f}, {st['ci_high']:+.4f}] p={_p(st['p_t'])}/{_p(st['p_wilcoxon'])} "
                   f"{stars(st['p_t'])} (vs {refs[0]['study']})")
    return PAIRED[key]


# Paired tests computed from per-user files, kept in docs/results/paired.json under the runs they compare, so a
# machine without those (uncommitted) files renders the same page instead of "n/a".
PAIRED: dict[str, str] = {}
PAIRED_STORE = ROOT / "docs" / "results" / "paired.json"


def _key(rs: list[dict], refs: list[dict], *what) -> str:
    return json.dumps([sorted(r.get("run_dir", "") for r in rs), sorted(r.get("run_dir", "") for r in refs), *what])


def _p(p: float | None) -> str:
    return "–" if p is None else f"{p:.2g}"


def method_overview(rows: list[dict]) -> list[str]:
    """One table per method across every study: its configurations' headline test figures (ranking: NDCG@10 and
    Recall@10 on `test`, with the paired test against the baseline; generation: ROUGE-1 / ROUGE-L of the
    run's own system), so a method's record is read in one place. Controls keep their `control_*` variant."""
    out = ["## Overview by method", "",
           "Headline test figures of every configuration of each method (mean ± std over the seeds); the study",
           "sections below hold every eval set, bucket and note.", ""]
    by = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if "test" in r["metrics"]:
            by[r["method"]][(r["study"], r["data"], r["split"], r["backbone"], r["variant"])].append(r)
    for method in sorted(by):
        gen = any(n in rs[0]["metrics"]["test"]["overall"] for rs in by[method].values() for n in GENERATION)
        cols = ["rouge1", "rougeL"] if gen else ["ndcg@10", "recall@10"]
        out += [f"**{method}**", "", "| study | data | split | backbone | variant | seeds | " + " | ".join(cols)
                + (" |" if gen else " | vs baseline (ndcg@10, paired) |"), "|" + "---|" * (6 + len(cols) + (0 if gen else 1))]
        for g, rs in sorted(by[method].items(), key=lambda kv: tuple(map(str, kv[0]))):
            seeds = ",".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"]))
            cells = [_ms([r["metrics"]["test"]["overall"].get(n) for r in rs]) for n in cols]
            sig = "" if gen else f" | {significance(rs, rows, 'test')}"
            out.append(f"| {' | '.join(map(str, g))} | {seeds} | " + " | ".join(cells) + sig + " |")
        out.append("")
    return out


def toc(studies: list[str]) -> list[str]:
    """Links to every study section (GitHub anchors of `## <study>`)."""
    anchor = lambda s: "".join(c for c in s.lower().replace(" ", "-") if c.isalnum() or c in "-_")  # noqa: E731
    return ["**Contents**", "", "- [Overview by method](#overview-by-method)",
            *[f"- [{s}](#{anchor(s)})" for s in studies], ""]


def render(rows: list[dict]) -> str:
    out = ["# Results", "",
           "Generated by `scripts/make_results.py` from run outputs (`docs/results/runs.jsonl`); do not edit by hand.",
           "Each cell is mean ± sample std over the seeds listed; wall time is the mean run time in seconds",
           "(data loading to outputs; runs without that figure: fit + test).",
           "Ranking is full ranking over all items (cold-item studies: over the cold items); `mask` says whether",
           "already-seen items were masked. Rows where a method did not help are kept.",
           "`vs baseline`: ndcg@10 of the row minus its baseline's (method=baseline, same data/split/backbone;",
           "for ScaleToT, its own `profile_mlp` arm of the same study: the user tower without reasoning),",
           "paired per user over the seed-averaged per-user files: mean difference [95% bootstrap CI],",
           "p = paired t-test / Wilcoxon, `*` p<0.05, `**` p<0.01, `***` p<0.001 (t-test); n/a where either side's",
           "per-user files are not on this machine. Same as `python -m coldstart_exp.compare A B`.", ""]
    by_study = defaultdict(list)
    for r in rows:
        by_study[r["study"]].append(r)
    out += toc(sorted(by_study))
    out += method_overview(rows)
    for study in sorted(by_study):
        out += [f"## {study}", ""]
        note = ROOT / "docs" / "results" / "notes" / f"{study}.md"
        if note.exists():
            out += [note.read_text().strip(), ""]
        groups = defaultdict(list)
        for r in by_study[study]:
            groups[(r["data"], r["split"], r["method"], r["backbone"], r["variant"])].append(r)
        gen = [n for n in GENERATION if any(n in r["metrics"].get("test", {}).get("overall", {}) for r in by_study[study])]
        if gen:
            out += generation_tables(groups, gen)
            out += generation_significance(groups, gen)
            continue
        eval_sets = sorted({s for r in by_study[study] for s in r["metrics"] if s != "valid"},
                           key=lambda s: (len(s), s))
        if len(eval_sets) > 1:
            out += overview(groups, eval_sets)
            if any("next_user_recall@20" in r["metrics"].get(es, {}).get("overall", {})
                   for r in by_study[study] for es in eval_sets):
                out += overview(groups, eval_sets, "next_user_recall@20")
        out += by_n_overview(groups, "result_valid_ndcg20_by_n",
                             "Validation NDCG@20 by seed count (the validation cold items; what design choices were read on)")
        for es in eval_sets:
            names = [n for n in MAIN if any(n in r["metrics"].get(es, {}).get("overall", {}) for r in by_study[study])]
            extra = sorted({n for r in by_study[study] for n in r["metrics"].get(es, {}).get("overall", {})
                            if not n.startswith(STANDARD)})
            cols = names + extra
            out += [f"**{es}**", "",
                    "| data | split | method | backbone | variant | mask | seeds | users | " + " | ".join(cols) + " | wall s | machine | vs baseline (ndcg@10, paired) |",
                    "|" + "---|" * (11 + len(cols))]
            for g, rs in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
                rs = [r for r in rs if es in r["metrics"]]
                if not rs:
                    continue
                seeds = ",".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"]))
                cells = [_ms([r["metrics"][es]["overall"].get(n) for r in rs]) for n in cols]
                wall = sum(r["timings"].get("total_s") or (r["timings"].get("fit_s") or 0) + (r["timings"].get("test_s") or 0)
                           for r in rs) / len(rs)
                mach = rs[0]["machine"]
                out.append(f"| {' | '.join(map(str, g))} | {rs[0]['mask_seen']} | {seeds} | {rs[0]['metrics'][es]['users']} | "
                           + " | ".join(cells) + f" | {wall:.0f} | {mach.get('cpu_threads', '?')} thr, torch {mach.get('torch', '?')} | "
                           + significance(rs, rows, es) + " |")
            out.append("")
            buckets = sorted({b for r in by_study[study] for b in r["metrics"].get(es, {}).get("buckets", {})},
                             key=lambda b: int(b.split("-")[0].rstrip("+")))
            if len(buckets) > 1:
                out += [f"NDCG@10 by activity bucket ({es}; users per bucket in the header)", "",
                        "| method | backbone | variant | " + " | ".join(
                            f"{b} (n={next((r['metrics'][es]['buckets'][b]['users'] for r in by_study[study] if b in r['metrics'].get(es, {}).get('buckets', {})), 0)})"
                            for b in buckets) + " |",
                        "|" + "---|" * (3 + len(buckets))]
                for g, rs in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
                    rs = [r for r in rs if es in r["metrics"]]
                    if not rs:
                        continue
                    cells = [_ms([r["metrics"][es]["buckets"].get(b, {}).get("ndcg@10") for r in rs]) for b in buckets]
                    out.append(f"| {g[2]} | {g[3]} | {g[4]} | " + " | ".join(cells) + " |")
                out.append("")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results-dir", default=str(ROOT / "outputs" / "results"))
    ap.add_argument("--store", default=str(ROOT / "docs" / "results" / "runs.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "RESULTS.md"))
    a = ap.parse_args()
    rows = harvest(Path(a.results_dir), Path(a.store))
    if PAIRED_STORE.exists():
        PAIRED.update(json.loads(PAIRED_STORE.read_text()))
    Path(a.out).write_text(render(rows))
    PAIRED_STORE.write_text(json.dumps(PAIRED, indent=0, sort_keys=True) + "\n")
    print(f"{len(rows)} runs -> {a.out}")


if __name__ == "__main__":
    main()
