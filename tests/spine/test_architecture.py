"""House rules that keep the code one shape: file size, no import cycles, one encoder, one index builder."""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

PKG = ROOT / "coldstart_exp"


def _py_files(*dirs):
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py"))


def test_no_file_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in _py_files("coldstart_exp", "scripts", "tests")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def _module(path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path) -> set[str]:
    """Project modules imported at module level (function-local imports are lazy by intent)."""
    mod = _module(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("coldstart_exp")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.startswith("coldstart_exp"):
                out.add(base)
                out |= {f"{base}.{a.name}" for a in node.names}
    return out


def test_no_import_cycles():
    files = {_module(p): p for p in _py_files("coldstart_exp")}
    graph = {m: {i for i in _imports(p) if i in files and i != m} for m, p in files.items()}
    for m in list(graph):  # a package's __init__ is what `import pkg` runs; submodules import it first
        graph[m] |= {p for p in (m.rsplit(".", k)[0] for k in range(1, m.count(".") + 1)) if p in files and p != m}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1 and not m.startswith(n + "."):  # importing an ancestor package is not a cycle
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    real = [c for c in cycles if not all(c[i + 1].startswith(c[i] + ".") or c[i].startswith(c[i + 1] + ".")
                                         for i in range(len(c) - 1))]
    assert not real, real[:5]


def test_one_sentence_encoder_and_one_index_builder():
    src = {p: p.read_text() for p in _py_files("coldstart_exp")}
    st = [p.name for p, s in src.items() if re.search(r"SentenceTransformer\(", s)]
    faiss_build = [p.name for p, s in src.items() if re.search(r"Index(FlatIP|FlatL2|HNSWFlat|IVF)", s)]
    assert st == ["encoder.py"] and faiss_build == ["index.py"], (st, faiss_build)
