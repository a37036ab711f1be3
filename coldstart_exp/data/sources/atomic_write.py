"""Write standard tables as RecBole atomic files that `Atomic` reads back into the same tables:
`<name>.inter` (interactions in table order), `<name>.item` (metadata of items 1..n), `<name>.user`.

Types: float columns -> `float` (NaN as empty), list columns -> `token_seq` joined by `seq_separator`
(so `data.source.seq_separator` must match when reading back), everything else -> `token`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..tables import Tables


def _cell(v, kind: str, sep: str) -> str:
    if kind == "token_seq":
        parts = [str(x) for x in v]
        if any(sep in p for p in parts):
            raise DataError(f"a token_seq value {parts} contains the separator {sep!r}: choose another seq_separator")
        return sep.join(parts)
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if kind == "float" and not isinstance(v, int | np.integer):
        return repr(float(v))
    return str(v)


def _kinds(df: pd.DataFrame) -> dict[str, str]:
    out = {}
    for col in df.columns:
        values = df[col].dropna()
        if pd.api.types.is_float_dtype(df[col]):
            out[col] = "float"
        elif len(values) and all(isinstance(v, list | tuple | np.ndarray) for v in values):
            out[col] = "token_seq"
        else:
            out[col] = "token"
    return out


def _write(path: Path, df: pd.DataFrame, kinds: dict[str, str], sep: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", quotechar='"', lineterminator="\n")
        w.writerow([f"{c}:{k}" for c, k in kinds.items()])
        cols = [(df[c].tolist(), k) for c, k in kinds.items()]
        for row in zip(*(v for v, _ in cols)):
            w.writerow([_cell(v, k, sep) for v, (_, k) in zip(row, cols)])


def write_atomic(t: Tables, folder: Path, name: str, seq_separator: str = "|") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    inter = t.interactions
    df = pd.DataFrame({"user_id": t.user_ids[inter.user.to_numpy()], "item_id": t.item_ids[inter.item.to_numpy()],
                       "timestamp": inter.timestamp.to_numpy()})
    kinds = {"user_id": "token", "item_id": "token", "timestamp": "float"}
    if "rating" in inter:
        df["rating"] = inter.rating.to_numpy(np.float64)
        kinds["rating"] = "float"
    written = [folder / f"{name}.inter"]
    _write(written[0], df, kinds, seq_separator)
    items = t.items.iloc[1:].reset_index(drop=True)
    items.insert(0, "item_id", t.item_ids[1:])
    written.append(folder / f"{name}.item")
    _write(written[-1], items, _kinds(items), seq_separator)
    if t.users is not None:
        users = t.users.reset_index(drop=True)
        users.insert(0, "user_id", t.user_ids)
        written.append(folder / f"{name}.user")
        _write(written[-1], users, {c: "token" for c in users.columns}, seq_separator)
    return written
