"""Parent arrays, parent lists and the graph families."""

import pytest
import torch

from causal_tutorial.graphs import (adjacency, chain, depth_levels, icl_pairs, make_parents, multi_adjacency,
                                    multi_parent_dag, parent_depths, random_forest, random_tree,
                                    validate_parent_lists, validate_parents)


def test_chain_and_icl_pairs_are_the_papers_arrays():
    assert chain(6) == (-1, 0, 1, 2, 3)
    assert icl_pairs(7) == (-1, 0, -1, 2, -1, 4)


@pytest.mark.parametrize("family", ["chain", "icl", "random", "forest"])
def test_every_family_is_a_valid_forest(family):
    for seed in range(20):
        p = make_parents(family, 20, seed=seed)
        assert validate_parents(p, 20) == p


def test_random_families_are_deterministic_given_the_seed_and_vary_across_seeds():
    assert random_tree(20, seed=5) == random_tree(20, seed=5)
    assert len({random_tree(20, seed=s) for s in range(10)}) == 10
    assert len({random_forest(20, seed=s) for s in range(10)}) == 10


def test_random_tree_parent_is_uniform_over_root_and_earlier_positions():
    # position 3 picks from {-1, 0, 1, 2}: each about 1/4 over 2000 seeds (4 binomial SDs ≈ 0.039)
    picks = torch.tensor([random_tree(5, seed=s)[3] for s in range(2000)])
    for v in (-1, 0, 1, 2):
        assert abs(float((picks == v).float().mean()) - 0.25) < 0.04


def test_random_forest_drops_each_parent_with_probability_one_half():
    roots = torch.tensor([[p < 0 for p in random_forest(20, seed=s)[1:]] for s in range(400)]).float()
    assert random_forest(20, seed=0)[0] == -1
    assert abs(float(roots.mean()) - 0.5) < 0.02  # 18·400 Bernoulli(1/2): SD 0.006


def test_multi_parent_dag_has_the_papers_parents():
    lists = multi_parent_dag(32)
    assert len(lists) == 33 and lists[0] == () and lists[1] == ()
    assert lists[2] == (0, 1) and lists[7] == (3, 6) and lists[32] == (15, 31)
    assert validate_parent_lists(lists, 32) == lists


def test_adjacency_marks_child_rows_and_parent_columns():
    M = adjacency(chain(5))
    assert M.shape == (5, 5)
    expected = torch.zeros(5, 5)
    expected[[1, 2, 3], [0, 1, 2]] = 1.0
    assert torch.equal(M, expected)
    assert multi_adjacency(multi_parent_dag(4))[4].tolist() == [0, 1, 0, 1, 0]


def test_depths_and_levels_follow_the_edges():
    assert parent_depths(chain(5)) == [0, 1, 2, 3]
    assert depth_levels([(), (0,), (), (1, 2)]) == [[0, 2], [1], [3]]


@pytest.mark.parametrize("parents, T, match", [
    ((-1, 1, 0), None, r"parents\[1\] = 1 is invalid: a parent must be -1 \(root\) or an earlier position"),
    ((-1, 0, 5), None, r"parents\[2\] = 5 is invalid"),
    ((-1, 0, -2), None, r"parents\[2\] = -2 is invalid"),
    ((-1, 0, 1), 6, r"length T-1 = 5 for T=6"),
])
def test_bad_parent_arrays_name_the_entry_and_the_rule(parents, T, match):
    with pytest.raises(ValueError, match=match):
        validate_parents(parents, T)


@pytest.mark.parametrize("lists, T, match", [
    (((), (0,), (2,), (1,)), None, r"parent_lists\[2\] contains 2: parents must be earlier positions"),
    (((), (0,), (1, 1), (2,)), None, r"repeats a parent"),
    (((), (0,), (1,), ()), None, r"the target\) must have at least one parent"),
    (((), (0,), (1,)), 5, r"length T\+1 = 6"),
])
def test_bad_parent_lists_name_the_entry_and_the_rule(lists, T, match):
    with pytest.raises(ValueError, match=match):
        validate_parent_lists(lists, T)


def test_too_short_sequences_and_unknown_families_are_rejected():
    with pytest.raises(ValueError, match="T must be at least 3"):
        chain(2)
    with pytest.raises(ValueError, match="family must be one of"):
        make_parents("star", 10)
