"""Parent arrays, parent lists and the graph families.

The laws of the random families are checked by Pearson's chi-square test over many seeds, with a
fixed set of seeds (deterministic) and the threshold ``p > 1e-3`` (the false-alarm rate over seed
sets); the survival function of the chi-square law is ``gammaincc(k/2, x/2)`` (no SciPy).
"""

import pytest
import torch

from causal_tutorial.graphs import (
    FAMILIES,
    SMALL_TREE,
    adjacency,
    chain,
    depth_levels,
    icl_pairs,
    make_parents,
    multi_adjacency,
    multi_parent_dag,
    parent_depths,
    random_forest,
    random_tree,
    small_tree,
    validate_parent_lists,
    validate_parents,
)

P_MIN = 1e-3


def chi2_sf(stat: float, dof: int) -> float:
    return float(
        torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64), torch.tensor(stat / 2, dtype=torch.float64))
    )


def pooled_gof_pvalue(tables: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """One chi-square test over several independent multinomials ``(counts, probs)``."""
    stat, dof = 0.0, 0
    for counts, probs in tables:
        expected = counts.sum() * probs.double()
        assert float(expected.min()) >= 5
        stat += float(((counts.double() - expected) ** 2 / expected).sum())
        dof += len(counts) - 1
    return chi2_sf(stat, dof)


# --- the families -------------------------------------------------------------------------------------
def test_chain_and_icl_pairs_are_the_papers_arrays():
    assert chain(6) == (-1, 0, 1, 2, 3)
    assert icl_pairs(7) == (-1, 0, -1, 2, -1, 4)
    assert chain(3) == (-1, 0) and icl_pairs(3) == (-1, 0)


def test_the_small_tree_is_the_research_codes_example_and_only_for_T_6():
    assert make_parents("small", 6) == small_tree() == SMALL_TREE == (-1, 0, 0, 1, 2)
    assert validate_parents(SMALL_TREE, 6) == SMALL_TREE
    with pytest.raises(ValueError, match="T = 6"):
        make_parents("small", 7)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("T", [3, 4, 20, 64])
def test_every_family_is_a_valid_forest_of_the_right_length(family, T):
    for seed in range(10):
        p = make_parents(family, T, seed=seed)
        assert len(p) == T - 1 and p[0] == -1
        assert validate_parents(p, T) == p


def test_random_families_are_deterministic_given_the_seed_and_vary_across_seeds():
    for family in (random_tree, random_forest):
        assert family(20, seed=5) == family(20, seed=5) == family(20, generator=torch.Generator().manual_seed(5))
        assert len({family(20, seed=s) for s in range(10)}) == 10
        g = torch.Generator().manual_seed(0)
        assert family(20, generator=g) != family(20, generator=g)  # a generator continues its stream
    assert make_parents("random", 20, seed=3) == random_tree(20, seed=3)
    assert make_parents("forest", 20, seed=3) == random_forest(20, seed=3)


def test_random_tree_parents_are_independent_and_uniform_on_root_and_earlier_positions():
    """``parents[i]`` uniform on ``{-1, …, i-1}``, for every ``i`` at once (pooled chi-square, 21 dof),
    and the pairs (parents[3], parents[4]) uniform on their 4 × 5 grid (independence)."""
    T, seeds = 8, 3000
    draws = torch.tensor([random_tree(T, seed=s) for s in range(seeds)]) + 1  # 0 = root
    tables = [
        (torch.bincount(draws[:, i], minlength=i + 1), torch.full((i + 1,), 1 / (i + 1))) for i in range(1, T - 1)
    ]
    assert pooled_gof_pvalue(tables) > P_MIN
    pairs = torch.bincount(draws[:, 3] * 5 + draws[:, 4], minlength=20)
    assert pooled_gof_pvalue([(pairs, torch.full((20,), 1 / 20))]) > P_MIN
    assert (draws[:, 0] == 0).all()


def test_random_tree_law_test_has_power():
    """A tree that never picks the root would fail the same test."""
    T, seeds = 8, 3000
    draws = torch.tensor([random_tree(T, seed=s) for s in range(seeds)]) + 1
    wrong = [
        (
            torch.bincount(draws[:, i], minlength=i + 1),
            torch.cat([torch.zeros(1) + 1e-3, torch.full((i,), (1 - 1e-3) / i)]),
        )
        for i in range(1, T - 1)
    ]
    with pytest.raises(AssertionError):  # expected counts of the root are below 5: refuses
        pooled_gof_pvalue(wrong)
    skewed = [
        (torch.bincount(draws[:, i], minlength=i + 1), torch.cat([torch.full((1,), 0.5), torch.full((i,), 0.5 / i)]))
        for i in range(1, T - 1)
    ]
    assert pooled_gof_pvalue(skewed) < 1e-6


def test_random_forest_keeps_a_uniform_parent_with_probability_one_half():
    """Node ``i >= 1``: root with probability 1/2, else parent ``j`` with probability ``1/(2i)`` each."""
    T, seeds = 8, 3000
    draws = torch.tensor([random_forest(T, seed=s) for s in range(seeds)]) + 1
    assert (draws[:, 0] == 0).all()
    tables = [
        (torch.bincount(draws[:, i], minlength=i + 1), torch.cat([torch.full((1,), 0.5), torch.full((i,), 0.5 / i)]))
        for i in range(1, T - 1)
    ]
    assert pooled_gof_pvalue(tables) > P_MIN


def test_multi_parent_dag_has_the_papers_parents():
    lists = multi_parent_dag(32)
    assert len(lists) == 33 and lists[0] == () and lists[1] == ()
    assert all(lists[i] == ((i - 1) // 2, i - 1) for i in range(2, 33))
    assert lists[2] == (0, 1) and lists[7] == (3, 6) and lists[32] == (15, 31)
    assert validate_parent_lists(lists, 32) == lists


# --- adjacency, depths, levels ---------------------------------------------------------------------------
def test_adjacency_marks_child_rows_and_parent_columns():
    M = adjacency(chain(5))
    expected = torch.zeros(5, 5)
    expected[[1, 2, 3], [0, 1, 2]] = 1.0
    assert M.shape == (5, 5) and torch.equal(M, expected)
    p = random_tree(12, seed=1)
    M = adjacency(p)
    assert M.shape == (12, 12) and torch.equal(M, M.tril(-1))  # edges point backwards
    for i in range(12):
        parent = p[i] if i < 11 else -1  # the query (last row) has no parent
        assert M[i].sum() == (parent >= 0) and (parent < 0 or M[i, parent] == 1)


def test_multi_adjacency_marks_every_parent():
    M = multi_adjacency(multi_parent_dag(6))
    assert M.shape == (7, 7) and torch.equal(M, M.tril(-1))
    assert M[6].tolist() == [0, 0, 1, 0, 0, 1, 0]
    assert M.sum(1).tolist() == [0, 0, 2, 2, 2, 2, 2]


def test_depths_and_levels_follow_the_edges():
    assert parent_depths(chain(5)) == [0, 1, 2, 3]
    assert depth_levels([(), (0,), (), (1, 2)]) == [[0, 2], [1], [3]]
    for seed in range(5):
        p = random_tree(20, seed=seed)
        depth = parent_depths(p)
        lists = [() if q < 0 else (q,) for q in p]
        levels = depth_levels(lists)
        assert sorted(i for lv in levels for i in lv) == list(range(19))  # a partition
        for d, lv in enumerate(levels):
            assert all(depth[i] == d for i in lv)
            assert all(depth[q] < d for i in lv for q in lists[i])  # parents sit in earlier levels
    levels = depth_levels(multi_parent_dag(8))
    assert levels[0] == [0, 1] and all(len(lv) == 1 for lv in levels[1:])  # i depends on i-1


# --- bad input --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "parents, T, match",
    [
        ((-1, 1, 0), None, r"parents\[1\] = 1 is invalid: a parent must be -1 \(root\) or an earlier position 0..0"),
        ((-1, 0, 5), None, r"parents\[2\] = 5 is invalid"),
        ((-1, 0, 2), None, r"parents\[2\] = 2 is invalid"),  # a position cannot be its own parent
        ((-1, 0, -2), None, r"parents\[2\] = -2 is invalid"),
        ((0, -1, 0), None, r"parents\[0\] = 0 is invalid"),  # position 0 must be a root
        ((-1, 0, 1), 6, r"parents must have length T-1 = 5 for T=6, got length 3"),
        ((-1,), None, r"parents must have length T-1 >= 2"),
    ],
)
def test_bad_parent_arrays_name_the_entry_and_the_rule(parents, T, match):
    with pytest.raises(ValueError, match=match):
        validate_parents(parents, T)


def test_parent_arrays_must_hold_ints():
    with pytest.raises(TypeError, match="parents must be a sequence of ints"):
        validate_parents((-1, "x", 0))
    with pytest.raises(TypeError, match="parents must be a sequence of ints"):
        validate_parents(None)
    assert validate_parents(torch.tensor([-1, 0, 0])) == (-1, 0, 0)


@pytest.mark.parametrize(
    "lists, T, match",
    [
        (((), (0,), (2,), (1,)), None, r"parent_lists\[2\] contains 2: parents must be earlier positions 0..1"),
        (((), (0,), (3,), (1,)), None, r"parent_lists\[2\] contains 3: .*would make a cycle"),
        (((), (0,), (-1,), (1,)), None, r"parent_lists\[2\] contains -1: positions are non-negative"),
        (((), (0,), (1, 1), (2,)), None, r"parent_lists\[2\] = \(1, 1\) repeats a parent"),
        (((), (0,), (1,), ()), None, r"parent_lists\[-1\] \(the target\) must have at least one parent"),
        (((), (0,), (1,)), 5, r"parent_lists must have length T\+1 = 6 for T=5"),
        (((), (0,)), None, r"parent_lists must have length T\+1 >= 3"),
    ],
)
def test_bad_parent_lists_name_the_entry_and_the_rule(lists, T, match):
    with pytest.raises(ValueError, match=match):
        validate_parent_lists(lists, T)


def test_parent_lists_must_hold_ints():
    with pytest.raises(TypeError, match="parent_lists must be a sequence of sequences of ints"):
        validate_parent_lists([(), 3, (0,)])


@pytest.mark.parametrize("family", [chain, icl_pairs, random_tree, random_forest, multi_parent_dag])
def test_too_short_or_non_int_lengths_are_rejected(family):
    with pytest.raises(ValueError, match="T must be an int >= 3"):
        family(2)
    with pytest.raises(TypeError, match="T must be an int"):
        family(5.0)
    with pytest.raises(TypeError, match="T must be an int"):
        family(True)


def test_unknown_families_are_rejected():
    with pytest.raises(ValueError, match=r"family must be one of \('chain', 'icl', 'random', 'forest'\)"):
        make_parents("star", 10)
