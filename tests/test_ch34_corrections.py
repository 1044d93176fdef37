"""Chapters 3 and 4, the corrections' additions: the check of exercise 4.3 (blocking the query's own slot)."""

import copy

import pytest
import torch

from causal_tutorial.exercises.training import SUFFER_NATS, check_hedging_without_slot
from causal_tutorial.experiments import EXPERIMENTS, build_model, build_task
from causal_tutorial.models import DisentangledTransformer
from causal_tutorial.training import train

EXP = EXPERIMENTS["chain"]
S, T = EXP.S, EXP.T
SLOT = S + T - 1  # the query's own position in A2's pos × pos block


@pytest.fixture(scope="module")
def trained():
    """The chapter's book-scale chain model (about 15 s on one CPU thread): its query hedges on itself."""
    model = build_model(EXP, seed=0)
    train(model, build_task(EXP, "cpu"), EXP.config("book", seed=0, device="cpu"), progress=False)
    return model


def _blocked(model, entry=(SLOT, SLOT), value=-30.0):
    copy_ = copy.deepcopy(model)
    with torch.no_grad():
        copy_.head(2)[entry] = value
    return copy_


def test_the_right_answer_passes_in_any_spelling(trained):
    blocked = _blocked(trained)
    assert check_hedging_without_slot(trained, blocked, [0, 1])
    assert check_hedging_without_slot(trained, blocked, ("1", 0))


@pytest.mark.parametrize(
    "suffer, match",
    [
        ([0], r"suffer too: N = 1 \(its loss rises by"),
        ([1], r"suffer too: N = 0"),
        ([0, 1, 2], r"barely move: N = 2"),
        ([0, 1, "6+"], r"barely move: N = 6\+"),
        ([], r"suffer too: N = 0 .*N = 1"),
    ],
)
def test_a_wrong_list_fails_naming_the_value_and_its_rise(trained, suffer, match):
    with pytest.raises(AssertionError, match=match) as err:
        check_hedging_without_slot(trained, _blocked(trained), suffer)
    assert f"more than {SUFFER_NATS} nats" in str(err.value)


def test_a_wrongly_blocked_copy_fails_with_a_hint(trained):
    with pytest.raises(AssertionError, match=r"head\(2\)\[29, 29\].*large negative"):
        check_hedging_without_slot(trained, _blocked(trained, value=-1.0), [0, 1])
    wrong = _blocked(_blocked(trained), entry=(SLOT, SLOT - 1))  # a second entry changed too
    with pytest.raises(AssertionError, match=r"differs from model in A.1 at \[\[29, 28\]\]"):
        check_hedging_without_slot(trained, wrong, [0, 1])
    with pytest.raises(AssertionError, match="in a copy"):
        check_hedging_without_slot(trained, trained, [0, 1])
    with pytest.raises(AssertionError, match="suffer must list values of N"):
        check_hedging_without_slot(trained, _blocked(trained), ["zero"])


def test_an_untrained_model_is_refused():
    model = DisentangledTransformer(S, T)
    with pytest.raises(AssertionError, match="pass the model trained in chapter 4"):
        check_hedging_without_slot(model, _blocked(model), [])
