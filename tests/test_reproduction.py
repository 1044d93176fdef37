"""The reproduction page's table and acceptance lines (causal_tutorial.reproduction)."""

import copy

import pytest

from causal_tutorial.experiments import run_experiment
from causal_tutorial.reproduction import EXPERIMENT_ORDER, acceptance, load_results, summary_row


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    for name, kw in (("chain", {}), ("forests", {"n_graphs": 2}), ("multiparent", {}), ("standard", {})):
        run_experiment(name, scale="test", out=root, progress=False, figures=False, bayes_draws=4, **kw)
    return root, load_results(root)


def test_load_results_reads_what_exists(results):
    _, res = results
    assert list(res) == list(EXPERIMENT_ORDER)
    assert res["icl"] is None and res["random"] is None
    assert all(res[n] is not None for n in ("chain", "forests", "multiparent", "standard"))


def test_every_row_and_line_is_built(results):
    _, res = results
    for name, r in res.items():
        row = summary_row(name, r)
        assert row["experiment"] == name and row["paper reports"]
        if r is None:
            assert row["ours"] == "not run yet"
            continue
        assert isinstance(row["ours: final loss"], float) and row["device"]
        lines = acceptance(name, r)
        assert lines and all(isinstance(line["met"], bool) and line["measured"] for line in lines)


def test_single_parent_lines_follow_the_numbers(results):
    r = copy.deepcopy(results[1]["chain"])
    floor = r["baselines"]["readout_floor"]
    r["final"]["test_loss"] = floor + 0.009
    r["recovered_parents"] = [-1] + list(r["task"]["parents"][1:]) + [0]
    lines = acceptance("chain", r)
    assert lines[0]["met"] and lines[1]["met"]
    r["final"]["test_loss"] = floor + 0.011
    r["recovered_parents"][5] = 0
    lines = acceptance("chain", r)
    assert not lines[0]["met"] and not lines[1]["met"]


def test_multi_parent_heads_must_take_different_parents(results):
    r = copy.deepcopy(results[1]["multiparent"])
    total = r["child_rows_per_slot"]
    r["rows_on_parent_slot"] = [[total[0], 1], [2, total[1]]]
    assert acceptance("multiparent", r)[1]["met"]
    r["rows_on_parent_slot"] = [[total[0], 1], [total[0] - 1, 2]]  # both heads on slot 0
    assert not acceptance("multiparent", r)[1]["met"]
    r["final"]["test_loss"] = r["baselines"]["estimator"] + 0.031
    assert not acceptance("multiparent", r)[0]["met"]


def test_forests_line_compares_with_the_papers_spread(results):
    r = copy.deepcopy(results[1]["forests"])
    r["final"]["block_attn_on_parent_mean"], r["final"]["block_attn_on_parent_std"] = 0.80, 0.05
    assert acceptance("forests", r)[1]["met"]
    r["final"]["block_attn_on_parent_mean"] = 0.70
    assert not acceptance("forests", r)[1]["met"]


def test_unknown_experiment_is_refused():
    with pytest.raises(ValueError, match="name must be one of"):
        acceptance("fig99", {})
