"""Text-generation metrics per user: ROUGE-1, ROUGE-L (`rouge-score`) and METEOR (`nltk`).

METEOR's synonym stage needs the WordNet synsets, which no PyPI package ships (checked: `nltk` has
only the reader, `nltkdata` 0.0.1 is a 788-byte stub, `oewn-core` a 50 KB library without data), and
runs here have no network for `nltk.download`. So unless a WordNet reader is passed in, METEOR runs
with the exact and Porter-stem matching stages only and is reported as `meteor_nosyn` everywhere
(metrics.json, per-user tables, console). It is <= full METEOR on the same pair (synonym matches
can only add aligned words).

Both metrics see the same tokens: `rouge_score`'s tokenizer (lower-case, runs of [a-z0-9]).

    ev = GenerationEvaluator(bucket_edges=[0, 1, 3, 6])
    per_user = ev.table(users, activity, predictions, references)   # one row per user
    metrics = ev.aggregate({"test": per_user})  # metrics["test"]["overall"]["rouge1"], ["buckets"][...]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .evaluator import assign_buckets, bucket_labels

GENERATION_BUCKETS = [0, 1, 3, 6]  # visible own reviews: 0, 1-2, 3-5, 6+


class _NoSynonyms:
    """Stands in for nltk's WordNet reader: no synsets, so METEOR keeps exact + stem stages."""

    @staticmethod
    def synsets(word):  # noqa: ARG004 - same signature as WordNetCorpusReader.synsets
        return []


class GenerationEvaluator:
    def __init__(self, metrics: Sequence[str] = ("rouge1", "rougeL", "meteor"), bucket_edges=GENERATION_BUCKETS,
                 use_stemmer: bool = True, wordnet=None):
        from rouge_score import rouge_scorer, tokenize

        unknown = set(metrics) - {"rouge1", "rouge2", "rougeL", "meteor"}
        if unknown:
            raise ValueError(f"generation metrics must be among rouge1, rouge2, rougeL, meteor; got {sorted(unknown)}")
        self.metrics, self.bucket_edges = list(metrics), list(bucket_edges)
        self.use_stemmer = use_stemmer
        rouge = [m for m in self.metrics if m.startswith("rouge")]
        self._rouge = rouge_scorer.RougeScorer(rouge, use_stemmer=use_stemmer) if rouge else None
        self._tokenize = tokenize.tokenize
        self.wordnet = wordnet
        self.meteor_name = "meteor" if wordnet is not None else "meteor_nosyn"

    @property
    def names(self) -> list[str]:
        return [self.meteor_name if m == "meteor" else m for m in self.metrics]

    def facts(self, split=None) -> dict:
        """The protocol facts metrics.json records for this task (`metrics_info`)."""
        return {"metrics_info": self.metric_facts()}

    def metric_facts(self) -> dict:
        return {"metrics": self.names, "rouge": "rouge-score F1" + (", Porter stemmer" if self.use_stemmer else ""),
                "meteor": "nltk meteor_score (alpha .9, beta 3, gamma .5) on rouge-score tokens; "
                + ("exact + stem + WordNet synonyms" if self.wordnet is not None
                   else "exact + stem stages only (no WordNet synsets offline)"),
                "bucket_edges": self.bucket_edges}

    def score(self, prediction: str, reference: str) -> dict[str, float]:
        """Metric values of one prediction against one reference (empty text scores 0)."""
        out: dict[str, float] = {}
        if self._rouge is not None:
            s = self._rouge.score(reference or "", prediction or "")
            out.update({m: float(s[m].fmeasure) for m in self.metrics if m.startswith("rouge")})
        if "meteor" in self.metrics:
            out[self.meteor_name] = self.meteor(prediction, reference)
        return {n: out[n] for n in self.names}

    def meteor(self, prediction: str, reference: str) -> float:
        from nltk.translate.meteor_score import meteor_score

        hyp, ref = self._tokenize(prediction or "", None), self._tokenize(reference or "", None)
        if not hyp or not ref:
            return 0.0
        return float(meteor_score([ref], hyp, wordnet=self.wordnet or _NoSynonyms()))

    def table(self, users: Sequence[int], activity: Sequence[int], predictions: Sequence[str],
              references: Sequence[str]) -> pd.DataFrame:
        """Per-user table: row, user, activity (visible own reviews), bucket, one column per metric."""
        if not (len(users) == len(activity) == len(predictions) == len(references)):
            raise ValueError("users, activity, predictions and references must have the same length, got "
                             f"{len(users)}, {len(activity)}, {len(predictions)}, {len(references)}")
        vals = [self.score(p, r) for p, r in zip(predictions, references)]
        df = pd.DataFrame(vals, columns=self.names)
        act = np.asarray(activity, dtype=np.int64)
        df.insert(0, "bucket", assign_buckets(act, self.bucket_edges))
        df.insert(0, "activity", act)
        df.insert(0, "user", np.asarray(users, dtype=np.int64))
        df.insert(0, "row", np.arange(len(df)))
        return df

    def aggregate(self, tables_by_set: dict[str, pd.DataFrame]) -> dict:
        """`{set: {"overall": {name: mean}, "users": n, "buckets": {label: {"users": n, name: mean}}}}`,
        the same shape as the ranking metrics.json (`eval/report.py`)."""
        order = bucket_labels(self.bucket_edges)
        out = {}
        for set_name, t in tables_by_set.items():
            out[set_name] = {
                "overall": {n: float(t[n].mean()) if len(t) else float("nan") for n in self.names},
                "users": len(t),
                "buckets": {b: {"users": int((t.bucket == b).sum()),
                                **{n: float(t.loc[t.bucket == b, n].mean()) for n in self.names}}
                            for b in order if (t.bucket == b).any()},
            }
        return out


def paired_test(a: pd.DataFrame, b: pd.DataFrame, names: Sequence[str]) -> dict:
    """Per-user paired comparison of system `a` against `b` on the same users (joined on `user`):
    mean difference a - b, wins/losses/ties and the two-sided Wilcoxon signed-rank p-value
    (zero differences dropped; None when every difference is zero)."""
    from scipy.stats import wilcoxon

    j = a.merge(b, on="user", suffixes=("_a", "_b"))
    if len(j) != len(a) or len(j) != len(b):
        raise ValueError(f"paired test needs the same users in both tables ({len(a)} vs {len(b)}, {len(j)} shared)")
    out = {}
    for n in names:
        d = (j[f"{n}_a"] - j[f"{n}_b"]).to_numpy()
        nz = d[d != 0]
        p = float(wilcoxon(nz).pvalue) if len(nz) else None
        out[n] = {"users": len(d), "mean_diff": float(d.mean()), "wins": int((d > 0).sum()),
                  "losses": int((d < 0).sum()), "ties": int((d == 0).sum()), "wilcoxon_p": p}
    return out
