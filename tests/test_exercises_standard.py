"""The checks of chapter 8's exercises accept a right answer and reject wrong ones."""

import math

import pytest
import torch

from causal_tutorial.exercises.standard import check_parameter_count, check_permutation_loss, check_spurious_children
from causal_tutorial.models import StandardTransformer


def test_check_parameter_count_accepts_the_model_s_own_count_and_names_what_a_wrong_one_forgot(capsys):
    model = StandardTransformer(10, 20, d=30, generator=torch.Generator().manual_seed(0))
    count = sum(p.numel() for p in model.parameters())
    assert check_parameter_count(count, 10, 20, 30, 2)
    assert "Right" in capsys.readouterr().out
    assert check_parameter_count(
        sum(p.numel() for p in StandardTransformer(5, 7, d=4, layers=3).parameters()), 5, 7, 4, 3
    )
    with pytest.raises(AssertionError, match="biases"):
        check_parameter_count(count - 4 * 30, 10, 20, 30, 2)
    with pytest.raises(AssertionError, match="embeddings"):
        check_parameter_count(count - 30 * 30, 10, 20, 30, 2)
    with pytest.raises(AssertionError, match="not the number"):
        check_parameter_count(count + 1, 10, 20, 30, 2)


def test_check_spurious_children_accepts_the_even_roots_and_rejects_odd_or_missing_positions(capsys):
    assert check_spurious_children(list(range(2, 19, 2)), T=20)
    assert "Right" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="position 0"):
        check_spurious_children(list(range(0, 19, 2)), T=20)
    with pytest.raises(AssertionError, match="children in the icl-pairs graph"):
        check_spurious_children(list(range(1, 19, 2)), T=20)
    with pytest.raises(AssertionError, match="missing"):
        check_spurious_children([2, 4, 6], T=20)


def test_check_permutation_loss_accepts_the_formula_and_rejects_the_no_match_value_or_no_smoothing(capsys):
    right = [-math.log((n + 0.1) / (n + 1.0)) for n in range(1, 6)]
    assert check_permutation_loss(right, S=10, alpha=0.1)
    assert "Right" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="nothing matches"):
        check_permutation_loss([math.log(10)], S=10, alpha=0.1)
    with pytest.raises(AssertionError, match="not the estimator"):
        check_permutation_loss([0.0] * 5, S=10, alpha=0.1)
