"""Chapter 10's exercise checks on a small synthetic sweep table: right answers pass, wrong ones get a hint."""

import math

import pandas as pd
import pytest

from causal_tutorial.exercises.sweeps import check_largest_alpha, check_margin_ordering
from causal_tutorial.sweep import margin_vs_recovery


def _table():
    rows = []
    for S in (3, 5):
        for alpha, recovered in ((0.1, (1, 1)), (1.0, (1, 0) if S == 5 else (1, 1)), (10.0, (0, 0))):
            for seed, ok in enumerate(recovered):
                step = 100.0 * S * alpha + 10 * seed if ok else math.nan
                rows.append({"family": "chain", "S": S, "T": 12, "alpha": alpha, "steps": 600, "lr": 1.0,
                             "seed": seed, "parent_recovered": float(ok), "rows_recovered": float(ok),
                             "attn_on_parent": 0.5 if ok else 0.2, "gap_to_estimator": 0.1, "recovered_at_step": step,
                             "margin": 1.0 / (alpha * S)})  # fmt: skip
    return pd.DataFrame(rows)


def test_the_largest_alpha_check():
    table = _table()
    assert check_largest_alpha({3: 1.0, 5: 0.1}, table)
    with pytest.raises(AssertionError, match="S = 5: not 1.0"):
        check_largest_alpha({3: 1.0, 5: 1.0}, table)
    with pytest.raises(AssertionError, match="one entry per vocabulary size"):
        check_largest_alpha({3: 1.0}, table)
    none = table.assign(parent_recovered=0.0)
    assert check_largest_alpha({3: None, 5: None}, none)
    with pytest.raises(AssertionError, match="answer None there"):
        check_largest_alpha({3: 0.1, 5: None}, none)


def test_the_margin_ordering_check_and_the_rank_correlation():
    table = _table()
    raw = margin_vs_recovery(table, by=())["all runs"]
    per_s = margin_vs_recovery(table, by=(), per="S")["all runs"]
    assert raw < 0, "here a larger margin recovers sooner"
    by_hand = table["margin"].rank().corr(table["recovered_at_step"].fillna(1e9).rank())
    assert raw == pytest.approx(by_hand)
    assert check_margin_ordering(raw, per_s, table)
    with pytest.raises(AssertionError, match="rho_per_S is not"):
        check_margin_ordering(raw, raw + 0.1, table)
    within = margin_vs_recovery(table)
    assert list(within.index) == [("chain", 3), ("chain", 5)]


def test_discordance_counts_the_pairs_the_margin_orders_the_wrong_way():
    from causal_tutorial.sweep import discordance

    table = _table()  # a larger margin always recovers sooner here
    frac, pairs = discordance(table, ("family", "S"))
    assert frac == 0.0 and pairs == 3 + 3  # every pair of the three alphas, at each S
    backwards = table.assign(margin=1.0 / table["margin"])
    assert discordance(backwards, ("family", "S"))[0] == 1.0
    assert math.isnan(discordance(table.iloc[:2], ("family", "S"))[0])
