"""Checks for the exercises of chapter 3 (``book/03_disentangled_transformer``).

Each check returns ``True`` when the answer is right and raises ``AssertionError`` with a hint otherwise.
"""

from __future__ import annotations

import math

import torch

from ..checks import make_generator
from ..estimators import matching_children_average, readout_floor
from ..graphs import icl_pairs, validate_parents
from ..models import DisentangledTransformer
from ..tasks import SingleParentTask

__all__ = ["check_layer1_matrix", "check_readout_constant"]


def check_layer1_matrix(A1, parents=None, S: int = 10, T: int = 20, min_attention: float = 0.9) -> bool:
    """Exercise 3.1: ``A1`` (shape ``(S+T, S+T)``) makes every child put at least ``min_attention`` of its
    layer-1 attention on its parent, on random sequences of the graph ``parents`` (default: icl pairs)."""
    parents = icl_pairs(T) if parents is None else validate_parents(parents, T)
    A1 = torch.as_tensor(A1, dtype=torch.float32)
    assert A1.shape == (S + T, S + T), (
        f"A1 must have shape (S+T, S+T) = ({S + T}, {S + T}) — layer 1 reads [one-hot token | one-hot position] — "
        f"got {tuple(A1.shape)}"
    )
    assert torch.isfinite(A1).all(), "A1 has entries that are not finite; use a large finite beta instead of inf"
    model = DisentangledTransformer(S, T, heads=(1, 1))
    with torch.no_grad():
        model.head(1).copy_(A1)
    tokens, _ = SingleParentTask(S, T, parents, alpha=0.1).sample(256, make_generator(31))
    att = model.attention(tokens)[(1, 0)]  # (n, T, T)
    for i, pi in enumerate(parents):
        if pi < 0:
            continue
        on_parent = float(att[:, i, pi].mean())
        assert on_parent >= min_attention, (
            f"row {i} puts only {on_parent:.3f} of its attention on its parent {pi} (need >= {min_attention}); "
            f"which block of A1 compares position i with position j?"
        )
    return True


def check_readout_constant(
    c: float, parents=None, S: int = 10, T: int = 20, alpha: float = 0.1, tol: float = 2e-3
) -> bool:
    """Exercise 3.2: the read-out scale ``c`` brings ``softmax(c·v)`` within ``tol`` nats of the read-out
    floor on the graph ``parents`` (default: icl pairs), ``v`` the exact matching-children average, on the
    sequences whose query has at least one matching child."""
    c = float(c)
    assert math.isfinite(c), f"c must be a finite number, got {c}"
    parents = icl_pairs(T) if parents is None else validate_parents(parents, T)
    tokens, labels = SingleParentTask(S, T, parents, alpha).sample(8192, make_generator(32))
    v, counts = matching_children_average(tokens, parents, S)
    hit = counts > 0
    floor, c_best = readout_floor(tokens[hit], labels[hit], parents, S)
    loss = float(-(labels[hit] * torch.log_softmax(c * v[hit], -1)).sum(-1).mean())
    assert loss <= floor + tol, (
        f"with c = {c:.3f} the read-out loss is {loss:.4f}, {loss - floor:.4f} nats above the floor "
        f"{float(floor):.4f}; try {'larger' if c < c_best else 'smaller'} c"
    )
    return True
