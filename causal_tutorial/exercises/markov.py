"""Checks for the exercises of chapter 1 (``book/01_markov_chains``, "In-context Markov chains").

Each check returns ``True`` when the answer is right and raises ``AssertionError`` with a hint otherwise.
The checks run the student's function on fixed, seeded batches and compare it with the package's
own implementation (:mod:`causal_tutorial.estimators`, :mod:`causal_tutorial.tasks`).
"""

from __future__ import annotations

import math

import torch

from ..checks import make_generator
from ..estimators import in_context_estimator, soft_cross_entropy, uniform_predictor, unigram_predictor
from ..graphs import chain
from ..priors import sample_dirichlet, stationary_distribution
from ..tasks import SingleParentTask

__all__ = ["check_chain_estimator", "check_power_iteration", "check_unigram_loss_reason"]

_S, _T, _ALPHA = 10, 20, 0.1


def _as_probs(out, n: int, S: int, what: str) -> torch.Tensor:
    assert isinstance(out, torch.Tensor), f"{what} must return a torch.Tensor, got {type(out).__name__}"
    assert tuple(out.shape) == (n, S), f"{what} must return shape (n, S) = ({n}, {S}), got {tuple(out.shape)}"
    out = out.double()
    assert torch.isfinite(out).all(), f"{what} returned entries that are not finite"
    assert (out >= 0).all(), f"{what} returned negative probabilities"
    assert torch.allclose(out.sum(-1), torch.ones(n, dtype=out.dtype), atol=1e-5), (
        f"each row returned by {what} must sum to 1; did you divide by N(q → ·) + Sα?"
    )
    return out


def _bigram(tokens: torch.Tensor, S: int, alpha: float, last: int) -> torch.Tensor:
    """Bigram counts out of the query over the pairs ``(s_{i-1}, s_i)``, ``i = 1 … last``, smoothed by ``alpha``."""
    q = tokens[:, -1:]
    match = (tokens[:, :last] == q).double()  # (n, last): parent i-1 holds the query token
    counts = torch.einsum("nk,nks->ns", match, torch.nn.functional.one_hot(tokens[:, 1 : last + 1], S).double())
    return (counts + alpha) / (counts.sum(-1, keepdim=True) + S * alpha)


def check_chain_estimator(estimator, S: int = _S, T: int = _T, alpha: float = _ALPHA) -> bool:
    """Exercise 1.1: ``estimator(tokens, S, alpha)`` is the in-context (bigram) estimator of the chain.

    It must return ``(N(q → s') + α) / (N(q → ·) + Sα)`` for every sequence, with ``q = s_{T-1}`` and
    ``N(a → c)`` the number of ``i = 1 … T-2`` with ``s_{i-1} = a`` and ``s_i = c``.
    """
    tokens, _ = SingleParentTask(S, T, chain(T), alpha).sample(512, make_generator(101))
    ref = in_context_estimator(tokens, chain(T), S, alpha).double()
    got = _as_probs(estimator(tokens.clone(), S, alpha), tokens.shape[0], S, "estimator")
    err = (got - ref).abs().max(-1).values
    bad = int(err.argmax())
    if float(err[bad]) <= 1e-5:
        return True
    hint = "Count only the transitions out of the query token q, and smooth every count by α."
    if torch.allclose(got, _bigram(tokens, S, alpha, T - 1), atol=1e-5):
        hint = (
            "You also counted the pair (s_{T-2}, s_{T-1}); but the query s_{T-1} is drawn uniformly, "
            "not from π, so it is not a transition: the last pair to count is (s_{T-3}, s_{T-2})."
        )
    elif torch.allclose(got, _bigram(tokens, S, 1e-12, T - 2), atol=1e-4):
        hint = "You forgot the smoothing: add α to every count and Sα to the total."
    raise AssertionError(
        f"sequence {bad} (query q = {int(tokens[bad, -1])}): expected "
        f"{[round(x, 4) for x in ref[bad].tolist()]}, got {[round(x, 4) for x in got[bad].tolist()]}. {hint}"
    )


def check_power_iteration(stationary, alpha: float = 1.0, S: int = _S, tol: float = 1e-6) -> bool:
    """Exercise 1.2: ``stationary(P)`` maps a batch of stochastic matrices ``P (n, S, S)`` to their
    stationary laws ``μ (n, S)``; on a seeded batch of ``Dirichlet(alpha)`` chains it must agree with
    :func:`causal_tutorial.priors.stationary_distribution` (GTH) to ``tol`` in every entry.
    """
    g = make_generator(102)
    P = sample_dirichlet(alpha, (256, S), S, g, "cpu").double()
    P = P / P.sum(-1, keepdim=True)
    ref = stationary_distribution(P)
    mu = stationary(P.clone())
    assert isinstance(mu, torch.Tensor), f"stationary must return a torch.Tensor, got {type(mu).__name__}"
    assert tuple(mu.shape) == (256, S), f"stationary must return shape (n, S) = (256, {S}), got {tuple(mu.shape)}"
    mu = mu.double()
    assert torch.allclose(mu.sum(-1), torch.ones(256, dtype=mu.dtype), atol=1e-8), "each μ must sum to 1"
    residual = (torch.einsum("nab,na->nb", P, mu) - mu).abs().sum(-1)
    err = (mu - ref).abs().max(-1).values
    worst = int(err.argmax())
    assert float(err[worst]) <= tol, (
        f"chain {worst}: your μ is {float(err[worst]):.2e} away from the GTH answer (residual "
        f"‖πᵀμ − μ‖₁ = {float(residual[worst]):.2e}); remember μ is a row vector, μ ← μ P (not P μ), "
        f"and iterate until the change is below the tolerance, not for a fixed number of steps"
    )
    return True


def check_unigram_loss_reason(answer: str) -> bool:
    """Exercise 1.3: which letter explains why the unigram predictor loses to the uniform one?

    (a) the unigram is not normalised; (b) it estimates ``μ_π``, and the label ``π[q]`` of a uniformly
    drawn query often puts its mass on tokens that ``μ_π`` makes rare; (c) the sequences are too short
    for any estimator to beat ``log S``; (d) smoothing with ``α`` is too strong.
    """
    answer = str(answer).strip().lower().strip("()")
    assert answer in {"a", "b", "c", "d"}, f"answer with one letter a, b, c or d, got {answer!r}"
    hints = {
        "a": "(a) is false: (count + α)/(T + Sα) sums to 1 over the S tokens.",
        "c": "(c) is false: the in-context estimator beats log S by half a nat on the same sequences.",
        "d": "(d) has it backwards: less smoothing makes the unigram worse and more makes it better (try α = 0.01 "
        "and α = 10); even the exact μ_π, with no estimation error at all, scores above log S.",
    }
    assert answer == "b", hints[answer]
    # The claim behind (b), measured: the unigram's loss is far above log S on the chain.
    task = SingleParentTask(_S, _T, chain(_T), _ALPHA)
    tokens, labels = task.sample(2048, make_generator(103))
    uni = float(soft_cross_entropy(unigram_predictor(tokens, _S, _ALPHA), labels))
    assert uni > float(soft_cross_entropy(uniform_predictor(tokens, _S), labels)) > 0 and math.isfinite(uni)
    return True
