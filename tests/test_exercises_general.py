"""Chapter 6's exercise checks: right answers pass, wrong ones fail with a hint."""

import pytest
import torch

from causal_tutorial.exercises.general import check_block_metric, check_uniform_start
from causal_tutorial.graphs import SMALL_TREE, chain


def test_uniform_start_accepts_the_mean_of_one_over_i_plus_one_over_children():
    # the small tree's children are 1, 2, 3, 4: (1/2 + 1/3 + 1/4 + 1/5) / 4
    assert check_uniform_start((1 / 2 + 1 / 3 + 1 / 4 + 1 / 5) / 4, SMALL_TREE)
    with pytest.raises(AssertionError, match="evenly"):
        check_uniform_start((1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5) / 5, SMALL_TREE)  # roots counted
    with pytest.raises(AssertionError, match="no children"):
        check_uniform_start(0.5, (-1, -1))


def test_block_metric_accepts_the_softmax_at_the_parent_and_rejects_the_unmasked_one():
    T = 5
    block = torch.arange(T * T, dtype=torch.float64).reshape(T, T) / 10
    parents = chain(T)
    right = sum(float(torch.softmax(block[i, : i + 1], 0)[i - 1]) for i in (1, 2, 3)) / 3
    assert check_block_metric(right, block, parents)
    unmasked = sum(float(torch.softmax(block[i], 0)[i - 1]) for i in (1, 2, 3)) / 3
    with pytest.raises(AssertionError, match="mask"):
        check_block_metric(unmasked, block, parents)
    with pytest.raises(AssertionError, match="block must be"):
        check_block_metric(right, block[:4, :4], parents)
