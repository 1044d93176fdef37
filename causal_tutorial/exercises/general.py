"""Checks for the exercises of chapter 6 (``book/06_general_graphs``).

Each check returns ``True`` when the answer is right and raises ``AssertionError`` with a hint otherwise.
"""

from __future__ import annotations

import math

import torch

from ..analysis import block_attention_on_parent, position_block, rows_locked_on_parent
from ..graphs import edges, validate_parents

__all__ = ["check_uniform_start", "check_block_metric", "check_graph_verdict"]


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


def check_graph_verdict(recovered, parent_entry_mean, model, parents) -> bool:
    """Exercise 6.3: your reading of the layer-1 position block of ``model``, trained on ``parents``.

    ``recovered``: ``True`` if every child row ``i`` of the block peaks (over ``j ≤ i``) strictly at its parent
    ``p(i)``, else ``False``. ``parent_entry_mean``: the mean over the child rows of the entry ``block[i, p(i)]``.
    Right or wrong, the verdict is checked against the model, so a model that did learn the graph and one that
    did not are both answered correctly by the right reading.
    """
    parents = validate_parents(parents, model.T)
    if hasattr(recovered, "item"):  # a NumPy or torch boolean
        recovered = recovered.item()
    assert isinstance(recovered, bool), f"recovered must be True or False, got {recovered!r}"
    block = position_block(model).double()
    locked = rows_locked_on_parent(block, parents)
    kids, par = edges(parents)
    assert kids, "this graph has no children, so there is nothing to recover; pick a graph with an edge"
    n_on = sum(locked.values())
    truth = n_on == len(kids)
    at_parent = float(block[kids, par].mean())
    others = [float(x) for i, p in zip(kids, par) for j, x in enumerate(block[i, : i + 1]) if j != p]
    elsewhere = sum(others) / len(others) if others else float("nan")
    value = float(parent_entry_mean)
    assert math.isfinite(value), f"parent_entry_mean must be a finite number, got {value}"
    assert abs(value - at_parent) <= 1e-6 * max(1.0, abs(at_parent)), (
        f"parent_entry_mean is not {value:.6g}: take block = position_block(model), read block[i, p(i)] at every "
        "position i that has a parent (roots excluded) and average those entries"
    )
    assert recovered == truth, (
        f"recovered={recovered} does not match this model: {n_on} of {len(kids)} child rows peak strictly at "
        "their parent. Compare, row by row, the entry at p(i) with the other entries j ≤ i of that row (roots "
        "and the query's row apart), e.g. with recovered_parents(model)"
    )
    verdict = "has learned the graph" if truth else "has not learned the graph"
    side = "above" if at_parent > elsewhere else "below"
    print(
        f"Right: layer 1 {verdict} ({n_on} of {len(kids)} child rows peak at their parent). The block's mean "
        f"entry at the parents is {at_parent:+.2f}, {side} the mean {elsewhere:+.2f} of the other entries j ≤ i "
        "of the same rows."
    )
    return True
