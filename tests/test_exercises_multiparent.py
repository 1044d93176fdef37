"""The checks of chapter 7's exercises accept a right answer and reject a wrong one."""

import pytest
import torch

from causal_tutorial.estimators import one_parent_estimator, soft_cross_entropy
from causal_tutorial.exercises.multiparent import (
    SMOOTHING_GRID,
    check_best_smoothing,
    check_match_counts,
    check_parent_adjacencies,
)
from causal_tutorial.graphs import multi_parent_dag
from causal_tutorial.tasks import MultiParentTask

T = 12


def _adjacencies(T):
    adj = torch.zeros(2, T, T)
    for i in range(2, T):
        adj[0, i, (i - 1) // 2] = 1
        adj[1, i, i - 1] = 1
    return adj


@pytest.fixture(scope="module")
def batch():
    task = MultiParentTask(5, T, multi_parent_dag(T), 0.1, root_law="dirichlet")
    return task.sample(2048, torch.Generator().manual_seed(0))


def test_check_parent_adjacencies_accepts_the_graph_and_rejects_swapped_transposed_or_shifted():
    adj = _adjacencies(T)
    assert check_parent_adjacencies(adj, T)
    with pytest.raises(AssertionError, match="swapped"):
        check_parent_adjacencies(adj.flip(0), T)
    with pytest.raises(AssertionError, match="transposed"):
        check_parent_adjacencies(adj.transpose(1, 2), T)
    shifted = adj.clone()
    shifted[0] = 0
    for i in range(2, T):
        shifted[0, i, i // 2] = 1  # i // 2 instead of (i - 1) // 2
    with pytest.raises(AssertionError, match="differs"):
        check_parent_adjacencies(shifted, T)
    with pytest.raises(AssertionError, match=r"\(2, T, T\)"):
        check_parent_adjacencies(adj[0], T)


def test_check_match_counts_accepts_the_counts_and_rejects_swapped_or_off_by_one(batch):
    tokens = batch.tokens
    last = tokens[:, -1:]
    one = (tokens[:, 1 : T - 1] == last).sum(1)
    p0 = torch.tensor([(i - 1) // 2 for i in range(2, T)])
    two = ((tokens[:, 1 : T - 1] == last) & (tokens[:, p0] == tokens[:, (T - 1) // 2 : (T - 1) // 2 + 1])).sum(1)
    assert check_match_counts(two, one, tokens)
    with pytest.raises(AssertionError, match="swapped"):
        check_match_counts(one, two, tokens)
    with pytest.raises(AssertionError, match="n_one is wrong"):
        check_match_counts(two, (tokens[:, : T - 1] == last).sum(1), tokens)  # counts the root s_0 -> s_1
    with pytest.raises(AssertionError, match="n_two is wrong"):
        check_match_counts(torch.zeros_like(two), one, tokens)


def test_check_best_smoothing_accepts_the_grid_minimum_and_rejects_the_task_alpha(batch):
    tokens, labels = batch.tokens, batch.labels
    losses = {a: soft_cross_entropy(one_parent_estimator(tokens, 5, a), labels).item() for a in SMOOTHING_GRID}
    best = min(losses, key=losses.get)
    assert best > 0.1
    assert check_best_smoothing(best, tokens, labels, 5)
    with pytest.raises(AssertionError, match="not larger"):
        check_best_smoothing(0.1, tokens, labels, 5)
    with pytest.raises(AssertionError, match="above the best"):
        check_best_smoothing(50.0, tokens, labels, 5)
    with pytest.raises(AssertionError, match="positive"):
        check_best_smoothing(-1.0, tokens, labels, 5)
