"""Ranking metrics against hand-computed values (RecBole definitions)."""

import math

import torch

from coldstart_exp.eval.evaluator import hits_matrix, ranking_metrics


def test_single_target_hand_computed():
    topk = torch.tensor([[5, 3, 9, 1], [2, 4, 6, 8], [7, 7, 7, 7]])
    targets = torch.tensor([[9], [1], [7]])
    hits = hits_matrix(topk, targets)
    m = ranking_metrics(hits, torch.tensor([1, 1, 1]), [1, 3, 4])
    # user 0: hit at rank 3
    assert m["hit@1"].tolist() == [0, 0, 1]
    assert m["recall@3"][0] == 1 and m["recall@1"][0] == 0
    assert math.isclose(m["ndcg@3"][0].item(), 1 / math.log2(4), rel_tol=1e-6)
    assert math.isclose(m["mrr@4"][0].item(), 1 / 3, rel_tol=1e-6)
    # user 1: no hit
    assert m["ndcg@4"][1] == 0 and m["mrr@4"][1] == 0 and m["recall@4"][1] == 0


def test_multi_target_recall_and_ndcg():
    # targets {1, 2, 3}; list [1, 9, 3, 8]: hits at ranks 1 and 3
    topk = torch.tensor([[1, 9, 3, 8]])
    targets = torch.tensor([[1, 2, 3]])
    m = ranking_metrics(hits_matrix(topk, targets), torch.tensor([3]), [2, 4])
    assert math.isclose(m["recall@4"].item(), 2 / 3, rel_tol=1e-6)
    assert math.isclose(m["recall@2"].item(), 1 / 3, rel_tol=1e-6)
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # min(|T|, K) = 3 ideal hits
    assert math.isclose(m["ndcg@4"].item(), dcg / idcg, rel_tol=1e-6)
    assert math.isclose(m["precision@4"].item(), 0.5, rel_tol=1e-6)
    # @2: dcg 1, ideal = 1 + 1/log2(3)
    assert math.isclose(m["ndcg@2"].item(), 1 / (1 + 1 / math.log2(3)), rel_tol=1e-6)


def test_padding_targets_are_ignored():
    topk = torch.tensor([[4, -1, 2]])
    targets = torch.tensor([[2, -1, -1]])
    m = ranking_metrics(hits_matrix(topk, targets), torch.tensor([1]), [3])
    assert math.isclose(m["ndcg@3"].item(), 1 / math.log2(4), rel_tol=1e-6)
    assert m["recall@3"].item() == 1
