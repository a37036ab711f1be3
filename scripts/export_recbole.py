"""Export a data set's split as RecBole benchmark files, so RecBole runs on *identical* splits.

    python scripts/export_recbole.py data=amazon_beauty split=loo --out outputs/recbole

writes, under `<out>/<data>/`:
- `<data>.inter`, `.item`, `.user`: the tables as RecBole atomic files; `data=atomic` reads them back
  into identical tables (so identical splits and metrics):
  `python -m coldstart_exp data=atomic data.source.dir=<out> data.source.dataset=<data> data.source.seq_separator='|'`
  (list columns such as categories are `token_seq` joined by `|`, RecBole's `seq_separator`);
- `<data>.{train,valid,test}.inter`: the split in RecBole's format for sequential models
  (`user_id:token  item_id_list:token_seq  item_id:token`, every training prefix as its own row, as
  RecBole's own augmentation does). Point RecBole at it with `benchmark_filename: [train, valid, test]`,
  `data_path: <out>`, `dataset: <data>`, `MAX_ITEM_LIST_LENGTH` = our `data.max_len`, and
  full-ranking evaluation (`eval_args.mode: full`).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> None:
    from hydra import compose, initialize_config_dir

    from coldstart_exp.data.loading import load_tables
    from coldstart_exp.data.sources.atomic_write import write_atomic
    from coldstart_exp.data.splits import make_split

    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else ROOT / "outputs" / "recbole"
    overrides = [a for i, a in enumerate(argv) if a != "--out" and (i == 0 or argv[i - 1] != "--out")]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, "paths.output_dir=/tmp/export"])
    tables = load_tables(cfg.data, cfg.paths.cache_dir)
    split = make_split(tables, cfg.split)
    if split.kind != "loo":
        raise SystemExit("RecBole's sequential benchmark files describe leave-one-out; use split=loo")
    L = cfg.data.max_len
    uid, iid = tables.user_ids, tables.item_ids
    folder = out / cfg.data.name
    write_atomic(tables, folder, cfg.data.name, seq_separator="|")
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"

    def line(u, hist, target) -> str:
        return f"{uid[u]}\t{' '.join(str(iid[i]) for i in hist[-L:])}\t{iid[target]}\n"

    with open(folder / f"{cfg.data.name}.train.inter", "w") as fh:
        fh.write(header)
        for u, seq in split.train_sequences().items():
            for t in range(1, len(seq)):
                fh.write(line(u, seq[:t], seq[t]))
    for name, es in (("valid", split.valid), ("test", split.tests["test"])):
        with open(folder / f"{cfg.data.name}.{name}.inter", "w") as fh:
            fh.write(header)
            for u, h, tg in zip(es.users, es.histories, es.targets):
                fh.write(line(u, h, tg[0]))
    print(f"wrote {folder}/{cfg.data.name}.{{inter,item{',user' if tables.users is not None else ''}}} and "
          f"{cfg.data.name}.{{train,valid,test}}.inter\nread back with: python -m coldstart_exp data=atomic "
          f"data.source.dir={out} data.source.dataset={cfg.data.name} data.source.seq_separator='|' "
          f"data.max_len={L}")


if __name__ == "__main__":
    main(sys.argv[1:])
