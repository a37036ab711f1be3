import numpy as np
import pytest
import torch

from coldstart_exp.eval.evaluator import RankingEvaluator, assign_buckets, bucket_labels


def test_bucket_labels_and_assignment():
    edges = [0, 1, 3, 6, 11, 21]
    assert bucket_labels(edges) == ["0", "1-2", "3-5", "6-10", "11-20", "21+"]
    got = assign_buckets(np.array([0, 1, 2, 3, 5, 6, 10, 11, 20, 21, 500]), edges)
    assert got.tolist() == ["0", "1-2", "1-2", "3-5", "3-5", "6-10", "6-10", "11-20", "11-20", "21+", "21+"]
    with pytest.raises(ValueError):
        assign_buckets(np.array([1]), [2, 5])
    with pytest.raises(ValueError):
        assign_buckets(np.array([1]), [0, 5, 3])


class _Fixed(torch.nn.Module):
    """Scores = a fixed (n_users, n_items+1) matrix, for evaluator tests."""

    def __init__(self, scores):
        super().__init__()
        self.s = scores

    def topk(self, batch, k, exclude=None, candidates=None):
        from coldstart_exp.backbones.base import Backbone

        return Backbone.topk(self, batch, k, exclude, candidates)

    def scores(self, batch):
        return self.s[batch["user"]].clone()


def test_masking_and_candidates_change_ranking():
    s = torch.tensor([[0.0, 5, 4, 3, 2, 1]])  # items 1..5, item 1 best
    batch = {"user": torch.tensor([0]), "row": torch.tensor([0]), "seen": torch.tensor([[1]]),
             "targets": torch.tensor([[2]])}
    ev = RankingEvaluator([1], ["hit"], mask_seen=True, bucket_edges=[0])
    assert ev.topk_items(_Fixed(s), batch).tolist() == [[2]]  # item 1 masked
    ev_nomask = RankingEvaluator([1], ["hit"], mask_seen=False, bucket_edges=[0])
    assert ev_nomask.topk_items(_Fixed(s), batch).tolist() == [[1]]
    cand = torch.zeros(6, dtype=torch.bool)
    cand[[3, 5]] = True
    batch["candidates"] = cand
    assert ev_nomask.topk_items(_Fixed(s), batch).tolist() == [[3]]
    assert ev_nomask.topk_items(_Fixed(s), batch).tolist() != [[0]]  # padding never recommended


def test_gather_deduplicates_padded_rows():
    ev = RankingEvaluator([1], ["hit"], mask_seen=False, bucket_edges=[0])
    ev._rows = [torch.tensor([0, 1]), torch.tensor([2, 0])]  # row 0 repeated (DistributedSampler padding)
    ev._values = [torch.tensor([[1.0], [0.0]]), torch.tensor([[1.0], [1.0]])]
    rows, vals = ev.gather()
    assert rows.tolist() == [0, 1, 2] and vals[:, 0].tolist() == [1.0, 0.0, 1.0]
