"""Checks for the exercises of chapter 10 (``book/10_when_gd_finds_the_graph``).

Each check returns ``True`` when the answer is right and raises ``AssertionError`` with a hint otherwise. The
answers are computed from the sweep table the student was given, so a check holds for any sweep.
"""

from __future__ import annotations

import math

import pandas as pd

from ..sweep import margin_vs_recovery, over_seeds

__all__ = ["check_largest_alpha", "check_margin_ordering"]


def _largest_alpha(table: pd.DataFrame, family: str) -> dict[int, float | None]:
    summary = over_seeds(table)
    summary = summary[summary["family"] == family]
    out: dict[int, float | None] = {}
    for S, part in summary.groupby("S"):
        every = part[part["parent_recovered"] == 1.0]
        out[int(S)] = float(every["alpha"].max()) if len(every) else None
    return out


def check_largest_alpha(answer, table, family: str = "chain") -> bool:
    """Exercise 10.1: ``answer`` maps each vocabulary size ``S`` of the sweep ``table`` to the largest ``α`` at
    which every seed of ``family`` recovered its whole graph within the budget (``None`` where no ``α`` did)."""
    table = pd.DataFrame(table)
    assert family in set(table["family"]), f"the table has no runs of the family {family!r}"
    exact = _largest_alpha(table, family)
    assert isinstance(answer, dict), f"answer must be a dict {{S: alpha}}, got {type(answer).__name__}"
    got = {int(k): (None if v is None else float(v)) for k, v in answer.items()}
    assert set(got) == set(exact), f"give one entry per vocabulary size of the sweep: {sorted(exact)}"
    for S, want in exact.items():
        have = got[S]
        if want is None:
            assert have is None, f"S = {S}: at no α did every seed recover the graph; answer None there"
        else:
            assert have is not None and math.isclose(have, want), (
                f"S = {S}: not {have}. Average parent_recovered over the seeds of each (S, α) and take the largest "
                "α whose average is 1 (every seed); over_seeds(table) does the averaging"
            )
    print("Right:", {S: v for S, v in exact.items()})
    return True


def check_margin_ordering(rho_margin, rho_per_S, table) -> bool:
    """Exercise 10.2: the Spearman rank correlation, over every run of ``table``, between the step of first
    recovery (a run that never recovered ranked after all that did) and the χ² margin (``rho_margin``), and the
    same with the margin divided by ``S`` (``rho_per_S``)."""
    table = pd.DataFrame(table)
    want = (
        margin_vs_recovery(table, by=())["all runs"],
        margin_vs_recovery(table, by=(), per="S")["all runs"],
    )
    for name, have, exact in (("rho_margin", rho_margin, want[0]), ("rho_per_S", rho_per_S, want[1])):
        have = float(have)
        assert math.isfinite(have), f"{name} must be a finite number, got {have}"
        assert abs(have - exact) < 1e-6, (
            f"{name} is not {have:.4f}. Rank the runs by margin{' / S' if name == 'rho_per_S' else ''} and by "
            "recovery step (never-recovered runs share the last rank: fill their step with a number larger than any "
            "step), then take the Pearson correlation of the two rankings"
        )
    print(f"Right: {want[0]:.3f} with the margin, {want[1]:.3f} with the margin / S.")
    return True
