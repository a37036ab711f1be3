"""Read an offline W&B run file (`offline-run-*/run-*.wandb`) without the network: the file is a LevelDB-style
log (7-byte file header ":W&B" + magic + version; 32 KiB blocks of records with a 7-byte header: crc32,
length, type FULL/FIRST/MIDDLE/LAST) holding serialised `wandb_internal_pb2.Record` messages."""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    ident, _magic, _version = struct.unpack("<4sHB", data[:7])
    assert ident == b":W&B", f"{path}: not a W&B run file"
    pos, parts = 7, []
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # block trailer: padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == FULL:
            parts = [chunk]
        elif kind == FIRST:
            parts = [chunk]
            continue
        elif kind == MIDDLE:
            parts.append(chunk)
            continue
        else:
            parts.append(chunk)
        rec = pb.Record()
        rec.ParseFromString(b"".join(parts))
        parts = []
        yield rec


def read_run(run_dir: Path) -> dict:
    """{"group", "job_type", "tags", "config", "history": [rows], "summary": {...}} of one offline run."""
    (f,) = list(Path(run_dir).glob("run-*.wandb"))
    out = {"group": None, "job_type": None, "tags": [], "config": {}, "history": [], "summary": {}}
    for rec in records(f):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out.update(group=rec.run.run_group, job_type=rec.run.job_type, tags=list(rec.run.tags))
            out["config"].update({i.key: _val(i.value_json) for i in rec.run.config.update})
        elif kind == "config":
            out["config"].update({i.key: _val(i.value_json) for i in rec.config.update})
        elif kind == "history":
            out["history"].append({(i.key or "/".join(i.nested_key)): _val(i.value_json) for i in rec.history.item})
        elif kind == "summary":
            out["summary"].update({(i.key or "/".join(i.nested_key)): _val(i.value_json) for i in rec.summary.update})
    out["config"] = {k: v["value"] if isinstance(v, dict) and set(v) <= {"value", "desc"} and "value" in v else v
                     for k, v in out["config"].items()}  # the run record stores {"value": x}, config records x
    return out


def _val(s: str):
    try:
        return json.loads(s)
    except ValueError:
        return s
