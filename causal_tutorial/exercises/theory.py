"""Checks for the exercises of chapter 5 (``book/05_why_it_works``).

Each check returns ``True`` when the answer is right and raises ``AssertionError`` with a hint otherwise.
"""

from __future__ import annotations

import math

import torch

from ..graphs import validate_parents
from ..theory import chi2_of_joint

__all__ = ["check_edge_chi2", "check_row_argmax"]


def check_edge_chi2(value, pi, mu) -> bool:
    """Exercise 5.1: ``value`` is ``I_χ²(s_p; s_i)`` of one edge, for the transition law ``pi (S, S)``
    and its stationary law ``mu (S,)``: ``Σ_{a,b} P(a, b)² / (μ(a) μ(b)) − 1`` with ``P = diag(μ) π``."""
    pi = torch.as_tensor(pi, dtype=torch.float64)
    mu = torch.as_tensor(mu, dtype=torch.float64)
    assert pi.dim() == 2 and pi.shape[0] == pi.shape[1] == mu.shape[0], (
        f"pi must be (S, S) and mu (S,), got {tuple(pi.shape)} and {tuple(mu.shape)}"
    )
    assert torch.allclose(pi.sum(1), torch.ones(len(mu), dtype=torch.float64), atol=1e-8), "pi's rows must sum to 1"
    assert torch.allclose(mu @ pi, mu, atol=1e-8), "mu must be stationary for pi: mu π = mu"
    exact = float(chi2_of_joint(mu.unsqueeze(1) * pi))
    value = float(value)
    assert math.isfinite(value), f"the answer must be a finite number, got {value}"
    assert abs(value - exact) <= 1e-6 * max(1.0, exact), (
        f"I_χ² of this edge is not {value:.6g}: the joint law of (s_p, s_i) is P(a, b) = μ(a) π[a, b], both "
        "marginals are μ; sum P(a, b)² / (μ(a) μ(b)) and subtract 1 (the value is between 0 and S − 1)"
    )
    return True


def check_row_argmax(G, parents) -> bool:
    """Exercise 5.2: in every child row ``i`` of ``G (T-1, T-1)``, the strict maximum over ``k < i``
    is at the parent ``p(i)`` (roots are not checked)."""
    parents = validate_parents(parents)
    G = torch.as_tensor(G, dtype=torch.float64)
    n = len(parents)
    assert G.shape == (n, n), f"G must be ({n}, {n}) to match the parent array, got {tuple(G.shape)}"
    wrong = []
    for i, p in enumerate(parents):
        if p < 0:
            continue
        row = G[i, :i]
        others = torch.cat([row[:p], row[p + 1 :]])
        if others.numel() and not bool(row[p] > others.max()):
            wrong.append((i, int(row.argmax()), p))
    assert not wrong, (
        f"{len(wrong)} child rows do not peak at their parent over k < i, e.g. row {wrong[0][0]} peaks at "
        f"{wrong[0][1]} instead of {wrong[0][2]}; did you leave the diagonal k = i in, or transpose G?"
    )
    return True
