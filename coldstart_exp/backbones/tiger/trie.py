"""Prefix trie over semantic IDs as dense tensors, so constrained decoding is a table lookup.

`child[node, code]` is the node reached from `node` by emitting `code` at its level (-1: no item
has that prefix); `item[node]` is the item at a leaf (0 elsewhere). Beam search keeps node ids per
beam and masks every code whose child is -1, so it can only ever produce IDs of real items.
"""

from __future__ import annotations

import numpy as np
import torch


class Trie:
    def __init__(self, ids: np.ndarray, items: np.ndarray, width: int):
        """`ids` (N, D) code sequences (unique rows) of `items` (N,); codes < `width`."""
        n, depth = ids.shape
        self.depth, self.width = depth, width
        child = [np.full(width, -1, dtype=np.int32)]
        item = [0]
        for row, it in zip(ids.tolist(), items.tolist()):
            node = 0
            for c in row:
                nxt = child[node][c]
                if nxt < 0:
                    nxt = len(child)
                    child[node][c] = nxt
                    child.append(np.full(width, -1, dtype=np.int32))
                    item.append(0)
                node = nxt
            if item[node]:
                raise ValueError(f"duplicate semantic ID {row} (items {item[node]} and {it})")
            item[node] = it
        self.child = torch.from_numpy(np.stack(child))
        self.item = torch.tensor(item, dtype=torch.long)

    def to(self, device) -> Trie:
        self.child, self.item = self.child.to(device), self.item.to(device)
        return self

    @property
    def n_nodes(self) -> int:
        return len(self.item)
