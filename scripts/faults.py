"""Re-run the fault regression suite (tests/reliability) and print one table row per fault: its class, id
and outcome. Each fault is one line in a FAULTS list (or one test) of tests/reliability/test_*_faults.py;
resume faults train small synthetic models, so run this through the machine's slot semaphore:

    /work/bin/slot-run python scripts/faults.py [-k pattern]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class _Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            module, _, name = report.nodeid.partition("::")
            kind = Path(module).stem.removeprefix("test_").removesuffix("_faults")
            self.rows.append((kind, name.removeprefix("test_"), report.outcome))


def main(argv: list[str]) -> int:
    table = _Table()
    if str(ROOT) not in sys.path:  # the tests import `tests.conftest`; run as a script, sys.path[0] is scripts/
        sys.path.insert(0, str(ROOT))
    rc = pytest.main([str(ROOT / "tests" / "reliability"), "-q", "-p", "no:cacheprovider", *argv], plugins=[table])
    print("\n| class | fault | outcome |\n|---|---|---|")
    for kind, name, outcome in table.rows:
        print(f"| {kind} | {name} | {outcome} |")
    bad = sum(o != "passed" for *_, o in table.rows)
    print(f"\n{len(table.rows)} faults, {len(table.rows) - bad} handled as expected, {bad} not")
    if not table.rows:
        print("no fault ran: see pytest's collection errors above")
        return int(rc) or 1
    return int(rc)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
