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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .checks import check_alpha, check_positive_int, check_vocab, generator_or_default, resolve_device
from .graphs import parent_depths, validate_parents
from .priors import normalise_rows_, sample_gamma, stationary_distribution

__all__ = [
    "Chi2MutualInformation",
    "pairwise_joint",
    "chi2_of_joint",
    "chi2_mutual_information",
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
class Chi2MutualInformation:
    """``E_π[I_χ²(s_j; s_i)]`` for the pairs ``j < i`` of a graph, with its standard error.

    Attributes:
        mean: ``(T-1, T-1)`` float64, entry ``[i, j]`` (``j < i``) the mean over the draws of ``π``; 0 for ``j ≥ i``.
        se: the standard error of each mean, ``std / √n_pi`` over the draws (ddof 1); 0 for ``j ≥ i``.
        n_pi: the number of draws of ``π``.
        parents: the parent array (validated, a tuple).
        S: the vocabulary size.
        alpha: the Dirichlet concentration of the prior ``π`` was drawn from.
    """

    mean: torch.Tensor
    se: torch.Tensor
    n_pi: int
    parents: tuple[int, ...]
    S: int
    alpha: float


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
    for start in range(0, n_pi, CHUNK):
        m = min(CHUNK, n_pi - start)
        pi = normalise_rows_(sample_gamma(alpha, (m, S, S), g, dev, dtype=torch.float64), dim=-1)
        mu = stationary_distribution(pi)
        laws, index = _distinct_joints(p, pi, mu)  # each distinct joint law once: I_χ² of those, then gather
        per_draw.append(chi2_of_joint(laws)[:, index[below]])  # (m, pairs j < i)
    values = torch.cat(per_draw)
    mean = torch.zeros(n, n, dtype=torch.float64, device=dev)
    se = torch.zeros(n, n, dtype=torch.float64, device=dev)
    mean[below] = values.mean(0)
    se[below] = values.std(0) / math.sqrt(n_pi) if n_pi > 1 else float("nan")
    return Chi2MutualInformation(mean=mean, se=se, n_pi=n_pi, parents=p, S=S, alpha=alpha)
