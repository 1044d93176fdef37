"""Checks for the exercises of chapter 7 (``book/07_several_parents``).

Each check prints a short message and returns ``True`` when the answer is right, and raises
``AssertionError`` with a hint otherwise.
"""

from __future__ import annotations

import math

import torch

from ..estimators import one_parent_estimator, soft_cross_entropy
from ..graphs import multi_parent_dag

__all__ = ["check_parent_adjacencies", "check_match_counts", "check_best_smoothing"]


def _two_parent_adjacencies(T: int) -> torch.Tensor:
    """``M[k, i, p_k(i)] = 1`` for the positions ``i ≤ T-1`` of :func:`~causal_tutorial.graphs.multi_parent_dag`."""
    lists = multi_parent_dag(T)
    M = torch.zeros(2, T, T)
    for i, ps in enumerate(lists[:T]):
        for k, p in enumerate(ps):
            M[k, i, p] = 1.0
    return M


def check_parent_adjacencies(adj, T: int) -> bool:
    """Exercise 7.1: ``adj (2, T, T)`` holds the two parent adjacencies of ``multi_parent_dag(T)``:
    ``adj[k, i, j] = 1`` when ``j`` is parent number ``k`` of position ``i`` (``k = 0``: ``(i-1)//2``,
    ``k = 1``: ``i-1``), 0 elsewhere; the rows of the roots 0 and 1 are empty."""
    adj = torch.as_tensor(adj, dtype=torch.float32)
    assert adj.shape == (2, T, T), f"adj must be (2, T, T) = (2, {T}, {T}), got {tuple(adj.shape)}"
    assert bool(((adj == 0) | (adj == 1)).all()), "adj must hold only 0s and 1s"
    want = _two_parent_adjacencies(T)
    if torch.equal(adj, want.flip(0)):
        raise AssertionError("the two parents are swapped: adj[0] is the first parent (i-1)//2, adj[1] is i-1")
    if torch.equal(adj, want.transpose(1, 2)):
        raise AssertionError("adj is transposed: row i is the child, column j its parent (j < i)")
    assert not bool(adj[:, :2].any()), "positions 0 and 1 are roots: their rows must be empty"
    for k, name in enumerate(("(i-1)//2", "i-1")):
        wrong = [i for i in range(T) if not torch.equal(adj[k, i], want[k, i])]
        assert not wrong, (
            f"adj[{k}] (parent {name}) differs from the graph in {len(wrong)} rows, e.g. row {wrong[0]}, "
            f"whose parent is {int(want[k, wrong[0]].argmax()) if want[k, wrong[0]].any() else 'none'}"
        )
    print(f"Right: the two parent adjacencies of multi_parent_dag({T}), one for each head to learn.")
    return True


def _match_counts(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    T = tokens.shape[1]
    lists = multi_parent_dag(T)
    kids = [i for i in range(T) if len(lists[i]) == 2]
    p0 = torch.tensor([lists[i][0] for i in kids])
    p1 = torch.tensor([lists[i][1] for i in kids])
    t0, t1 = lists[T]
    one = tokens[:, p1] == tokens[:, t1 : t1 + 1]
    two = one & (tokens[:, p0] == tokens[:, t0 : t0 + 1])
    return two.sum(1), one.sum(1)


def check_match_counts(n_two, n_one, tokens) -> bool:
    """Exercise 7.2: for each sequence of ``tokens (n, T)``, ``n_two`` counts the positions
    ``i = 2 … T-1`` whose parent tokens ``(s_{(i-1)//2}, s_{i-1})`` equal the target's
    ``(s_{(T-1)//2}, s_{T-1})`` (what the k-gram estimator counts), and ``n_one`` those with
    ``s_{i-1} = s_{T-1}`` alone (what the one-parent estimator counts)."""
    tokens = torch.as_tensor(tokens)
    assert tokens.dim() == 2, f"tokens must be (n, T), got {tuple(tokens.shape)}"
    n = tokens.shape[0]
    n_two = torch.as_tensor(n_two).reshape(-1)
    n_one = torch.as_tensor(n_one).reshape(-1)
    assert n_two.numel() == n and n_one.numel() == n, f"one count per sequence: {n} of each"
    two, one = _match_counts(tokens)
    if torch.equal(n_two, one) and torch.equal(n_one, two):
        raise AssertionError("the two counts are swapped: n_two needs both parents to match, n_one only i-1")
    assert bool((n_two <= n_one).all()), "n_two can never exceed n_one: a match on both parents is a match on i-1"
    bad_one = int((n_one != one).sum())
    assert bad_one == 0, (
        f"n_one is wrong in {bad_one} of {n} sequences: count i = 2 … T-1 with s_(i-1) = s_(T-1) "
        "(the target's second parent is T-1; position 1 is a root, so i = 1 is not counted)"
    )
    bad_two = int((n_two != two).sum())
    assert bad_two == 0, (
        f"n_two is wrong in {bad_two} of {n} sequences: the target T has parents ((T-1)//2, T-1), and "
        "position i has ((i-1)//2, i-1); both tokens must match, in order"
    )
    print(
        f"Right: on average {float(n_two.double().mean()):.2f} positions match both parents and "
        f"{float(n_one.double().mean()):.2f} match the last one."
    )
    return True


#: The grid on which :func:`check_best_smoothing` looks for the best pseudo-count.
SMOOTHING_GRID = tuple(round(0.05 * 1.1**j, 6) for j in range(60))


def check_best_smoothing(alpha_prime, tokens, labels, S: int, alpha: float = 0.1, tol: float = 2e-3) -> bool:
    """Exercise 7.3: ``alpha_prime`` is (within ``tol`` nats of the loss of) the pseudo-count that makes
    the one-parent estimator ``one_parent_estimator(tokens, S, alpha_prime)`` best on ``(tokens, labels)``;
    the task's own ``alpha`` is what the chapter's one-parent line uses."""
    a = float(alpha_prime)
    assert math.isfinite(a) and a > 0, f"alpha_prime must be a positive number, got {alpha_prime}"
    tokens, labels = torch.as_tensor(tokens), torch.as_tensor(labels)

    def loss(x: float) -> float:
        return float(soft_cross_entropy(one_parent_estimator(tokens, S, x), labels))

    losses = {x: loss(x) for x in SMOOTHING_GRID}
    best = min(losses, key=losses.__getitem__)
    mine = loss(a)
    if a <= alpha and mine > losses[best] + tol:
        raise AssertionError(
            f"alpha_prime = {a:g} is not larger than the task's α = {alpha:g}, and its loss {mine:.4f} is "
            f"{mine - losses[best]:.4f} nats above the best: given one parent only, the target's law is a mixture "
            "over the other parent, flatter than one Dirichlet row: it needs more smoothing"
        )
    assert mine <= losses[best] + tol, (
        f"the one-parent estimator with alpha_prime = {a:g} scores {mine:.4f}, {mine - losses[best]:.4f} nats "
        f"above the best on a grid; try values of alpha_prime around {best:.2g} (scan and take the minimum)"
    )
    print(
        f"Right: with alpha' = {a:.2g} the one-parent estimator scores {mine:.4f} nats, against {loss(alpha):.4f} "
        f"with the task's α = {alpha:g}."
    )
    return True
