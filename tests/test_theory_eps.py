"""The weight ε of the uniform law in the reduced model: Algorithm 1 passes it through, and the label mass on
tokens a sequence never shows costs exactly log(S/ε) per unit (chapter 5's ε sweep rests on both)."""

import math

import pytest
import torch

from causal_tutorial.checks import make_generator
from causal_tutorial.graphs import chain
from causal_tutorial.models import ReducedModel
from causal_tutorial.tasks import SingleParentTask
from causal_tutorial.theory import algorithm1, unseen_label_mass


def test_unseen_label_mass_against_a_loop():
    g = make_generator(0)
    S = 6
    tokens = torch.randint(0, S, (50, 4), generator=g)
    labels = torch.rand(50, S, generator=g, dtype=torch.float64)
    labels /= labels.sum(1, keepdim=True)
    expected = torch.tensor(
        [sum(labels[n, s].item() for s in range(S) if s not in tokens[n].tolist()) for n in range(50)],
        dtype=torch.float64,
    )
    got = unseen_label_mass(tokens, labels, S)
    assert got.shape == (50,) and got.dtype == torch.float64
    assert torch.allclose(got, expected, atol=1e-15)
    assert (got > 0).any() and (got < 1).all()


def test_unseen_label_mass_checks_its_shapes():
    with pytest.raises(ValueError, match="labels"):
        unseen_label_mass(torch.zeros(3, 4, dtype=torch.long), torch.zeros(3, 5), 6)


@pytest.mark.parametrize("eps", [1e-1, 1e-4])
def test_the_unseen_mass_costs_log_S_over_eps_whatever_the_parameters(eps):
    """Without a prior position, f̄_s = 0 on an absent token: the loss there is y_s log(S/ε) exactly."""
    S, T = 5, 8
    task = SingleParentTask(S, T, chain(T), 0.1)
    batch = task.sample(256, make_generator(1))
    model = ReducedModel(S, T, beta0=0.0, eps=eps).double()
    with torch.no_grad():
        model.A1.normal_(generator=make_generator(2))
        model.A2.normal_(generator=make_generator(3))
        logp = model(batch.tokens)  # log((1 - ε) f̄ + ε/S)
    y = batch.labels.double()
    seen = torch.nn.functional.one_hot(batch.tokens, S).amax(1).bool()
    absent_part = -(y * logp).masked_fill(seen, 0.0).sum(1)
    mass = unseen_label_mass(batch.tokens, y, S)
    assert mass.mean() > 0.05, "the test needs sequences that miss tokens the label weighs"
    assert torch.allclose(absent_part, mass * math.log(S / eps), rtol=1e-9, atol=1e-12)


def test_algorithm1_passes_eps_to_the_model_and_keeps_its_default():
    kwargs = dict(tau1=1, eta1=10.0, tau2=1, eta2=1.0, batch_size=8, seed=0)
    default, _ = algorithm1(chain(5), 3, 0.5, **kwargs)
    assert default.eps == 1e-3 == ReducedModel(3, 5).eps
    model, _ = algorithm1(chain(5), 3, 0.5, eps=0.05, **kwargs)
    assert model.eps == 0.05
    with pytest.raises(ValueError, match="eps"):
        algorithm1(chain(5), 3, 0.5, eps=0.0, **kwargs)
