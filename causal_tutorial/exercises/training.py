"""Checks for the exercises of chapter 4 (``book/04_learning_induction_head``).

Each check returns ``True`` when the answer is right and raises ``AssertionError`` with a hint otherwise.
"""

from __future__ import annotations

import math

import torch

from ..analysis import layer2_attention_by_count, loss_by_match_count, recovered_parents
from ..checks import make_generator
from ..graphs import chain, validate_parents
from ..models import DisentangledTransformer
from ..tasks import SingleParentTask

__all__ = ["check_recovers_graph", "check_zero_init_gradients", "check_hedging_without_slot"]

#: Exercise 4.3: a value of N "suffers" when blocking the query's slot raises its mean loss by more than this.
SUFFER_NATS = 0.05


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


def _bucket(n) -> str:
    """A value of N as :func:`~causal_tutorial.analysis.loss_by_match_count` names its bucket ("0" … "5", "6+")."""
    if isinstance(n, str) and n.strip() == "6+":
        return "6+"
    try:
        k = int(n)
    except (TypeError, ValueError):
        raise AssertionError(f"suffer must list values of N (0, 1, 2, … or '6+'), got {n!r}") from None
    assert k >= 0, f"N counts matching children, so it is at least 0; got {n!r}"
    return "6+" if k >= 6 else str(k)


def check_hedging_without_slot(model, blocked, suffer, parents=None, alpha: float = 0.1, n: int = 8192) -> bool:
    """Exercise 4.3: ``blocked`` is a copy of the trained ``model`` whose layer-2 score of the query's own
    position (``A2[S+T-1, S+T-1]``) is a large negative number, and ``suffer`` lists the values of ``N``
    (the number of matching children; ``"6+"`` or any ``N >= 6`` for the last bucket) whose mean test loss
    rises by more than :data:`SUFFER_NATS` when the slot is blocked.

    The check measures the rise itself, on ``n`` fresh sequences of the graph ``parents`` (default: the
    chain) drawn with a fixed seed, so it needs the trained model of chapter 4, whose query hedges by
    attending to itself.
    """
    for name, m in (("model", model), ("blocked", blocked)):
        assert isinstance(m, DisentangledTransformer) and tuple(m.heads) == (1, 1), (
            f"{name} must be a heads-(1, 1) DisentangledTransformer like the chapter's, got {type(m).__name__}"
        )
    S, T = model.S, model.T
    assert (blocked.S, blocked.T) == (S, T), f"blocked has S, T = {blocked.S}, {blocked.T}; model has {S}, {T}"
    assert blocked is not model, "block the slot in a copy (copy.deepcopy(model)), not in the model itself"
    q = S + T - 1
    slot = float(blocked.head(2).detach()[q, q])
    before = float(model.head(2).detach()[q, q])
    assert slot <= -10.0, (
        f"blocked.head(2)[{q}, {q}] (the query's score of its own position) is {slot:.3g}; "
        "set it to a large negative number such as -30"
    )
    with torch.no_grad():
        for (name, a), (_, b) in zip(model.named_parameters(), blocked.named_parameters()):
            differ = (a.detach().cpu() != b.detach().cpu()).nonzero().tolist()
            if b is blocked.head(2):  # layer 2: only the query's slot may differ
                differ = [ij for ij in differ if ij != [q, q]]
            assert not differ, (
                f"blocked differs from model in {name} at {differ[:3]}{' …' if len(differ) > 3 else ''}; "
                f"change only the entry [{q}, {q}] of A2, in a copy of the trained model"
            )
    parents = chain(T) if parents is None else validate_parents(parents, T)
    device = model.W.device
    tokens, labels = SingleParentTask(S, T, parents, alpha, device=device).sample(n, make_generator(43, device))
    on_self = layer2_attention_by_count(model, tokens, parents)["on the query itself"][0]
    assert on_self > 0.2 and before > -10.0, (
        f"this model puts only {on_self:.1%} of its query's layer-2 attention on itself when nothing matches "
        "(the trained model of chapter 4 puts over a third there): pass the model trained in chapter 4"
    )
    with torch.no_grad():
        probs = {"model": torch.softmax(model(tokens), -1), "blocked": torch.softmax(blocked(tokens), -1)}
    table = loss_by_match_count(tokens, labels, parents, S, probs)
    rise = {N: b - a for N, a, b in zip(table["N"], table["model"], table["blocked"])}
    truth = {N for N, r in rise.items() if r > SUFFER_NATS}
    if isinstance(suffer, (str, int)):
        suffer = [suffer]
    given = {_bucket(N) for N in suffer}
    missing, extra = sorted(truth - given), sorted(given - truth)
    assert not missing, (
        "these values of N suffer too: "
        + ", ".join(f"N = {N} (its loss rises by {rise[N]:.3f} nats)" for N in missing)
        + f"; a value suffers when its loss rises by more than {SUFFER_NATS} nats"
    )
    assert not extra, (
        "these values of N barely move: "
        + ", ".join(f"N = {N} ({rise[N]:+.3f} nats)" for N in extra)
        + f"; a value suffers when its loss rises by more than {SUFFER_NATS} nats"
    )
    return True
