"""Batches: training windows of user sequences, and evaluation rows of an `EvalSet`."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .splits import EvalSet, Split
from .tables import Tables


def left_pad(seqs: list[np.ndarray], length: int | None = None, value: int = 0) -> torch.Tensor:
    """Stack sequences right-aligned (most recent last); at least one column."""
    L = max(1, max((len(s) for s in seqs), default=0)) if length is None else length
    out = np.full((len(seqs), L), value, dtype=np.int64)
    for r, s in enumerate(seqs):
        if len(s):
            s = s[-L:]
            out[r, L - len(s):] = s
    return torch.from_numpy(out)


def training_windows(seqs: dict[int, np.ndarray], max_len: int, from_empty: bool) -> list[tuple[int, np.ndarray]]:
    """Cut each user's sequence into windows of max_len + 1 items from the end, so every item
    is a target exactly once (long histories are not truncated away)."""
    out = []
    for u, s in seqs.items():
        if from_empty:
            s = np.concatenate([[0], s])
        end = len(s)
        while end >= 2:
            start = max(0, end - max_len - 1)
            out.append((u, s[start:end]))
            end = start + 1
            if start == 0:
                break
    return out


class TrainWindows(Dataset):
    def __init__(self, windows: list[tuple[int, np.ndarray]]):
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int):
        return self.windows[i]


class LengthGroupedSampler(Sampler[int]):
    """Random order in which neighbouring indices have similar lengths.

    Batches are padded to their longest window, so grouping by length cuts padding (Amazon
    histories are mostly short with a long tail) while keeping batch composition random."""

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int, group_batches: int = 50):
        self.lengths, self.batch_size, self.seed, self.group = np.asarray(lengths), batch_size, seed, group_batches
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.lengths)

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning each epoch, so a resumed run replays the same order."""
        self.epoch = epoch

    def __iter__(self):
        rng = np.random.default_rng(self.seed + self.epoch)
        self.epoch += 1
        perm = rng.permutation(len(self.lengths))
        chunk = self.batch_size * self.group
        batches = []
        for s in range(0, len(perm), chunk):
            part = perm[s : s + chunk]
            part = part[np.argsort(-self.lengths[part], kind="stable")]
            batches += [part[i : i + self.batch_size] for i in range(0, len(part), self.batch_size)]
        for b in rng.permutation(len(batches)):
            yield from batches[b].tolist()


class RandomOrder(Sampler[int]):
    """A fresh permutation each epoch (seed + epoch), so a resumed run replays the same order."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        rng = np.random.default_rng(self.seed + self.epoch)
        self.epoch += 1
        yield from rng.permutation(self.n).tolist()


class LengthOrder(Sampler[int]):
    """Evaluation rows ordered by (truncated) history length, ties by row: each batch is padded to
    its own longest history, so grouping similar lengths removes most of the padding a transformer
    would otherwise encode (Amazon histories are mostly short with a long tail). Metrics are per
    row and gathered by row id, so the order never changes a result."""

    def __init__(self, lengths: np.ndarray):
        self.order = np.argsort(np.asarray(lengths), kind="stable")

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        yield from self.order.tolist()


class EvalRows(Dataset):
    def __init__(self, es: EvalSet):
        self.es, self.seen = es, es.masked()

    def __len__(self) -> int:
        return len(self.es)

    def __getitem__(self, r: int):
        es = self.es
        return r, int(es.users[r]), es.histories[r], es.targets[r], self.seen[r]


class SequenceDataModule(L.LightningDataModule):
    """Serves any `Split` to any backbone: windows for training, one row per user for evaluation."""

    def __init__(self, tables: Tables, split: Split, max_len: int = 50, batch_size: int = 256,
                 eval_batch_size: int = 512, num_workers: int = 0, train_from_empty: bool = False,
                 seed: int = 0, eval_by_length: bool = True, train_batches: str = "length_grouped",
                 target_weight: str = "uniform"):
        super().__init__()
        if train_batches not in ("length_grouped", "random"):
            raise ValueError(f"datamodule.train_batches must be 'length_grouped' or 'random', got {train_batches!r}")
        if target_weight not in ("batch", "uniform"):
            raise ValueError(f"datamodule.target_weight must be 'batch' or 'uniform', got {target_weight!r}")
        self.train_batches, self.target_weight = train_batches, target_weight
        self.eval_by_length = eval_by_length  # False: evaluation rows in row order (the former behaviour)
        self.tables, self.split = tables, split
        self.max_len, self.batch_size, self.eval_batch_size = max_len, batch_size, eval_batch_size
        self.num_workers, self.seed = num_workers, seed
        self.windows = training_windows(split.train_sequences(), max_len, train_from_empty)
        self.target_norm = None  # set per run in train_dataloader when target_weight is 'uniform'
        codes, self.profile_cards = tables.profile_codes()
        self.profiles = torch.from_numpy(codes)
        self.candidate_masks = {name: self._candidates(es) for name, es in self.eval_sets().items()}

    def eval_sets(self) -> dict[str, EvalSet]:
        return {"valid": self.split.valid, **self.split.tests}

    def _candidates(self, es: EvalSet) -> torch.Tensor | None:
        if es.candidates is None:
            return None
        mask = torch.zeros(self.tables.n_items + 1, dtype=torch.bool)
        mask[torch.as_tensor(es.candidates)] = True
        return mask

    def _profile(self, users: torch.Tensor) -> torch.Tensor:
        return self.profiles[users] if self.profiles.shape[1] else torch.zeros(len(users), 0, dtype=torch.long)

    def collate_train(self, rows):
        users = torch.tensor([u for u, _ in rows])
        seq = left_pad([w[:-1] for _, w in rows])
        pos = left_pad([w[1:] for _, w in rows], seq.shape[1])
        batch = {"user": users, "seq": seq, "pos": pos, "profile": self._profile(users)}
        if self.target_norm is not None:
            batch["target_norm"] = torch.tensor(self.target_norm)
        return batch

    def _collate_eval(self, rows, name: str):
        r, users, hist, tgt, seen = zip(*rows)
        users = torch.tensor(users)
        batch = {
            "row": torch.tensor(r), "user": users, "seq": left_pad([h[-self.max_len:] for h in hist]),
            "targets": left_pad(list(tgt), value=-1), "seen": left_pad(list(seen)),
            "profile": self._profile(users),
        }
        if self.candidate_masks.get(name) is not None:
            batch["candidates"] = self.candidate_masks[name]
        return batch

    def train_dataloader(self):
        """`trainer.batch_size` is the global batch. Under DDP each of the W processes loads batch_size / W rows:
        Lightning hands rank r every W-th position of the sampler's order, so the W rank batches of step k make
        up exactly the 1-process run's batch k, and DDP's gradient averaging trains on the same batches in the
        same number of steps (up to float summation order and per-rank dropout draws)."""
        world = self.trainer.world_size if self.trainer is not None else 1
        if self.batch_size % world:
            raise ValueError(f"trainer.batch_size={self.batch_size} must be divisible by the {world} DDP processes "
                             "(it is the global batch; each process loads batch_size / processes rows)")
        lengths = np.array([len(w) for _, w in self.windows])
        if self.target_weight == "uniform":  # the epoch's mean number of targets per (rank) batch
            self.target_norm = float((lengths - 1).sum()) / -(-len(lengths) // (self.batch_size // world))
        sampler = (LengthGroupedSampler(lengths, self.batch_size, self.seed) if self.train_batches == "length_grouped"
                   else RandomOrder(len(lengths), self.seed))
        return DataLoader(TrainWindows(self.windows), self.batch_size // world, sampler=sampler,
                          collate_fn=self.collate_train, num_workers=self.num_workers, drop_last=False)

    def eval_loader(self, name: str) -> DataLoader:
        es = self.eval_sets()[name]
        order = LengthOrder([min(len(h), self.max_len) for h in es.histories]) if self.eval_by_length else None
        return DataLoader(EvalRows(es), self.eval_batch_size, shuffle=False, sampler=order,
                          collate_fn=lambda rows: self._collate_eval(rows, name), num_workers=self.num_workers)

    def val_dataloader(self):
        return self.eval_loader("valid")

    def test_dataloader(self):
        return [self.eval_loader(n) for n in self.split.tests]
