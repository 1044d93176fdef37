"""Chapters 6-8: the exercise check of 6.3 tells a right reading from a wrong one, whichever way the model went."""

import pytest
import torch

from causal_tutorial.exercises.general import check_graph_verdict
from causal_tutorial.graphs import SMALL_TREE
from causal_tutorial.models import DisentangledTransformer

S, T = 3, 6


def _model_with_block(entry_at_parent: float) -> DisentangledTransformer:
    """A disentangled model whose layer-1 position block holds ``entry_at_parent`` at every parent, 0 elsewhere."""
    model = DisentangledTransformer(S, T)
    with torch.no_grad():
        for i, p in enumerate(SMALL_TREE):
            if p >= 0:
                model.A[0][S + i, S + p] = entry_at_parent
    return model


@pytest.mark.parametrize("entry", [2.0, -2.0], ids=["learned", "looks away"])
def test_the_right_reading_passes_and_says_which_way_the_block_went(entry, capsys):
    model = _model_with_block(entry)
    learned = entry > 0
    assert check_graph_verdict(learned, entry, model, SMALL_TREE)
    out = capsys.readouterr().out
    assert out.startswith("Right: layer 1 " + ("has learned" if learned else "has not learned"))
    assert ("above" if learned else "below") in out


@pytest.mark.parametrize("entry", [2.0, -2.0], ids=["learned", "looks away"])
def test_a_wrong_verdict_or_a_wrong_mean_fails_with_a_hint(entry):
    model = _model_with_block(entry)
    learned = entry > 0
    with pytest.raises(AssertionError, match="does not match this model"):
        check_graph_verdict(not learned, entry, model, SMALL_TREE)
    with pytest.raises(AssertionError, match="average those entries"):
        check_graph_verdict(learned, entry / 2, model, SMALL_TREE)  # e.g. the roots' rows counted
    with pytest.raises(AssertionError, match="True or False"):
        check_graph_verdict("no", entry, model, SMALL_TREE)


def test_a_tied_block_is_not_a_recovered_graph():
    model = DisentangledTransformer(S, T)  # all zero: every row ties, so no row peaks at its parent
    assert check_graph_verdict(False, 0.0, model, SMALL_TREE)
    with pytest.raises(AssertionError, match="0 of 4 child rows"):
        check_graph_verdict(True, 0.0, model, SMALL_TREE)


# chapter 7: the gradient that tells two heads apart, split into its mean and its batch-to-batch spread
def _two_head_model_and_task(equal_heads: bool):
    from causal_tutorial.graphs import multi_parent_dag
    from causal_tutorial.tasks import MultiParentTask

    T2 = 6
    task = MultiParentTask(3, T2, multi_parent_dag(T2), 0.1, root_law="dirichlet")
    model = DisentangledTransformer(3, T2, heads=(2, 1), init_std=0.3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.W.normal_(0, 1, generator=torch.Generator().manual_seed(2))  # so that A gets a gradient at all
        if equal_heads:
            # the heads equal, and everything downstream symmetric under swapping their slots of the stream
            model.A[1].copy_(model.A[0])
            d0 = model.widths[0]
            swap = torch.cat([torch.arange(d0), torch.arange(2 * d0, 3 * d0), torch.arange(d0, 2 * d0)])
            a2 = model.A[2]
            a2.copy_((a2 + a2[swap][:, swap]) / 2)
            both = torch.cat([swap, swap + 3 * d0])
            model.W.copy_((model.W + model.W[both]) / 2)
    return model, task


def test_head_gradient_spread_vanishes_for_identical_heads_and_not_for_different_ones():
    from causal_tutorial.analysis import head_gradient_spread

    model, task = _two_head_model_and_task(equal_heads=True)
    before = [p.detach().clone() for p in model.parameters()]
    same = head_gradient_spread(model, task, 4, 64, torch.Generator().manual_seed(0))
    assert same["difference_mean"] < 1e-6 * same["head_mean"], "copies in a symmetric model get the same gradient"
    assert same["difference_spread"] < 1e-6 * same["head_spread"]
    assert same["head_mean"] > 0 and same["head_spread"] > 0, "while each head's own gradient is noisy"
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())), "the model is left unchanged"
    assert all(p.grad is None for p in model.parameters())

    model, task = _two_head_model_and_task(equal_heads=False)
    apart = head_gradient_spread(model, task, 4, 64, torch.Generator().manual_seed(0))
    assert apart["difference_mean"] > 0 and apart["difference_spread"] > 0
    again = head_gradient_spread(model, task, 4, 64, torch.Generator().manual_seed(0))
    assert again == apart, "one generator seed, one answer"
    bigger = head_gradient_spread(model, task, 4, 1024, torch.Generator().manual_seed(0))
    assert bigger["difference_spread"] < apart["difference_spread"], "larger batches: less spread"


def test_head_gradient_spread_needs_two_batches():
    from causal_tutorial.analysis import head_gradient_spread

    model, task = _two_head_model_and_task(equal_heads=False)
    with pytest.raises(ValueError, match="n_batches"):
        head_gradient_spread(model, task, 1, 8, torch.Generator().manual_seed(0))
