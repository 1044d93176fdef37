"""Checks for the exercises of chapter 2 (``book/02_causal_graphs``, "Causal graphs").

Each check returns ``True`` when the answer is right and raises ``AssertionError`` with a hint otherwise.
"""

from __future__ import annotations

import math

from ..graphs import validate_parents

__all__ = ["check_interleaved_chains", "check_needs_graph", "check_expected_roots"]

#: The predictors of chapters 1 and 2, by the names exercise 2.2 uses.
PREDICTORS = ("uniform", "unigram", "estimator", "bayes")


def check_interleaved_chains(parents, T: int = 20) -> bool:
    """Exercise 2.1: the parent array of two interleaved Markov chains of total length ``T``.

    Even positions form one chain and odd positions the other: every position ``i ≥ 2`` copies,
    through ``π``, the token two steps back; positions 0 and 1 are roots.
    """
    try:
        p = validate_parents(parents, T)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"not a valid parent array for T = {T}: {exc}") from exc
    expected = tuple(-1 if i < 2 else i - 2 for i in range(T - 1))
    wrong = [i for i in range(T - 1) if p[i] != expected[i]]
    if wrong:
        i = wrong[0]
        raise AssertionError(
            f"{len(wrong)} entries differ, the first at position {i}: you have parents[{i}] = {p[i]}, but "
            + (
                f"position {i} starts one of the two chains, so it is a root (-1)"
                if i < 2
                else f"position {i} copies the token two steps back, position {i - 2}"
            )
        )
    return True


def check_needs_graph(answer) -> bool:
    """Exercise 2.2: the set of predictors (among ``uniform``, ``unigram``, ``estimator``, ``bayes``)
    that cannot be computed without the parent array."""
    names = {str(a).strip().lower() for a in answer}
    unknown = names - set(PREDICTORS)
    assert not unknown, f"unknown names {sorted(unknown)}: choose among {list(PREDICTORS)}"
    why = {
        "uniform": "the uniform predictor ignores the sequence altogether",
        "unigram": "the unigram counts every token of the sequence, whatever its parent",
        "estimator": "the estimator counts the children whose parent holds the query: it must know who is whose child",
        "bayes": "the Bayes predictor weighs each draw of π by the roots' likelihood and draws π from the "
        "transition counts: it needs the roots and the parent of every child",
    }
    for name in PREDICTORS:
        needs = name in {"estimator", "bayes"}
        if needs and name not in names:
            raise AssertionError(f"'{name}' needs the graph too: {why[name]}")
        if not needs and name in names:
            raise AssertionError(f"'{name}' does not need the graph: {why[name]}")
    return True


def check_expected_roots(family: str, value: float, T: int = 20, tol: float = 0.01) -> bool:
    """Exercise 2.3: the expected number of roots of a random graph of the family ``random`` (the
    paper's random trees, :func:`causal_tutorial.graphs.random_tree`) or ``forest`` (Fig. 9's random
    forests, :func:`causal_tutorial.graphs.random_forest`) over positions ``0 … T-2``."""
    if family == "random":
        exact = sum(1.0 / (i + 1) for i in range(T - 1))  # parents[i] uniform on i+1 values, one of them -1
        hint = "position i draws its parent from i + 1 values, one of which is -1 (a harmonic sum)"
    elif family == "forest":
        exact = 1 + (T - 2) / 2  # node 0, then each later node drops its parent with probability 1/2
        hint = "node 0 is always a root; each of the other T - 2 nodes loses its parent with probability 1/2"
    else:
        raise ValueError(f"family must be 'random' or 'forest', got {family!r}")
    value = float(value)
    assert math.isfinite(value), f"value must be a finite number, got {value}"
    assert abs(value - exact) <= tol, (
        f"{value:.3f} is not the expected number of roots of a {family} graph with T = {T}: {hint}"
    )
    return True
