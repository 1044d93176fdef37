"""Checks for the exercises of chapter 6 (``book/06_general_graphs``).

Each check returns ``True`` when the answer is right and raises ``AssertionError`` with a hint otherwise.
"""

from __future__ import annotations

import math

import torch

from ..analysis import block_attention_on_parent
from ..graphs import edges, validate_parents

__all__ = ["check_uniform_start", "check_block_metric"]


def check_uniform_start(value, parents) -> bool:
    """Exercise 6.1: ``value`` is the paper's Fig. 9 metric of an all-zero position block for the graph
    ``parents``: the mean over child rows ``i`` of the uniform attention ``1/(i+1)``."""
    parents = validate_parents(parents)
    kids, _ = edges(parents)
    assert kids, "this graph has no children, so the metric is not defined; pick a graph with an edge"
    exact = sum(1 / (i + 1) for i in kids) / len(kids)
    value = float(value)
    assert math.isfinite(value), f"the answer must be a finite number, got {value}"
    assert abs(value - exact) <= 1e-9, (
        f"not {value:.6g}: with a zero block, row i spreads its attention evenly over the i + 1 positions "
        "j ≤ i; average that share over the rows that have a parent (roots do not count)"
    )
    print(f"Right: {exact:.4f}. A trained model must be judged against this, not against 0.")
    return True


def check_block_metric(value, block, parents) -> bool:
    """Exercise 6.2: ``value`` is the paper's Fig. 9 metric of ``block (T, T)`` for ``parents``: the mean
    over child rows ``i`` of ``softmax(block[i, :i+1])[p(i)]``."""
    parents = validate_parents(parents)
    block = torch.as_tensor(block, dtype=torch.float64)
    T = len(parents) + 1
    assert block.shape == (T, T), f"block must be ({T}, {T}) for this graph, got {tuple(block.shape)}"
    exact = block_attention_on_parent(block, parents)
    value = float(value)
    assert math.isfinite(value), f"the answer must be a finite number, got {value}"
    assert abs(value - exact) <= 1e-6, (
        f"not {value:.6g}: mask each row i to the columns j ≤ i, take the softmax of that row, read its entry "
        "at the parent p(i), and average over the rows that have a parent"
    )
    print(f"Right: {exact:.4f}.")
    return True
