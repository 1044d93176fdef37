"""Sweeps (causal_tutorial.sweep, python -m causal_tutorial sweep): the grid is checked before anything runs; each
row is its separate run; the table is tidy; a rerun never retrains a finished run; the Ray engine writes the
local engine's table."""

import json
import math
from dataclasses import replace
from functools import partial

import pandas as pd
import pytest
import torch

from causal_tutorial import sweep as sweep_module
from causal_tutorial.analysis import parent_metrics
from causal_tutorial.cli import main
from causal_tutorial.experiments import get_experiment, resolve, run_spec
from causal_tutorial.graphs import chain, random_tree
from causal_tutorial.stacked import SeedsTask
from causal_tutorial.sweep import TIMING_COLUMNS, groups, plan, read_sweep, sweep
from causal_tutorial.tasks import SingleParentTask
from causal_tutorial.theory import chi2_mutual_information

KW = dict(scale="test", progress=False, bayes_draws=4)
GRID = {"alpha": [0.1, 1.0], "family": ["chain", "random"]}


@pytest.mark.parametrize(
    "grid, match",
    [
        ({"beta": [1.0]}, r"unknown grid setting\(s\) \['beta'\]"),
        ({"alpha": []}, "'alpha' is an empty list"),
        ({"alpha": [0.1, 0.1]}, "'alpha' repeats a value"),
        ({"alpha": [0.1, -1.0]}, r"alpha=-1.0 is refused: alpha must be a positive"),
        ({"S": [1]}, r"S=1 is refused"),
        ({"T": [20.5]}, "'T' takes integers"),
        ({"family": ["lattice"]}, "'family' must name one of"),
        ({"steps": [0]}, r"steps=0 is refused"),
        ({"lr": [float("nan")]}, "'lr' takes finite numbers"),
    ],
)
def test_a_bad_grid_is_refused_before_anything_trains(grid, match, monkeypatch):
    monkeypatch.setattr(sweep_module, "train_group", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=match):
        sweep(grid, **KW)


def test_other_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="base must be one of"):
        plan({}, base="multiparent")
    with pytest.raises(ValueError, match="seeds must be"):
        plan({}, seeds=[1, 1])
    with pytest.raises(ValueError, match="train may not set"):
        plan({}, train={"lr": 1.0})
    with pytest.raises(ValueError, match="train may set only"):
        plan({}, train={"momentum": 0.9})
    sgd = plan({}, scale="test", train={"optimizer": "sgd", "batch_size": 64})[0].spec.train
    assert (sgd.optimizer, sgd.batch_size) == ("sgd", 64)
    with pytest.raises(ValueError, match="engine must be one of"):
        sweep({}, engine="slurm", **KW)
    with pytest.raises(ValueError, match="address names a Ray cluster"):
        sweep({}, address="ray://x:10001", **KW)


def test_the_plan_groups_runs_that_share_shapes_and_training():
    runs = plan({"alpha": [0.1, 1.0], "S": [3, 5], "steps": [10, 20]}, seeds=2, scale="test")
    assert len(runs) == 2 * 2 * 2 * 2 and len({r.id for r in runs}) == len(runs)
    grouped = groups(runs)
    assert len(grouped) == 4  # (S, steps) pairs; each holds both alphas and both seeds
    for g in grouped:
        assert len(g) == 4 and len({(r.settings["S"], r.settings["steps"]) for r in g}) == 1
    random = plan({"family": ["random"]}, seeds=[3, 4], scale="test")
    assert [r.spec.task().parents for r in random] == [random_tree(20, seed=3), random_tree(20, seed=4)]


def test_a_stacked_task_of_different_tasks_draws_each_runs_own_batches():
    tasks = [SingleParentTask(4, 8, chain(8), 0.5), SingleParentTask(4, 8, random_tree(8, seed=1), 2.0)]
    stack = SeedsTask(tasks, [0, 0])
    tokens, labels = stack.sample(16, stack.make_generator(0, "cpu"))
    test = stack.sample(8, torch.Generator().manual_seed(9))  # the test set: each task from the same state
    for k, t in enumerate(tasks):
        alone = t.sample(16, torch.Generator().manual_seed(0))
        assert torch.equal(tokens[k], alone.tokens) and torch.equal(labels[k], alone.labels)
        assert torch.equal(test.tokens[k], t.sample(8, torch.Generator().manual_seed(9)).tokens)
    with pytest.raises(ValueError, match="differ from each other on one task"):
        SeedsTask([tasks[0], tasks[0]], [1, 1])
    with pytest.raises(ValueError, match="share S, T and device"):
        SeedsTask([tasks[0], SingleParentTask(5, 8, chain(8), 0.5)], [0, 1])


def test_each_row_is_its_separate_run_and_the_table_is_tidy(tmp_path):
    table = sweep(GRID, seeds=2, out=tmp_path, **KW)
    assert len(table) == 8 and table["run_id"].is_unique
    assert set(table["family"]) == {"chain", "random"} and set(table["alpha"]) == {0.1, 1.0}
    pd.testing.assert_frame_equal(read_sweep(tmp_path), table, check_dtype=False)
    row = table[(table["family"] == "random") & (table["alpha"] == 1.0) & (table["seed"] == 1)].iloc[0]
    exp = replace(get_experiment("chain"), family="random", alpha=1.0)
    spec = replace(resolve(exp, "test", 1, "cpu", bayes_draws=4), graphs=(1,))
    metrics = partial(parent_metrics, n_sequences=sweep_module.METRIC_SEQUENCES)
    alone = run_spec(spec, progress=False, figures=False, metrics=metrics)
    assert row["parents"] == " ".join(map(str, alone["task"]["parents"]))
    assert row["test_loss"] == pytest.approx(alone["final"]["test_loss"], abs=1e-5)
    assert row["attn_on_parent"] == pytest.approx(alone["final"]["attn_on_parent"], abs=1e-5)
    for line in ("estimator", "bayes", "readout_floor"):
        assert row[line] == pytest.approx(alone["baselines"][line], abs=1e-6)
    history = json.loads((tmp_path / "histories" / f"{row['run_id']}.json").read_text())
    assert [h["step"] for h in history] == [h["step"] for h in alone["history"]]
    mi = chi2_mutual_information(alone["task"]["parents"], 10, 1.0, sweep_module.MARGIN_DRAWS,
                                 torch.Generator().manual_seed(sweep_module.MARGIN_SEED))  # fmt: skip
    assert row["margin"] == pytest.approx(mi.margin()) and row["edge_chi2"] == pytest.approx(mi.edge_information())
    recovered = [h["step"] for h in history if h["parent_recovered"] == 1.0]
    assert (math.isnan(row["recovered_at_step"]) and not recovered) or row["recovered_at_step"] == recovered[0]


def test_a_long_enough_sweep_recovers_the_chain_and_reports_when(tmp_path):
    table = sweep({"alpha": [0.1], "steps": [200]}, seeds=1, **KW)
    row = table.iloc[0]
    assert row["parent_recovered"] == 1.0 and row["rows_recovered"] == 1.0
    assert 0 < row["recovered_at_step"] <= 200 and row["margin"] > 0


def test_a_rerun_trains_only_the_runs_the_table_lacks(tmp_path, monkeypatch):
    first = sweep({"alpha": [0.1, 1.0]}, seeds=1, out=tmp_path, **KW)
    trained = []
    real = sweep_module.train_group

    def counting(runs, *args, **kwargs):
        trained.extend(r.id for r in runs)
        return real(runs, *args, **kwargs)

    monkeypatch.setattr(sweep_module, "train_group", counting)
    again = sweep({"alpha": [0.1, 1.0]}, seeds=1, out=tmp_path, **KW)
    assert trained == [] and again.equals(first)
    more = sweep({"alpha": [0.1, 1.0, 3.0]}, seeds=1, out=tmp_path, **KW)
    assert trained == [r for r in more["run_id"] if "alpha3" in r] and len(more) == 3
    assert not list((tmp_path / "checkpoints").glob("*.pt")), "a finished group leaves no checkpoint"
    with pytest.raises(ValueError, match="holds a sweep of another setting"):
        sweep({"alpha": [0.1]}, seeds=1, out=tmp_path, scale="book", progress=False)


def test_the_command_line_writes_the_table_and_names_bad_settings(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["sweep", "--scale", "test", "--alpha", "0.1", "2", "--seeds", "2", "--bayes-draws", "4", "--out", str(out)]
    assert main(args) == 0
    assert len(read_sweep(out)) == 4 and "alpha" in capsys.readouterr().out
    assert main(["sweep", "--scale", "test", "-S", "1", "--out", str(tmp_path / "bad")]) == 2
    assert "S=1 is refused" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "sweep.csv").exists()
    sgd = ["sweep", "--scale", "test", "--train", "optimizer=sgd", "batch_size=8", "--out", str(tmp_path / "sgd")]
    assert main(sgd) == 0
    table = read_sweep(tmp_path / "sgd")
    assert table["optimizer"].eq("sgd").all() and table["batch_size"].eq(8).all()
    assert main(["sweep", "--scale", "test", "--train", "optimizer", "--out", str(tmp_path / "bad2")]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["sweep", "--scale", "test", "--train", "steps=5", "--out", str(tmp_path / "bad3")]) == 2
    assert "may not set ['steps']" in capsys.readouterr().err


def test_the_ray_engine_writes_the_local_engines_table():
    """A local Ray instance (started and stopped by the sweep) trains the groups in its workers."""
    pytest.importorskip("ray")
    grid = {"alpha": [0.1, 1.0], "steps": [10, 20]}  # two groups
    local = sweep(grid, seeds=2, engine="local", **KW)
    on_ray = sweep(grid, seeds=2, engine="ray", **KW)
    pd.testing.assert_frame_equal(
        local.drop(columns=list(TIMING_COLUMNS)), on_ray.drop(columns=list(TIMING_COLUMNS)), check_exact=True
    )
