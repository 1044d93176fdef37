"""The χ²-mutual information between positions of the task: exact joint laws given π, averaged over the prior.

The paper's analysis of gradient descent explains why these numbers matter: the first non-zero gradient on the first
attention layer's position block is, entry by entry, a χ²-mutual information between two positions,
and the data-processing inequality makes it largest at each position's parent. This module computes
that information exactly for each transition law ``π`` and averages it over the Dirichlet prior:

* :func:`pairwise_joint`: the joint law of every pair of positions of a parent array, given ``π``
  and its stationary law ``μ``. Every position's marginal is ``μ``; two positions in different
  trees are independent; otherwise, with ``c`` their lowest common ancestor and ``d_i``, ``d_j`` their
  depths below it, ``P(s_i = a, s_j = b) = Σ_k μ(k) (π^{d_i})[k, a] (π^{d_j})[k, b]``.
* :func:`chi2_of_joint`: ``I_χ²(X; Y) = Σ_{x,y} P(x,y)² / (P(x) P(y)) − 1``, the one place it is written.
* :func:`chi2_mutual_information`: ``E_π[I_χ²(s_j; s_i)]`` for every pair ``j < i``, with its standard
  error (Monte Carlo over ``π`` only; each term is exact).
* :func:`initial_gradient_formula`: what the reduced model's first-layer gradient at initialisation
  measures, ``G[i, k]`` (``1 + E[I_χ²]`` at the parent), with the derivation and its approximations;
  :func:`reduced_model_initial_gradient` the same gradient by autograd, :func:`compare_gradient` the two.
* :func:`algorithm1`: the paper's Algorithm 1, two stages of SGD at constant step sizes.
* :func:`unseen_label_mass`: the label's mass on tokens a sequence never shows, where the reduced
  model without a prior position pays ``log(S/ε)`` per unit of mass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .checks import (
    check_alpha,
    check_nonnegative_float,
    check_positive_int,
    check_vocab,
    generator_or_default,
    resolve_device,
)
from .graphs import parent_depths, validate_parents
from .models import ReducedModel
from .priors import normalise_rows_, sample_gamma, stationary_distribution
from .tasks import SingleParentTask
from .training import Metrics, Stage, TrainConfig, TrainResult, train

__all__ = [
    "Chi2MutualInformation",
    "pairwise_joint",
    "chi2_of_joint",
    "chi2_mutual_information",
    "InitialGradientFormula",
    "initial_gradient_formula",
    "reduced_model_initial_gradient",
    "first_order_gradient",
    "GradientComparison",
    "compare_gradient",
    "algorithm1",
    "unseen_label_mass",
]

#: Draws of ``π`` processed at once by :func:`chi2_mutual_information`: this bounds memory (at S = 10,
#: T = 20 the distinct joint laws of one chunk take at most 74 MB in float64, 7 MB for the chain).
CHUNK = 256


def _lowest_common_ancestors(parents: tuple[int, ...]) -> tuple[list[int], list[list[int]]]:
    """Depths, and for each pair ``(i, j)`` the lowest common ancestor (``-1`` for different trees)."""
    depth = parent_depths(parents)
    n = len(parents)
    ancestors = []  # ancestors[i]: i, p(i), p(p(i)), … up to the root
    for i in range(n):
        chain = [i]
        while parents[chain[-1]] >= 0:
            chain.append(parents[chain[-1]])
        ancestors.append(chain)
    lca = [[-1] * n for _ in range(n)]
    for i in range(n):
        up = set(ancestors[i])
        for j in range(n):
            lca[i][j] = next((c for c in ancestors[j] if c in up), -1)
    return depth, lca


def _distinct_joints(parents: tuple[int, ...], pi: torch.Tensor, mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct joint laws of a graph's pairs, ``(m, K, S, S)``, and ``index (T-1, T-1)``: pair
    ``(i, j)`` has law ``[:, index[i, j]]``. Laws depend on a pair only through ``(d_i, d_j)`` below the
    lowest common ancestor (or on being in different trees), so each is computed once."""
    n = len(parents)
    depth, lca = _lowest_common_ancestors(parents)
    powers = [torch.eye(pi.shape[-1], dtype=pi.dtype, device=pi.device).expand_as(pi)]
    for _ in range(max(depth)):
        powers.append(torch.bmm(powers[-1], pi))
    combos: dict[tuple[int, int], int] = {}
    index = torch.empty(n, n, dtype=torch.long)
    for i in range(n):
        for j in range(n):
            c = lca[i][j]
            key = (-1, -1) if c < 0 else (depth[i] - depth[c], depth[j] - depth[c])
            index[i, j] = combos.setdefault(key, len(combos))
    laws = []
    for di, dj in combos:
        if di < 0:  # different trees: independent
            laws.append(mu.unsqueeze(-1) * mu.unsqueeze(-2))
        else:  # (π^{d_i})ᵀ diag(μ) π^{d_j}
            laws.append(torch.bmm(powers[di].transpose(-1, -2), mu.unsqueeze(-1) * powers[dj]))
    return torch.stack(laws, dim=1), index.to(pi.device)


def _check_laws(pi: torch.Tensor, mu: torch.Tensor) -> None:
    if not isinstance(pi, torch.Tensor) or not isinstance(mu, torch.Tensor):
        raise TypeError(f"pi and mu must be torch.Tensors, got {type(pi).__name__} and {type(mu).__name__}")
    if pi.dim() != 3 or pi.shape[-1] != pi.shape[-2]:
        raise ValueError(f"pi must have shape (m, S, S), got {tuple(pi.shape)}")
    if mu.shape != pi.shape[:2]:
        raise ValueError(f"mu must have shape (m, S) = {tuple(pi.shape[:2])} to match pi, got {tuple(mu.shape)}")
    if not pi.dtype.is_floating_point or mu.dtype != pi.dtype:
        raise TypeError(f"pi and mu must share one floating dtype (float64), got {pi.dtype} and {mu.dtype}")


def pairwise_joint(parents: Sequence[int], pi: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """Joint laws of every pair of positions, ``(m, T-1, T-1, S, S)``: ``[., i, j, a, b] = P(s_i = a, s_j = b)``.

    The task's positions form a stationary process on the graph. ``pi (m, S, S)``
    holds ``m`` transition laws (rows sum to one) and ``mu (m, S)`` their stationary laws, in float64.
    For positions in one tree, with lowest common ancestor ``c ~ μ`` and depths ``d_i``, ``d_j`` below
    it, the joint law is ``(π^{d_i})ᵀ diag(μ) π^{d_j}``; for different trees it is ``μ μᵀ``. So
    ``[i, j]`` is the transpose of ``[j, i]`` and the diagonal ``[i, i]`` is ``diag(μ)``. The powers
    ``π^k`` up to the largest depth are computed once (batched), each distinct ``(d_i, d_j)`` once,
    then gathered: Python loops run over positions only, never over the ``m`` laws.
    """
    p = validate_parents(parents)
    _check_laws(pi, mu)
    laws, index = _distinct_joints(p, pi, mu)
    return laws[:, index]


def chi2_of_joint(P: torch.Tensor) -> torch.Tensor:
    """``I_χ²(X; Y) = Σ_{x,y} P(x,y)² / (P(x) P(y)) − 1`` of joint laws ``P (…, S, S)``, shape ``(…)``.

    The χ²-mutual information that, in the paper's analysis, the first-layer gradient measures. The
    marginals are those of ``P`` itself; terms with ``P(x) P(y) = 0`` are 0. It is evaluated in the
    equal form ``Σ (r(x,y) − √(P(x) P(y)))²`` with ``r = √(P(x,y)/P(x)) · √(P(x,y)/P(y))`` (both ratios
    at most one), which is a sum of non-negative terms: no cancellation near independence and no
    underflow of ``P(x) P(y)`` when ``μ`` has tiny entries. The result lies in ``[0, S − 1]``.
    """
    if not isinstance(P, torch.Tensor) or P.dim() < 2:
        raise ValueError(f"P must be a tensor of joint laws (..., S, S), got {getattr(P, 'shape', type(P))}")
    px = P.sum(-1, keepdim=True)  # (…, S, 1)
    py = P.sum(-2, keepdim=True)  # (…, 1, S)
    zero = torch.zeros((), dtype=P.dtype, device=P.device)
    given_x = torch.where(px > 0, P / px.clamp_min(torch.finfo(P.dtype).tiny), zero)
    given_y = torch.where(py > 0, P / py.clamp_min(torch.finfo(P.dtype).tiny), zero)
    r = given_x.sqrt() * given_y.sqrt()  # P(x,y) / √(P(x) P(y))
    return (r - px.sqrt() * py.sqrt()).square().sum((-1, -2))


@dataclass(frozen=True, eq=False)
class _PriorAverage:
    """A matrix over pairs of positions averaged over draws of ``π`` from the prior, with its standard error."""

    mean: torch.Tensor
    se: torch.Tensor
    n_pi: int
    parents: tuple[int, ...]
    S: int
    alpha: float


@dataclass(frozen=True, eq=False)
class Chi2MutualInformation(_PriorAverage):
    """``E_π[I_χ²(s_j; s_i)]`` for the pairs ``j < i`` of a graph, with its standard error.

    Attributes:
        mean: ``(T-1, T-1)`` float64, entry ``[i, j]`` (``j < i``) the mean over the draws of ``π``; 0 for ``j ≥ i``.
        se: the standard error of each mean, ``std / √n_pi`` over the draws (ddof 1); 0 for ``j ≥ i``.
        n_pi: the number of draws of ``π``.
        parents: the parent array (validated, a tuple).
        S: the vocabulary size.
        alpha: the Dirichlet concentration of the prior ``π`` was drawn from.
    """

    def margin(self) -> float:
        """By how much the parent wins its row (chapters 5, 10): the mean, over the child rows ``i`` that have
        another candidate ``k < i``, of ``mean[i, p(i)]`` minus the largest ``mean[i, k]`` over the other ``k < i``.
        Positive when every parent wins on average; ``nan`` when no row has a rival (e.g. icl pairs at ``T = 3``)."""
        gaps = [
            self.mean[i, p] - torch.cat([self.mean[i, :p], self.mean[i, p + 1 : i]]).max()
            for i, p in enumerate(self.parents)
            if p >= 0 and i > 1
        ]
        return torch.stack(gaps).mean().item() if gaps else float("nan")

    def edge_information(self) -> float:
        """The mean of ``E[I_χ²(s_p(i); s_i)]`` over the graph's edges (``nan`` when it has none)."""
        edges = [self.mean[i, p] for i, p in enumerate(self.parents) if p >= 0]
        return torch.stack(edges).mean().item() if edges else float("nan")


def _mean_and_se_over_draws(values: torch.Tensor, where: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-entry mean and standard error (``std / √n``, ddof 1) over the draws of ``values (n_pi, K)``,
    placed at the ``K`` true entries of the square mask ``where``; 0 elsewhere."""
    n_pi = values.shape[0]
    mean = torch.zeros(where.shape, dtype=torch.float64, device=values.device)
    se = torch.zeros(where.shape, dtype=torch.float64, device=values.device)
    mean[where] = values.mean(0)
    se[where] = values.std(0) / math.sqrt(n_pi) if n_pi > 1 else float("nan")
    return mean, se


def _prior_draws(
    S: int, alpha: float, n_pi: int, g: torch.Generator, dev: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``n_pi`` draws of ``π`` (rows i.i.d. ``Dirichlet(α·1_S)``, float64) and their stationary laws
    ``μ`` (GTH), yielded ``CHUNK`` at a time as ``(pi (m, S, S), mu (m, S))``: the one code path for the
    prior's draws, so that every average over ``π`` here uses the same draws for the same generator."""
    for start in range(0, n_pi, CHUNK):
        m = min(CHUNK, n_pi - start)
        pi = normalise_rows_(sample_gamma(alpha, (m, S, S), g, dev, dtype=torch.float64), dim=-1)
        yield pi, stationary_distribution(pi)


def chi2_mutual_information(
    parents: Sequence[int],
    S: int,
    alpha: float,
    n_pi: int,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> Chi2MutualInformation:
    """``E_π[I_χ²(s_j; s_i)]`` for every pair of positions ``j < i`` of ``parents``.

    ``π`` has rows i.i.d. ``Dirichlet(α·1_S)``, drawn in float64, ``n_pi`` times; ``μ`` is its stationary
    law (GTH). For each draw the information is exact (:func:`pairwise_joint`, :func:`chi2_of_joint`);
    only the average over ``π`` is Monte Carlo, reported with its standard error. The draws are
    processed ``CHUNK`` = 256 at a time, so memory stays bounded; the result depends only on the
    generator's state and the arguments (an unseeded call uses seed 0).
    """
    p = validate_parents(parents)
    S = check_vocab(S)
    alpha = check_alpha(alpha)
    n_pi = check_positive_int("n_pi", n_pi, "draws of the transition law π")
    dev = resolve_device(device)
    g = generator_or_default(generator, dev)
    n = len(p)
    below = torch.tril(torch.ones(n, n, dtype=torch.bool, device=dev), diagonal=-1)
    per_draw = []
    for pi, mu in _prior_draws(S, alpha, n_pi, g, dev):
        laws, index = _distinct_joints(p, pi, mu)  # each distinct joint law once: I_χ² of those, then gather
        per_draw.append(chi2_of_joint(laws)[:, index[below]])  # (m, pairs j < i)
    mean, se = _mean_and_se_over_draws(torch.cat(per_draw), below)
    return Chi2MutualInformation(mean=mean, se=se, n_pi=n_pi, parents=p, S=S, alpha=alpha)


# --- the first-layer gradient at initialisation ---------------------------------------------------------
#: Sequences per chunk in :func:`reduced_model_initial_gradient` (about 60 MB of float64 activations
#: at T = 24; the gradients of the chunks are summed).
GRADIENT_CHUNK = 8192


@dataclass(frozen=True, eq=False)
class InitialGradientFormula(_PriorAverage):
    """``G[i, k] = E_π[Σ_{a,b} P(s_k = a, s_i = b) π[a, b] / μ(b)]`` for ``k ≤ i``, with its standard error.

    See :func:`initial_gradient_formula` for what it predicts: the reduced model's first-layer gradient
    at initialisation is approximately ``β₀ (1 − ε) / (T S (i+1)) · (G[i, k] − c_i)``, with ``c_i``
    the mean of ``G[i, ·]`` over ``k ≤ i`` (:meth:`gradient`).

    Attributes:
        mean: ``(T-1, T-1)`` float64, entry ``[i, k]`` (``k ≤ i``) the mean over the draws of ``π``; 0 for ``k > i``.
        se: the standard error of each mean, ``std / √n_pi`` over the draws (ddof 1); 0 for ``k > i``.
        n_pi: the number of draws of ``π``.
        parents: the parent array (validated, a tuple).
        S: the vocabulary size.
        alpha: the Dirichlet concentration of the prior ``π`` was drawn from.
    """

    def gradient(self, beta0: float = 0.1, eps: float = 1e-3) -> torch.Tensor:
        """The predicted ``−∂L/∂A1`` ``(T-1, T-1)`` at initialisation: ``β₀ (1 − ε) / (T S (i+1)) ·
        (G[i, k] − c_i)`` for ``k ≤ i`` with ``c_i = mean_{k' ≤ i} G[i, k']``, 0 above the diagonal."""
        beta0 = check_nonnegative_float("beta0", beta0)
        n = len(self.parents)
        causal = torch.ones(n, n, dtype=torch.bool, device=self.mean.device).tril()
        rows = torch.arange(1, n + 1, dtype=torch.float64, device=self.mean.device).unsqueeze(1)  # i + 1
        centred = torch.where(causal, self.mean - self.mean.sum(1, keepdim=True) / rows, 0.0)
        return beta0 * (1 - float(eps)) / ((n + 1) * self.S) * centred / rows


def initial_gradient_formula(
    parents: Sequence[int],
    S: int,
    alpha: float,
    n_pi: int,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> InitialGradientFormula:
    """``G[i, k] = E_π[Σ_{a,b} P(s_k = a, s_i = b) π[a, b] / μ(b)]`` for every pair ``k ≤ i``: what the
    reduced model's first-layer gradient at initialisation measures, as in the paper's analysis.

    **The gradient.** At initialisation (``A1 = 0``, ``A2 = β₀ I``) layer 1 averages uniformly,
    ``P1[i, k] = 1/(i+1)`` for ``k ≤ i`` and ``ê_i = Σ_k P1[i, k] e_{s_k}``; the query ``q = s_{T-1}``
    scores position ``j`` by ``β₀ ê_j[q]``, attends with ``att = softmax(score)`` and predicts
    ``f = (1 − ε) f̄ + ε/S``, ``f̄ = Σ_j att_j e_{s_j}``, with loss ``−Σ_s y_s log f_s``, ``y = π[q]``.
    The chain rule gives, exactly, for ``k ≤ i``,
    ``−∂L/∂A1[i, k] = (1 − ε) β₀ att_i P1[i, k] (y_{s_i}/f_{s_i} − c) (1[s_k = q] − ê_i[q])`` with
    ``c = Σ_s y_s f̄_s / f_s``. Its approximations:

    1. small ``β₀``: ``att_i = 1/T`` and ``f̄ = ν̂``, the sequence's empirical token law (the gradient
       is ``O(β₀)``; this is its first order);
    2. small ``ε``: ``f ≈ ν̂`` and ``c ≈ 1``;
    3. large ``T``: ``ν̂ ≈ μ_π``, the stationary law of the sequence's ``π``;
    4. the query uniform and independent of ``s_0 … s_{T-2}`` (as the task draws it).

    Averaging over ``q`` (uniform), the sequence given ``π``, then ``π``, the ``−1`` of ``c`` cancels the
    ``Σ_q ê_i[q] = 1`` and what is left is
    ``−∂L/∂A1[i, k] ≈ β₀ (1 − ε) / (T S (i+1)) · (G[i, k] − c_i)``, ``c_i = (1/(i+1)) Σ_{k' ≤ i} G[i, k']``:
    the row constant (from the ``−ê_i[q]`` term) is the row's own mean over its causal part, as it must
    be, since a softmax row's gradient sums to zero. :meth:`InitialGradientFormula.gradient` returns it.

    **What G is.** For a child ``i`` with parent ``p``, ``π[a, b] = P(s_p = a, s_i = b)/μ(a)``, so
    ``G[i, k] = E_π[Σ_{a,b} P(s_k=a, s_i=b) P(s_p=a, s_i=b) / (μ(a) μ(b))]``: at ``k = p`` it is
    ``1 + E_π[I_χ²(s_p; s_i)]``, and by Cauchy–Schwarz and the data-processing inequality every
    ``k < i`` has ``G[i, k] ≤ G[i, p]`` for each ``π``. Positions independent of ``s_i`` (other
    trees) give 1; the diagonal is ``G[i, i] = E[tr π] = 1`` (``E π[a, a] = 1/S`` under the prior).
    So the gradient's argmax over ``k < i`` is the parent.

    Each draw's value is exact: the joint laws are those of :func:`pairwise_joint` (each distinct law
    computed once) and the sum is evaluated as ``Σ_{a,b} P(s_k = a | s_i = b) π[a, b]``, terms with
    ``μ(b) = 0`` being 0. Only the average over ``π`` is Monte Carlo, over ``n_pi`` draws processed
    ``CHUNK`` at a time, the same draws as :func:`chi2_mutual_information` for the same generator
    (an unseeded call uses seed 0).
    """
    p = validate_parents(parents)
    S = check_vocab(S)
    alpha = check_alpha(alpha)
    n_pi = check_positive_int("n_pi", n_pi, "draws of the transition law π")
    dev = resolve_device(device)
    g = generator_or_default(generator, dev)
    n = len(p)
    causal = torch.ones(n, n, dtype=torch.bool, device=dev).tril()
    per_draw = []
    for pi, mu in _prior_draws(S, alpha, n_pi, g, dev):
        laws, index = _distinct_joints(p, pi, mu)  # laws[:, index[k, i], a, b] = P(s_k = a, s_i = b)
        col = laws.sum(-2, keepdim=True)  # P(s_i = b) = μ(b)
        given = torch.where(col > 0, laws / col.clamp_min(torch.finfo(laws.dtype).tiny), 0.0)
        values = (given * pi.unsqueeze(1)).sum((-1, -2))  # (m, K): one per distinct law
        per_draw.append(values[:, index.T[causal]])  # entry [i, k] reads the law of (s_k, s_i)
    mean, se = _mean_and_se_over_draws(torch.cat(per_draw), causal)
    return InitialGradientFormula(mean=mean, se=se, n_pi=n_pi, parents=p, S=S, alpha=alpha)


def reduced_model_initial_gradient(
    parents: Sequence[int],
    S: int,
    alpha: float,
    n: int,
    beta0: float = 0.1,
    eps: float = 1e-3,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """``−∂L/∂A1`` ``(T-1, T-1)`` float64 of a fresh reduced model, by autograd on ``n`` sequences.

    ``L`` is the mean soft-label loss of ``ReducedModel(S, T, beta0, eps)`` (in float64, at its
    initialisation ``A1 = 0``, ``A2 = β₀ I``) on ``n`` fresh sequences of
    ``SingleParentTask(S, T, parents, alpha)``, ``T = len(parents) + 1``; the rows and columns
    ``0 … T-2`` (the graph's positions) are returned, the query's row and column dropped. The
    sequences are drawn and differentiated ``GRADIENT_CHUNK`` = 8192 at a time, the gradients summed,
    so memory stays bounded for any ``n``. The empirical counterpart of
    :meth:`InitialGradientFormula.gradient`; :func:`compare_gradient` compares the two.
    """
    p = validate_parents(parents)
    S = check_vocab(S)
    n = check_positive_int("n", n, "the number of sequences")
    dev = resolve_device(device)
    g = generator_or_default(generator, dev)
    T = len(p) + 1
    task = SingleParentTask(S, T, p, alpha, device=dev)
    model = ReducedModel(S, T, beta0=beta0, eps=eps).double().to(dev)
    for start in range(0, n, GRADIENT_CHUNK):
        batch = task.sample(min(GRADIENT_CHUNK, n - start), g)
        loss = model.loss(batch.tokens, batch.labels.double(), reduction="none").sum() / n
        loss.backward()
    assert model.A1.grad is not None
    return -model.A1.grad[: T - 1, : T - 1].detach().clone()


def first_order_gradient(
    parents: Sequence[int],
    S: int,
    alpha: float,
    n: int,
    beta0: float = 0.1,
    eps: float = 1e-3,
    law: str = "empirical",
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """The first-order gradient ``−∂L/∂A1`` ``(T-1, T-1)`` float64, averaged over ``n`` fresh sequences:
    what :func:`initial_gradient_formula` predicts before its last two approximations are taken.

    For each sequence, with its own query ``q``, ``y = π[q]`` and the sequence's empirical token law
    ``ν̂`` (over all ``T`` positions, the query's included, as layer 2 averages them at
    initialisation), entry ``[i, k]`` (``k ≤ i``) is
    ``β₀ (1 − ε) / (T (i+1)) · (h_i − 1) (1[s_k = q] − ê_i[q])`` with ``h_i = y_{s_i} / f_{s_i}``:
    approximations 1 and 2 only. ``law="empirical"`` uses ``f = (1 − ε) ν̂ + ε/S``;
    ``law="stationary"`` replaces it by ``μ_π`` (approximation 3, ``ν̂ ≈ μ``). The average over the
    sequences (and so over the uniform query, approximation 4) is Monte Carlo, so the stationary
    version's mean tends to :meth:`InitialGradientFormula.gradient`. Chapter 5 uses the two to
    trace the formula's overall scale: the empirical version matches autograd's scale, the stationary
    one carries the formula's shortfall.
    """
    p = validate_parents(parents)
    S = check_vocab(S)
    n = check_positive_int("n", n, "the number of sequences")
    beta0 = check_nonnegative_float("beta0", beta0)
    if law not in ("empirical", "stationary"):
        raise ValueError(f'law must be "empirical" or "stationary", got law={law!r}')
    dev = resolve_device(device)
    g = generator_or_default(generator, dev)
    T = len(p) + 1
    task = SingleParentTask(S, T, p, alpha, device=dev)
    total = torch.zeros(T - 1, T - 1, dtype=torch.float64, device=dev)
    rows = torch.arange(1, T, dtype=torch.float64, device=dev)  # i + 1
    for start in range(0, n, GRADIENT_CHUNK):
        batch = task.sample(min(GRADIENT_CHUNK, n - start), g, return_law=law == "stationary")
        tokens, y = batch.tokens, batch.labels.double()
        x, q = tokens[:, :-1], tokens[:, -1:]
        if law == "stationary":
            assert batch.mu is not None
            f = batch.mu.double()
        else:
            f = (1 - float(eps)) * F.one_hot(tokens, S).double().mean(1) + float(eps) / S
        h = torch.gather(y, 1, x) / torch.gather(f, 1, x).clamp_min(torch.finfo(torch.float64).tiny) - 1
        hit = (x == q).double()  # 1[s_k = q]
        e_hat = hit.cumsum(1) / rows  # ê_i[q]
        total += h.T @ hit - (h * e_hat).sum(0).unsqueeze(1)
    causal = torch.ones(T - 1, T - 1, dtype=torch.bool, device=dev).tril()
    scaled = beta0 * (1 - float(eps)) / T * total / n / rows.unsqueeze(1)
    return torch.where(causal, scaled, 0.0)


@dataclass(frozen=True)
class GradientComparison:
    """How well :func:`initial_gradient_formula` predicts :func:`reduced_model_initial_gradient`.

    Attributes:
        rel_error: ``‖fitted − formula‖ / ‖formula‖`` over the compared entries (row-centred).
        factor: the common factor ``λ`` of the least-squares fit ``(i+1) · autograd ≈ λ · formula``;
            the derivation predicts ``β₀ (1 − ε) / (T S)``.
        argmax_autograd: the fraction of child rows whose largest entry over ``k < i`` is the parent.
        argmax_formula: the same for the formula.
        rows: the child rows compared.
        diagonal: whether the entries ``k = i`` were among the compared ones.
    """

    rel_error: float
    factor: float
    argmax_autograd: float
    argmax_formula: float
    rows: tuple[int, ...]
    diagonal: bool


def compare_gradient(
    autograd: torch.Tensor,
    formula: InitialGradientFormula | torch.Tensor,
    diagonal: bool = False,
    parents: Sequence[int] | None = None,
) -> GradientComparison:
    """Compare an autograd gradient with the formula on the child rows of ``formula.parents``.

    ``formula`` may also be another gradient ``(T-1, T-1)`` (such as :func:`first_order_gradient`'s),
    with the graph given as ``parents``; its rows are then scaled by ``i + 1`` as autograd's are, so
    that ``λ = 1`` means equal scale.

    Each child row ``i`` of ``autograd`` is multiplied by ``i + 1`` (undoing the ``1/(i+1)`` of the
    uniform first layer). The compared entries of a row are ``k < i``, and with ``diagonal`` also
    ``k = i``; both matrices have each row's mean over its compared entries removed (the row constant
    ``c_i``: the formula fixes the entries only up to it). One common factor ``λ = ⟨a, g⟩ / ⟨g, g⟩``
    is fitted by least squares (``a`` the scaled, centred autograd entries, ``g`` the formula's; the
    noise is in ``a``), and the relative error ``‖a/λ − g‖ / ‖g‖`` is reported (it is at least 1
    when ``λ ≤ 0``, the shapes then disagreeing).

    By default the diagonal is left out, and then also out of the centring, so that it cannot shift
    the rest of its row. There the model departs from the formula by more than the ``ν̂ ≈ μ`` error
    elsewhere: layer 2 averages all ``T`` tokens, the query's own among them, so when ``s_i = q``
    the count ``ν̂(s_i)`` is one larger and ``y_{s_i}/f_{s_i}`` smaller, a correlation with
    ``1[s_i = q]`` that only the entry ``k = i`` carries (``O(1/(T μ))``; it makes the autograd
    diagonal more negative than ``G[i, i] − c_i``). The parent is read off ``k < i`` anyway.

    Roots are not compared: where every earlier position is independent of a root (other trees, as
    for in-context pairs) its centred formula is 0 and a relative error means nothing. The argmax
    fractions are over ``k < i`` of the child rows (the diagonal never counts), ties counting as misses.
    """
    if isinstance(formula, InitialGradientFormula):
        graph, prediction, rescale = formula.parents, formula.mean, False
    elif isinstance(formula, torch.Tensor):
        if parents is None:
            raise ValueError("parents must be given when formula is a gradient tensor")
        graph, prediction, rescale = validate_parents(parents), formula, True
    else:
        raise TypeError(f"formula must be an InitialGradientFormula or a tensor, got {type(formula).__name__}")
    n = len(graph)
    if prediction.shape != (n, n):
        raise ValueError(f"formula must be ({n}, {n}) to match parents, got {tuple(prediction.shape)}")
    if not isinstance(autograd, torch.Tensor) or autograd.shape != (n, n):
        raise ValueError(
            f"autograd must be a ({n}, {n}) tensor to match the graph, got {getattr(autograd, 'shape', autograd)}"
        )
    compared = torch.ones(n, n, dtype=torch.bool).tril(0 if diagonal else -1)
    count = compared.sum(1, keepdim=True).clamp_min(1).to(torch.float64)

    def centred(m: torch.Tensor) -> torch.Tensor:
        m = torch.where(compared, m, 0.0)
        return torch.where(compared, m - m.sum(1, keepdim=True) / count, 0.0)

    scale = torch.arange(1, n + 1, dtype=torch.float64).unsqueeze(1)  # i + 1
    a = centred(autograd.detach().to(device="cpu", dtype=torch.float64) * scale)
    g = centred(prediction.detach().to(device="cpu", dtype=torch.float64) * (scale if rescale else 1.0))
    children = tuple(i for i, q in enumerate(graph) if q >= 0)
    keep = torch.zeros(n, n, dtype=torch.bool)
    keep[list(children)] = True
    keep &= compared
    av, gv = a[keep], g[keep]
    gg = float(gv @ gv)
    factor = float(av @ gv) / gg if gg > 0 else float("nan")
    rel = float((av / factor - gv).norm()) / math.sqrt(gg) if gg > 0 and factor != 0 else float("inf")

    def fraction(m: torch.Tensor) -> float:
        hits = 0
        for i in children:
            row = m[i, :i]
            best = row.max()
            hits += int(bool(row[graph[i]] == best) and int((row == best).sum()) == 1)
        return hits / len(children) if children else float("nan")

    return GradientComparison(
        rel_error=rel,
        factor=factor,
        argmax_autograd=fraction(a),
        argmax_formula=fraction(g),
        rows=children,
        diagonal=bool(diagonal),
    )


# --- the paper's Algorithm 1 ------------------------------------------------------------------------
def _eval_every(tau1: int, tau2: int, most: int = 100) -> int:
    """The smallest divisor of ``tau1`` giving at most ``most`` evaluations in all (else ``tau1``), so
    that the end of stage 1 is always evaluated (the end of training always is)."""
    for d in range(1, tau1 + 1):
        if tau1 % d == 0 and (tau1 + tau2) // d <= most:
            return d
    return tau1


def algorithm1(
    parents: Sequence[int],
    S: int,
    alpha: float,
    tau1: int,
    eta1: float,
    tau2: int,
    eta2: float,
    beta0: float = 0.1,
    batch_size: int = 1024,
    seed: int = 0,
    device: str | torch.device = "cpu",
    metrics: Metrics | None = None,
    prior_weight: float = 0.0,
    eps: float = 1e-3,
) -> tuple[ReducedModel, TrainResult]:
    """The paper's Algorithm 1: train a fresh ``ReducedModel(S, T, beta0, eps)`` in two stages of SGD.

    Stage 1 trains ``A1`` alone for ``tau1`` steps at the constant step size ``eta1`` (``A2`` stays at
    ``β₀ I``); stage 2 trains ``A2`` alone for ``tau2`` steps at ``eta2``. Fresh batches of
    ``batch_size`` sequences of ``SingleParentTask(S, T, parents, alpha)``, ``T = len(parents) + 1``,
    no weight decay; through :func:`causal_tutorial.training.train` with ``schedule="constant"`` and
    the given ``seed``. The test set is 4096 sequences; evaluations (the test loss and ``metrics``)
    come at most about 100 times, always at the end of stage 1 and at the end.

    ``prior_weight`` gives the reduced model a prior position (see
    :class:`~causal_tutorial.models.ReducedModel`; 0, the default, is the paper's model; ``S α``
    lets stage 2 approach the in-context estimator). ``eps`` is the weight of the uniform law in the
    prediction (the default ``1e-3`` is the book's choice; see :func:`unseen_label_mass` for what it
    costs).

    Returns the trained model and the :class:`~causal_tutorial.training.TrainResult`.
    """
    p = validate_parents(parents)
    tau1 = check_positive_int("tau1", tau1, "the steps of stage 1")
    tau2 = check_positive_int("tau2", tau2, "the steps of stage 2")
    for name, value in (("eta1", eta1), ("eta2", eta2)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} (a step size) must be a positive finite number, got {name}={value!r}")
    T = len(p) + 1
    dev = resolve_device(device)
    task = SingleParentTask(S, T, p, alpha, device=dev)
    model = ReducedModel(S, T, beta0=beta0, eps=eps, prior_weight=prior_weight)
    config = TrainConfig(
        stages=[Stage(("A1",), tau1, float(eta1)), Stage(("A2",), tau2, float(eta2))],
        optimizer="sgd",
        schedule="constant",
        weight_decay=0.0,
        batch_size=batch_size,
        eval_every=_eval_every(tau1, tau2),
        test_size=4096,
        seed=seed,
        device=str(dev),
    )
    result = train(model, task, config, metrics=metrics, desc="Algorithm 1")
    return model, result


def unseen_label_mass(tokens: torch.Tensor, labels: torch.Tensor, S: int) -> torch.Tensor:
    """The label's mass on tokens absent from each sequence: ``Σ_s y_s 1[s ∉ {s_0, …, s_{T-1}}]`` ``(n,)``.

    The reduced model without a prior position predicts ``(1 − ε) f̄ + ε/S`` with ``f̄`` an average of
    the sequence's one-hot tokens (the query's included), so ``f̄_s = 0`` exactly for every absent
    token ``s``: its loss pays ``y_s log(S/ε)`` there, whatever the parameters. The loss of such a model
    is therefore ``unseen_label_mass · log(S/ε)`` plus the loss on the tokens it can see (chapter 5
    measures both as ``ε`` varies).

    Args:
        tokens: ``(n, T)`` integer tokens in ``[0, S)``. labels: ``(n, S)`` label distributions.
        S: the vocabulary size.
    """
    S = check_vocab(S)
    if tokens.dim() != 2 or labels.shape != (tokens.shape[0], S):
        shapes = f"{tuple(tokens.shape)} and {tuple(labels.shape)}"
        raise ValueError(f"tokens must be (n, T) and labels (n, S={S}), got {shapes}")
    seen = F.one_hot(tokens.long(), S).amax(1).to(labels.dtype)  # (n, S): 1 where s occurs
    return (labels * (1 - seen)).sum(1)
