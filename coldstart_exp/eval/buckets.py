"""Activity buckets: bins of how many training interactions a user (or item) has."""

from __future__ import annotations

import numpy as np

DEFAULT_EDGES = [0, 1, 3, 6, 11, 21]  # -> 0, 1-2, 3-5, 6-10, 11-20, 21+


def bucket_labels(edges: list[int]) -> list[str]:
    labels = []
    for lo, hi in zip(edges, list(edges[1:]) + [None]):
        if hi is None:
            labels.append(f"{lo}+")
        elif hi - lo == 1:
            labels.append(str(lo))
        else:
            labels.append(f"{lo}-{hi - 1}")
    return labels


def assign_buckets(activity: np.ndarray, edges: list[int]) -> np.ndarray:
    """Label of each value's bucket; values below the first edge are an error, not a silent bin."""
    activity = np.asarray(activity)
    if len(activity) and activity.min() < edges[0]:
        raise ValueError(f"activity {activity.min()} below the first bucket edge {edges[0]}")
    if list(edges) != sorted(set(edges)):
        raise ValueError(f"eval.bucket_edges must be strictly increasing, got {list(edges)}")
    idx = np.searchsorted(np.asarray(edges), activity, side="right") - 1
    return np.asarray(bucket_labels(edges), dtype=object)[idx]
