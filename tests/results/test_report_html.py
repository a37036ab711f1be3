"""`make report`: the static HTML page renders in headless Chromium with its tables and (decoded) images."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _report():
    spec = importlib.util.spec_from_file_location("make_report", ROOT / "scripts" / "make_report.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(study, method, seed, ndcg, wall):
    b = {"1-2": {"users": 4, "ndcg@10": ndcg / 2}, "21+": {"users": 6, "ndcg@10": ndcg * 1.5}}
    m = {s: {"overall": {"ndcg@10": ndcg, "recall@10": 2 * ndcg}, "users": 10, "buckets": b} for s in ("valid", "test")}
    return {"study": study, "data": "toy", "split": "loo", "method": method, "backbone": "sasrec", "variant": "default",
            "seed": seed, "timings": {"total_s": wall}, "machine": {}, "metrics": m, "run_dir": "-"}


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    rows = [_run("study_a", "baseline", 0, 0.10, 5.0), _run("study_a", "baseline", 1, 0.12, 6.0),
            _run("study_a", "scoter", 0, 0.15, 50.0), _run("study_b", "tiger", 0, 0.05, 500.0)]
    page = tmp_path / "index.html"
    page.write_text(_report().render(rows))
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                        "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    dom = r.stdout
    assert r.returncode == 0 and "<body" in dom, r.stderr[-2000:]
    assert len(re.findall(r"<table", dom)) == 2  # one overview table per study
    assert "0.1100 ± 0.0141" in dom  # baseline's two seeds, mean ± std, as rendered by the browser
    # 2 studies x (bucket chart + time-to-quality chart), every one decoded by the browser after load
    assert re.search(r'data-images="4"', dom) and re.search(r'data-images-loaded="4"', dom), dom[-600:]
    assert dom.count('href="#study_') == 2
