"""Checks for the exercises of chapter 4 (``book/04_learning_induction_head``).

Each check returns ``True`` when the answer is right and raises ``AssertionError`` with a hint otherwise.
"""

from __future__ import annotations

import math

from ..analysis import recovered_parents
from ..graphs import validate_parents

__all__ = ["check_recovers_graph", "check_zero_init_gradients"]


def check_recovers_graph(model, parents) -> bool:
    """Exercise 4.1: the row-wise argmax of the trained model's layer-1 position block is the parent at
    every child (roots and the query are free)."""
    parents = validate_parents(parents, model.T)
    rec = recovered_parents(model)
    wrong = [(i, rec[i], pi) for i, pi in enumerate(parents) if pi >= 0 and rec[i] != pi]
    assert not wrong, (
        f"{len(wrong)} rows miss their parent, e.g. row {wrong[0][0]} peaks at {wrong[0][1]} instead of "
        f"{wrong[0][2]}; train longer, or check that the model was trained on this graph"
    )
    return True


def check_zero_init_gradients(grad_norms: dict) -> bool:
    """Exercise 4.2: at the zero initialisation only ``W`` has a gradient. ``grad_norms`` maps
    ``"A1"``, ``"A2"``, ``"W"`` to the norms of the gradients of the loss on one batch."""
    missing = {"A1", "A2", "W"} - set(grad_norms)
    assert not missing, f"grad_norms needs the keys A1, A2 and W; missing {sorted(missing)}"
    g = {k: float(grad_norms[k]) for k in ("A1", "A2", "W")}
    assert all(math.isfinite(x) and x >= 0 for x in g.values()), f"norms must be finite and >= 0, got {g}"
    for k in ("A1", "A2"):
        assert g[k] < 1e-8, (
            f"the gradient of {k} should vanish exactly at the zero initialisation, you have {g[k]:.3g}: "
            f"with W = 0 the logits are 0 whatever {k} is"
        )
    assert g["W"] > 1e-3, (
        f"the gradient of W should not vanish (you have {g['W']:.3g}): it is the average of h_(T-1) ⊗ (f - y)"
    )
    return True
