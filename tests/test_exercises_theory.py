"""The checks of chapter 5's exercises accept a right answer and reject a wrong one."""

import pytest
import torch

from causal_tutorial.exercises.theory import check_edge_chi2, check_row_argmax
from causal_tutorial.graphs import chain, random_tree
from causal_tutorial.theory import initial_gradient_formula


def test_check_edge_chi2_accepts_the_two_state_closed_form_and_rejects_a_wrong_value():
    a, b = 0.2, 0.3
    pi = torch.tensor([[1 - a, a], [b, 1 - b]], dtype=torch.float64)
    mu = torch.tensor([b, a], dtype=torch.float64) / (a + b)
    assert check_edge_chi2((1 - a - b) ** 2, pi, mu)
    with pytest.raises(AssertionError, match="not"):
        check_edge_chi2(1 - a - b, pi, mu)


def test_check_edge_chi2_rejects_a_law_that_is_not_stationary():
    pi = torch.tensor([[0.9, 0.1], [0.5, 0.5]], dtype=torch.float64)
    with pytest.raises(AssertionError, match="stationary"):
        check_edge_chi2(0.1, pi, torch.tensor([0.5, 0.5], dtype=torch.float64))


def test_check_row_argmax_accepts_the_formula_and_rejects_a_transposed_or_shifted_matrix():
    parents = random_tree(12, seed=3)
    G = initial_gradient_formula(parents, 5, 1.0, 128, generator=torch.Generator().manual_seed(0)).mean
    assert check_row_argmax(G, parents)
    with pytest.raises(AssertionError, match="do not peak"):
        check_row_argmax(G.T.contiguous(), parents)
    p = chain(12)
    with pytest.raises(AssertionError, match="do not peak"):
        check_row_argmax(torch.eye(11) + torch.diag(torch.ones(9), -2), p)
