"""Checks for the exercises of chapter 8 (``book/08_standard_transformer``).

Each check prints a short confirmation and returns ``True`` when the answer is right, and raises
``AssertionError`` with a hint otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..checks import check_alpha, check_length, check_positive_int, check_vocab

__all__ = ["check_parameter_count", "check_spurious_children", "check_permutation_loss"]


def check_parameter_count(count, S: int = 10, T: int = 20, d: int = 30, layers: int = 2) -> bool:
    """Exercise 8.1: ``count`` is the number of trained numbers in ``StandardTransformer(S, T, d, layers)``.

    Token and position tables ``(S + T) d``; per layer ``A`` and ``V`` (``d²`` each) and the MLP's two
    ``d × d`` weights with their two biases (``2d² + 2d``); the read-out ``W`` (``d S``).
    """
    S, T = check_vocab(S), check_length(T)
    d = check_positive_int("d", d, "the width")
    layers = check_positive_int("layers", layers, "the number of layers")
    embed, per_layer, readout = (S + T) * d, 4 * d * d + 2 * d, d * S
    exact = embed + layers * per_layer + readout
    assert isinstance(count, (int, float)) and math.isfinite(count), f"count must be a number, got {count!r}"
    count = int(round(count))
    hints = {
        exact - layers * 2 * d: "did you forget the MLP biases (d each, two per layer)?",
        exact - embed: "did you forget the token and position embeddings (they are trained here)?",
        exact - T * d: "did you forget the position table (T × d)?",
        exact - layers * 2 * d * d: "each layer's MLP has two d × d weights, d → d → d",
        exact - readout: "did you forget the read-out W (d × S)?",
    }
    assert count == exact, f"{count} is not the number of trained numbers; " + hints.get(
        count, "add the embeddings, each layer's A, V and MLP, and the read-out W"
    )
    print(f"Right: {exact} trained numbers ({embed} in the embeddings, {per_layer} per layer, {readout} in W).")
    return True


def check_spurious_children(positions: Sequence[int], T: int = 20) -> bool:
    """Exercise 8.2: the positions ``i ≤ T-2`` that a layer 1 attending to ``i - 1`` everywhere (the chain)
    treats as children on in-context pairs data, although in the icl-pairs graph they are roots."""
    T = check_length(T)
    try:
        got = sorted(int(i) for i in positions)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"positions must be a list of ints, got {positions!r}") from exc
    exact = list(range(2, T - 1, 2))
    assert len(set(got)) == len(got), f"each position once, please: {got}"
    assert 0 not in got, "position 0 has no position before it: the chain model treats it as a root too"
    assert T - 1 not in got, f"the query (position {T - 1}) is not counted as a child by the estimator"
    odd = [i for i in got if i % 2 == 1]
    assert not odd, f"{odd[:3]} are children in the icl-pairs graph too (odd positions copy the position before)"
    missing = sorted(set(exact) - set(got))
    assert not missing, f"missing {missing[:3]}: every even root after position 0 has a position before it"
    print(f"Right: {exact}. At each of them the chain model counts a transition s_(i-1) → s_i that is not one.")
    return True


def check_permutation_loss(values: Sequence[float], S: int = 10, alpha: float = 0.1) -> bool:
    """Exercise 8.3: ``values[N - 1]`` is the in-context estimator's loss on a permutation law when the query
    has ``N`` matching children, ``N = 1, 2, …``: ``-log((N + α) / (N + S α))``."""
    S, alpha = check_vocab(S), check_alpha(alpha)
    try:
        got = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"values must be a list of numbers, got {values!r}") from exc
    assert got, "give at least the value for N = 1"
    exact = [-math.log((n + alpha) / (n + S * alpha)) for n in range(1, len(got) + 1)]
    for n, (g, e) in enumerate(zip(got, exact), start=1):
        if abs(g - math.log(S)) < 1e-6:
            raise AssertionError(f"N = {n}: log S is the loss when nothing matches (N = 0), not for N = {n}")
        assert abs(g - e) <= 1e-6 * max(1.0, e), (
            f"N = {n}: {g:.6g} is not the estimator's loss. The label is one-hot on the successor of the query, "
            "and each of the N matching children holds that successor: the estimator gives it (N + α) / (N + Sα)"
        )
    print(f"Right: {', '.join(f'{e:.4f}' for e in exact)} nats for N = 1 … {len(exact)}.")
    return True
