#!/usr/bin/env python
"""Run only SCoTER's GVM pass (Generate-Validate-Mine) and print the mined pattern.

    python scripts/scoter_gvm.py data=ml100k                  # same as: python -m coldstart_exp method=scoter method.stage=gvm data=ml100k
    python scripts/scoter_gvm.py experiment=scoter_ml100k     # the benchmark's budget

Artifacts (pattern.yaml, pattern_stats.csv, gvm_chains.jsonl) go to
${paths.cache_dir}/scoter/<data>/gvm-<hash>/, where every later `method=scoter` run with the same
GVM settings and LLM finds and reuses them.
"""

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> None:
    import tempfile

    from coldstart_exp.methods.scoter import run

    out = tempfile.mkdtemp(prefix="scoter_gvm_")
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["method=scoter", "logger=none", f"paths.output_dir={out}", *argv,
                                           "method.stage=gvm"])
    run(cfg)


if __name__ == "__main__":
    main(sys.argv[1:])
