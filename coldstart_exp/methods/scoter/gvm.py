"""GVM: Generate reasoning chains, Validate them by retrieval, Mine the best step pattern.

Leakage rule (tested): this module only ever receives the *training* sequences and the loo
*validation* EvalSet. Histories are the training sequence (strictly before the validation item)
and the score of a chain is Recall@20 of its final next-item description against the validation
item. The test item is never passed in, so it cannot be read.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ...llm import GenerationParams, ParseError, load_template, parse_numbered_steps
from .mining import MinedPattern, run_mining

log = logging.getLogger(__name__)

_NEXT = re.compile(r"^\s*(?:next(?:\s+(?:movie|item|product))?|answer|prediction)\s*[:\-]\s*", re.IGNORECASE)


def history_text(item_ids, titles: list[str], n: int) -> str:
    """The user's most recent `n` item titles, oldest first (what the prompt shows)."""
    ids = [int(i) for i in list(item_ids)[-n:] if int(i) > 0]
    return "; ".join(titles[i] for i in ids) if ids else "(nothing yet)"


def parse_chain(text: str, max_steps: int = 8) -> list[str]:
    """Numbered steps; the last one is the next-item description (a "Next:" label is stripped)."""
    steps = parse_numbered_steps(text, min_steps=2, max_steps=max_steps)
    return steps


def final_description(steps: list[str]) -> str:
    return _NEXT.sub("", steps[-1]).strip() or steps[-1]


def sample_users(valid, n_users: int, seed: int, min_history: int = 3) -> np.ndarray:
    """Rows of the validation set (fixed seed, independent of the run seed so the cache is shared)."""
    ok = np.flatnonzero(np.array([len(h) >= min_history for h in valid.histories]))
    rng = np.random.default_rng(seed)
    rows = rng.permutation(ok)[: min(n_users, len(ok))]
    return np.sort(rows)


def generate(llm, template, valid, rows: np.ndarray, titles: list[str], n_chains: int, params: GenerationParams,
             history_items: int, domain: str) -> list[dict]:
    """n chains per sampled user at temperature > 0 (chain j uses decoding seed params.seed + j)."""
    prompts = [template.render(history=history_text(valid.histories[r], titles, history_items), domain=domain)
               for r in rows]
    out = []
    for j in range(n_chains):
        texts = llm.generate(prompts, params.replace(seed=params.seed + j), template_version=template.version_key,
                             desc=f"scoter.gvm.generate[{j + 1}/{n_chains}]")
        for r, t in zip(rows, texts):
            try:
                steps = parse_chain(t)
            except ParseError:
                steps = None
                llm.counters.add(parse_failures=1)
            out.append({"row": int(r), "user": int(valid.users[r]), "chain": j, "raw": t, "steps": steps})
    return out


def validate(chains: list[dict], valid, encoder, item_index, k: int = 20) -> list[dict]:
    """Score = Recall@k of the final description's top-k items against the *validation* item."""
    ok = [c for c in chains if c["steps"]]
    if not ok:
        return []
    q = encoder.encode([final_description(c["steps"]) for c in ok])
    _, top = item_index.search(q, k)
    for c, t in zip(ok, top):
        target = set(int(i) for i in valid.targets[c["row"]])
        c["score"] = len(target & set(t.tolist())) / max(1, len(target))
    return ok


def run_gvm(llm, encoder, item_index, train_valid, titles: list[str], gcfg, out_dir: Path, domain: str) -> MinedPattern:
    """The full G-V-M pass; writes chains, the pattern template and its statistics to out_dir.

    `train_valid` is the loo validation EvalSet (histories = training sequences). Nothing else of
    the split is needed or accepted.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    template = load_template(gcfg.prompt)
    rows = sample_users(train_valid, int(gcfg.users), int(gcfg.seed))
    params = GenerationParams(max_new_tokens=int(gcfg.max_new_tokens), temperature=float(gcfg.temperature),
                              top_p=float(gcfg.top_p), repetition_penalty=float(gcfg.repetition_penalty),
                              seed=int(gcfg.seed))
    chains = generate(llm, template, train_valid, rows, titles, int(gcfg.n_chains), params,
                      int(gcfg.history_items), domain)
    scored = validate(chains, train_valid, encoder, item_index, int(gcfg.recall_k))
    if not scored:
        raise RuntimeError("GVM: no chain could be parsed; check the prompt / model")
    steps = [c["steps"] for c in scored]
    emb = encoder.encode([s for c in steps for s in c])
    mined = run_mining(steps, [c["score"] for c in scored], emb, int(gcfg.k), int(gcfg.n_types),
                       int(gcfg.min_support), int(gcfg.seed))
    write_artifacts(out_dir, mined, scored, chains, domain)
    return mined


def pattern_instructions(mined_instructions: list[str], domain: str) -> list[str]:
    """Readable template lines: the exemplar of each step type, as an instruction."""
    out = []
    for i, ex in enumerate(mined_instructions):
        ex = re.sub(r"\s+", " ", ex).strip()[:120]
        last = i == len(mined_instructions) - 1
        out.append(f"Describe the next {domain} the user will choose, like: \"{ex}\"" if last
                    else f"A step like: \"{ex}\"")
    return out


def write_artifacts(out_dir: Path, mined: MinedPattern, scored: list[dict], chains: list[dict], domain: str) -> None:
    parsed = sum(1 for c in chains if c["steps"])
    doc = {
        "name": "scoter_mined_pattern",
        "k": len(mined.types),
        "types": [int(t) for t in mined.types],
        "steps": pattern_instructions(mined.instructions, domain),
        "exemplars": [str(s) for s in mined.instructions],
        "support": int(mined.support),
        "mean_score": None if mined.mean_score != mined.mean_score else round(float(mined.mean_score), 4),
        "chains": len(chains), "chains_parsed": parsed,
        "mean_score_all_chains": round(float(np.mean([c["score"] for c in scored])), 4),
        "type_exemplars": {int(k): str(v) for k, v in sorted(mined.type_exemplars.items())},
        "type_sizes": {int(k): int(v) for k, v in sorted(mined.type_sizes.items())},
    }
    (out_dir / "pattern.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120))
    pd.DataFrame([{**r, "pattern": "-".join(map(str, r["pattern"]))} for r in mined.stats]).to_csv(
        out_dir / "pattern_stats.csv", index=False)
    with open(out_dir / "gvm_chains.jsonl", "w") as f:
        for c in chains:
            f.write(json.dumps({k: c.get(k) for k in ("user", "chain", "steps", "score", "raw")}) + "\n")
