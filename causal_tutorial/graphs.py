"""Causal graphs over sequence positions: parent arrays, parent lists, families, validation.

Chapter 2 of the book (``book/02_causal_graphs``) introduces every object here.

Conventions (0-indexed; chapter 2 states them):

* A **parent array** ``parents`` has length ``T - 1`` and covers positions ``0 … T-2``;
  ``parents[i]`` is ``-1`` (a root) or an earlier position ``0 … i-1``. Position ``T-1`` is
  the query: it has no parent in the array (it is drawn uniformly).
* A **parent list** (multi-parent task) has one tuple per position ``0 … T``; position ``T`` is
  the target the model predicts. Every parent must be an earlier position; ``()`` is a root.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from .checks import check_length, make_generator

__all__ = [
    "FAMILIES",
    "validate_parents",
    "validate_parent_lists",
    "chain",
    "icl_pairs",
    "random_tree",
    "random_forest",
    "SMALL_TREE",
    "small_tree",
    "make_parents",
    "multi_parent_dag",
    "edges",
    "adjacency",
    "multi_adjacency",
    "depth_levels",
    "parent_depths",
]

#: The single-parent families of chapter 2, by the names the experiments use.
FAMILIES = ("chain", "icl", "random", "forest")

#: The research code's extra single-parent example, for S = 3 and T = 6, is a root with two children,
#: each with one child of its own; the query is position 5.
SMALL_TREE = (-1, 0, 0, 1, 2)


def validate_parents(parents: Iterable[int], T: int | None = None) -> tuple[int, ...]:
    """Check a single-parent array and return it as a tuple of ints (chapter 2).

    Rules: length ``T - 1`` when ``T`` is given; ``parents[i]`` is ``-1`` or in ``0 … i-1``.
    """
    if isinstance(parents, torch.Tensor):
        parents = parents.tolist()
    try:
        p = tuple(int(x) for x in parents)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"parents must be a sequence of ints, got {parents!r}") from exc
    if len(p) < 2:
        raise ValueError(f"parents must have length T-1 >= 2, got length {len(p)}")
    if T is not None and len(p) != T - 1:
        raise ValueError(f"parents must have length T-1 = {T - 1} for T={T}, got length {len(p)}")
    for i, pi in enumerate(p):
        if pi != -1 and not 0 <= pi < i:
            raise ValueError(
                f"parents[{i}] = {pi} is invalid: a parent must be -1 (root) or an earlier position 0..{i - 1}"
            )
    return p


def validate_parent_lists(parent_lists: Sequence[Sequence[int]], T: int | None = None) -> tuple[tuple[int, ...], ...]:
    """Check a multi-parent DAG given as one parent tuple per position ``0 … T`` (the paper's Fig. 5/7).

    Rules: length ``T + 1`` when ``T`` is given; every parent an earlier position (this rules out
    cycles); no repeated parent; the target (last position) has at least one parent.
    """
    try:
        lists = tuple(tuple(int(x) for x in ps) for ps in parent_lists)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"parent_lists must be a sequence of sequences of ints, got {parent_lists!r}") from exc
    if len(lists) < 3:
        raise ValueError(f"parent_lists must have length T+1 >= 3, got length {len(lists)}")
    if T is not None and len(lists) != T + 1:
        raise ValueError(f"parent_lists must have length T+1 = {T + 1} for T={T}, got length {len(lists)}")
    for i, ps in enumerate(lists):
        for q in ps:
            if q >= i:
                raise ValueError(
                    f"parent_lists[{i}] contains {q}: parents must be earlier positions 0..{i - 1} "
                    f"(a parent at or after its child would make a cycle)"
                )
            if q < 0:
                raise ValueError(f"parent_lists[{i}] contains {q}: positions are non-negative")
        if len(set(ps)) != len(ps):
            raise ValueError(f"parent_lists[{i}] = {ps} repeats a parent")
    if not lists[-1]:
        raise ValueError("parent_lists[-1] (the target) must have at least one parent")
    return lists


def chain(T: int) -> tuple[int, ...]:
    """The in-context Markov chain: ``parents[i] = i - 1`` (position 0 is the only root)."""
    check_length(T)
    return tuple(i - 1 for i in range(T - 1))


def icl_pairs(T: int) -> tuple[int, ...]:
    """In-context (x, y) pairs: odd positions are children of the position before, even ones roots."""
    check_length(T)
    return tuple(i - 1 if i % 2 == 1 else -1 for i in range(T - 1))


def _generator(generator: torch.Generator | None, seed: int | None) -> torch.Generator:
    return generator if generator is not None else make_generator(0 if seed is None else seed)


def random_tree(T: int, generator: torch.Generator | None = None, seed: int | None = None) -> tuple[int, ...]:
    """A random forest where ``parents[i]`` is uniform on ``{-1, 0, …, i-1}`` (the paper's "random")."""
    check_length(T)
    g = _generator(generator, seed)
    return tuple(int(torch.randint(-1, i, (1,), generator=g)) if i > 0 else -1 for i in range(T - 1))


def random_forest(T: int, generator: torch.Generator | None = None, seed: int | None = None) -> tuple[int, ...]:
    """The random forests of the paper's Fig. 9.

    Node 0 is a root; node ``i >= 1`` draws a parent uniformly from ``{0, …, i-1}`` and then
    loses it (becomes a root) with probability 1/2.
    """
    check_length(T)
    g = _generator(generator, seed)
    out = [-1]
    for i in range(1, T - 1):
        p = int(torch.randint(0, i, (1,), generator=g))
        drop = bool(torch.rand((), generator=g) < 0.5)
        out.append(-1 if drop else p)
    return tuple(out)


def small_tree(T: int = 6) -> tuple[int, ...]:
    """:data:`SMALL_TREE`, the research code's extra example; it exists only for ``T = 6``."""
    if T != 6:
        raise ValueError(f"the small tree has T = 6 (five positions and the query), got T={T!r}")
    return SMALL_TREE


def make_parents(family: str, T: int, seed: int = 0) -> tuple[int, ...]:
    """The parent array of a named family (``chain``, ``icl``, ``random``, ``forest``) or of the
    named ``small`` tree (:data:`SMALL_TREE`, ``T = 6`` only)."""
    if family == "chain":
        return chain(T)
    if family == "icl":
        return icl_pairs(T)
    if family == "random":
        return random_tree(T, seed=seed)
    if family == "forest":
        return random_forest(T, seed=seed)
    if family == "small":
        return small_tree(T)
    raise ValueError(f"family must be one of {FAMILIES} or 'small', got {family!r}")


def multi_parent_dag(T: int) -> tuple[tuple[int, ...], ...]:
    """The paper's multi-parent DAG (Fig. 5): positions 0, 1 roots; ``i >= 2`` has parents ``((i-1)//2, i-1)``.

    Returned as parent lists for positions ``0 … T`` (``T`` is the target).
    """
    check_length(T)
    return tuple(() if i < 2 else ((i - 1) // 2, i - 1) for i in range(T + 1))


def edges(parents: Sequence[int], count_roots: bool = False) -> tuple[list[int], list[int]]:
    """The children of a parent array and their parents: ``(children, parents_of_children)`` (chapter 2).

    Roots are left out, unless ``count_roots``: then each root counts as a child of position
    ``T-2``, the slip of the paper's research code (chapter 1 explains it; see
    :func:`causal_tutorial.estimators.in_context_estimator`).
    """
    p = validate_parents(parents)
    T = len(p) + 1
    kids = [i for i, q in enumerate(p) if q >= 0 or count_roots]
    return kids, [p[i] if p[i] >= 0 else T - 2 for i in kids]


def adjacency(parents: Sequence[int]) -> torch.Tensor:
    """The ``T × T`` parent adjacency: ``M[i, parents[i]] = 1`` (row = child, column = parent)."""
    p = validate_parents(parents)
    T = len(p) + 1
    M = torch.zeros(T, T)
    for i, pi in enumerate(p):
        if pi >= 0:
            M[i, pi] = 1.0
    return M


def multi_adjacency(parent_lists: Sequence[Sequence[int]]) -> torch.Tensor:
    """The ``(T+1) × (T+1)`` adjacency of a parent-list DAG (row = child, column = parent)."""
    lists = validate_parent_lists(parent_lists)
    n = len(lists)
    M = torch.zeros(n, n)
    for i, ps in enumerate(lists):
        for q in ps:
            M[i, q] = 1.0
    return M


def parent_depths(parents: Sequence[int]) -> list[int]:
    """Depth of each position in the forest (roots have depth 0)."""
    p = validate_parents(parents)
    depth: list[int] = []
    for pi in p:
        depth.append(0 if pi < 0 else depth[pi] + 1)
    return depth


def depth_levels(parent_lists: Sequence[Sequence[int]]) -> list[list[int]]:
    """Positions grouped by depth in a DAG given as parent lists: level ``d`` needs only levels ``< d``.

    Samplers loop over these levels (never over sequences).
    """
    depth: list[int] = []
    for ps in parent_lists:
        depth.append(0 if not ps else 1 + max(depth[q] for q in ps))
    levels: list[list[int]] = [[] for _ in range(max(depth) + 1)]
    for i, d in enumerate(depth):
        levels[d].append(i)
    return levels
