"""A static one-page HTML report from the run store (docs/results/runs.jsonl): per study an overview table
(mean ± std over seeds, per eval set), a per-bucket NDCG@10 chart and a time-to-quality chart (validation
curves from each run's val_curve.csv where the run directory is on this machine; otherwise test NDCG@10
against wall time per configuration). Images are embedded (base64 PNG): the page is one self-contained file.

    python scripts/make_report.py [--store docs/results/runs.jsonl] [--out outputs/report/index.html]
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import sys
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_results import ROOT, _ms  # noqa: E402

METRIC = "ndcg@10"
CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td:nth-child(-n+3){text-align:left}img{max-width:100%;border:1px solid #eee;margin:.4em 0}
nav{display:flex;flex-wrap:wrap;gap:.3em 1em}h2{border-bottom:1px solid #ddd;padding-top:.8em}"""
# after load: how many images decoded (read by the browser test, useful to anyone checking the page)
SCRIPT = """<script>window.addEventListener('load',()=>{const i=[...document.images];
document.body.dataset.imagesLoaded=i.filter(x=>x.complete&&x.naturalWidth>0).length;
document.body.dataset.images=i.length;});</script>"""


def load(store: Path) -> list[dict]:
    return [json.loads(x) for x in store.read_text().splitlines() if x.strip()]


def groups_of(rows: list[dict]) -> dict:
    g = defaultdict(list)
    for r in rows:
        g[(r["method"], r["backbone"], r["variant"])].append(r)
    return dict(sorted(g.items(), key=lambda kv: tuple(map(str, kv[0]))))


def eval_sets(rows: list[dict]) -> list[str]:
    return sorted({s for r in rows for s in r["metrics"] if s != "valid"}, key=lambda s: (len(s), s))


def overview_table(rows: list[dict]) -> str:
    sets = eval_sets(rows)
    metrics = [m for m in (METRIC, "recall@10") if any(m in r["metrics"].get(s, {}).get("overall", {})
                                                       for r in rows for s in sets)]
    recs = []
    for (method, backbone, variant), rs in groups_of(rows).items():
        rec = {"method": method, "backbone": backbone, "variant": variant,
               "seeds": ",".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"]))}
        for s in sets:
            for m in metrics:
                rec[f"{s} {m}"] = _ms([r["metrics"][s]["overall"].get(m) for r in rs if s in r["metrics"]])
        wall = [r["timings"].get("total_s") for r in rs if r["timings"].get("total_s")]
        rec["wall s"] = f"{sum(wall) / len(wall):.0f}" if wall else "–"
        recs.append(rec)
    return pd.DataFrame(recs).to_html(index=False, classes="overview", border=0, escape=True)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def bucket_chart(study: str, rows: list[dict]) -> str | None:
    """Grouped bars: NDCG@10 (mean over seeds) per activity bucket, one bar per configuration."""
    es = next((s for s in eval_sets(rows) if any(r["metrics"].get(s, {}).get("buckets") for r in rows)), None)
    if es is None:
        return None
    buckets = sorted({b for r in rows for b in r["metrics"].get(es, {}).get("buckets", {})},
                     key=lambda b: int(b.split("-")[0].rstrip("+")) if b.split("-")[0].rstrip("+").isdigit() else 0)
    groups = groups_of(rows)
    fig, ax = plt.subplots(figsize=(min(14, 3 + 1.1 * len(buckets) * max(1, len(groups)) ** 0.5), 3.6))
    w = 0.8 / max(1, len(groups))
    for j, (g, rs) in enumerate(groups.items()):
        vals = []
        for b in buckets:
            v = [r["metrics"][es]["buckets"][b].get(METRIC) for r in rs if b in r["metrics"].get(es, {}).get("buckets", {})]
            v = [x for x in v if x is not None]
            vals.append(sum(v) / len(v) if v else 0.0)
        ax.bar([i + (j - (len(groups) - 1) / 2) * w for i in range(len(buckets))], vals, w, label="/".join(map(str, g)))
    users = {b: next((r["metrics"][es]["buckets"][b].get("users") for r in rows
                      if b in r["metrics"].get(es, {}).get("buckets", {})), "?") for b in buckets}
    ax.set_xticks(range(len(buckets)), [f"{b}\n(n={users[b]})" for b in buckets], fontsize=8)
    ax.set_ylabel(f"{es} {METRIC}")
    ax.set_title(f"{study}: {METRIC} by user activity bucket ({es}, mean over seeds)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _img(_png(fig), f"{study} bucket chart")


def time_to_quality(study: str, rows: list[dict]) -> str | None:
    """Validation NDCG@10 against seconds for runs whose val_curve.csv is here; else test NDCG@10 vs wall time."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    curves = 0
    for r in rows:
        f = ROOT / r.get("run_dir", "-") / "val_curve.csv"
        if f.exists():
            c = pd.read_csv(f)
            if "seconds" in c and f"val/{METRIC}" in c:
                ax.plot(c["seconds"], c[f"val/{METRIC}"], marker=".", label=f"{r['method']}/{r['backbone']}/{r['variant']} s{r['seed']}")
                curves += 1
    if curves:
        ax.set_xlabel("training seconds")
        ax.set_ylabel(f"val {METRIC}")
        kind = "validation curves"
    else:
        pts = [(r["timings"].get("total_s"), r["metrics"].get(es, {}).get("overall", {}).get(METRIC), r)
               for r in rows for es in eval_sets(rows)[:1]]
        pts = [p for p in pts if p[0] and p[1] is not None]
        if not pts:
            plt.close(fig)
            return None
        for (g, _rs) in groups_of(rows).items():
            xs = [(t, v) for t, v, r in pts if (r["method"], r["backbone"], r["variant"]) == g]
            if xs:
                ax.scatter(*zip(*xs), label="/".join(map(str, g)), s=18)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("wall seconds per run (log)")
        ax.set_ylabel(f"{eval_sets(rows)[0]} {METRIC}")
        kind = "quality against wall time (no val_curve.csv on this machine)"
    ax.set_title(f"{study}: {kind}", fontsize=9)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _img(_png(fig), f"{study} time to quality")


def render(rows: list[dict]) -> str:
    by_study = defaultdict(list)
    for r in rows:
        by_study[r["study"]].append(r)
    studies = sorted(by_study)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>coldstart_exp results</title>",
             f"<style>{CSS}</style></head><body>", "<h1>coldstart_exp results</h1>",
             f"<p>{len(rows)} runs in {len(studies)} studies, generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC "
             "by <code>make report</code> from <code>docs/results/runs.jsonl</code>. Cells: mean ± sample std over the "
             "seeds listed. Details, notes and significance: <code>docs/RESULTS.md</code>.</p>",
             "<nav>" + "".join(f'<a href="#{html.escape(s)}">{html.escape(s)}</a>' for s in studies) + "</nav>"]
    for s in studies:
        rs = by_study[s]
        parts += [f'<section id="{html.escape(s)}"><h2>{html.escape(s)}</h2>', overview_table(rs)]
        parts += [x for x in (bucket_chart(s, rs), time_to_quality(s, rs)) if x]
        parts.append("</section>")
    parts += [SCRIPT, "</body></html>"]
    return "\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default=str(ROOT / "docs" / "results" / "runs.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "outputs" / "report" / "index.html"))
    a = ap.parse_args()
    rows = load(Path(a.store))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(rows))
    print(f"{len(rows)} runs -> {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
