"""A small synthetic review table (user, item, rating, timestamp, title, text) for PAT tests."""

import numpy as np
import pandas as pd

WORDS = {
    "guitar": "string tone fret neck bright warm pick",
    "cable": "plug jack noise shield length sturdy cheap",
    "pedal": "effect distortion switch sound loud boost",
}


def synthetic_reviews(n_users: int = 40, n_items: int = 15, per_user: tuple[int, int] = (3, 11), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kinds = list(WORDS)
    rows = []
    for u in range(n_users):
        n = int(rng.integers(*per_user))
        items = rng.choice(n_items, size=min(n, n_items), replace=False)
        for t, it in enumerate(items):
            kind = kinds[it % 3]
            w = rng.choice(WORDS[kind].split(), size=6).tolist()
            loud = "!" if u % 2 else "."
            rows.append({"user": u, "item": int(it) + 1, "rating": float(rng.integers(1, 6)),
                         "timestamp": 1000 * u + 10 * t, "title": f"{w[0]} {kind}{loud}",
                         "text": f"The {kind} has {' '.join(w)}{loud} I like the {w[1]}{loud}"})
    return pd.DataFrame(rows)
