"""Many seeds as one stacked run (causal_tutorial.stacked.SeedsTask, run_experiment(..., seeds=R), --seeds): each
seed's run equals its separate run, batches exactly and numbers to float rounding, and resumes exactly."""

import json

import pytest
import torch

from causal_tutorial.cli import main
from causal_tutorial.experiments import run_experiment
from causal_tutorial.graphs import chain
from causal_tutorial.stacked import GeneratorSet, SeedsTask
from causal_tutorial.tasks import SingleParentTask

KW = dict(scale="test", progress=False, figures=False, bayes_draws=4)


def test_each_runs_batches_are_its_own_seeds():
    task = SingleParentTask(4, 8, chain(8), 0.5)
    stack = SeedsTask(task, [3, 7])
    gens = stack.make_generator(3, "cpu")
    for _ in range(2):  # two consecutive batches
        tokens, labels = stack.sample(16, gens)
        assert tokens.shape == (2, 16, 8) and labels.shape == (2, 16, 4)
    for k, seed in enumerate((3, 7)):
        g = torch.Generator().manual_seed(seed)
        task.sample(16, g)
        second = task.sample(16, g)
        assert torch.equal(tokens[k], second.tokens) and torch.equal(labels[k], second.labels)
    shared = stack.sample(8, torch.Generator().manual_seed(0))  # one plain generator: the test set, shared
    assert torch.equal(shared.tokens[0], shared.tokens[1])


def test_a_generator_set_saves_and_restores_every_state():
    gens = GeneratorSet([1, 2, 3], "cpu")
    state = gens.get_state()
    first = [torch.rand(3, generator=g) for g in gens.generators]
    gens.set_state(state)
    assert all(torch.equal(torch.rand(3, generator=g), f) for g, f in zip(gens.generators, first))
    with pytest.raises(ValueError, match="cannot restore"):
        GeneratorSet([1, 2], "cpu").set_state(state)


def test_the_seeds_are_checked():
    task = SingleParentTask(4, 8, chain(8), 0.5)
    with pytest.raises(ValueError, match="differ"):
        SeedsTask(task, [1, 1])
    with pytest.raises(ValueError, match="must be the first run's"):
        SeedsTask(task, [1, 2]).make_generator(0, "cpu")
    with pytest.raises(ValueError, match="seeds applies to one-graph experiments"):
        run_experiment("forests", seeds=2, **KW)
    with pytest.raises(ValueError, match="seeds"):
        run_experiment("chain", seeds=0, **KW)


def test_each_seed_of_a_stacked_run_is_its_separate_run():
    res = run_experiment("chain", seed=5, seeds=3, **KW)
    assert res["seeds"] == [5, 6, 7] and len(res["runs"]) == 3
    for run in res["runs"]:
        alone = run_experiment("chain", seed=run["seed"], **KW)
        assert run["config"] == alone["config"]  # the same run, by its recorded identity
        assert run["baselines"] == alone["baselines"]
        for a, b in zip(run["history"], alone["history"]):
            assert a["step"] == b["step"] and abs(a["test_loss"] - b["test_loss"]) < 1e-5
        torch.testing.assert_close(
            torch.tensor(run["A1_position_block"]), torch.tensor(alone["A1_position_block"]), rtol=1e-4, atol=1e-5
        )
    losses = [r["final"]["test_loss"] for r in res["runs"]]
    assert res["over_seeds"]["test_loss"]["mean"] == pytest.approx(sum(losses) / 3)
    assert len(set(losses)) == 3, "three seeds, three different runs"


@pytest.mark.parametrize("name", ["multiparent", "standard"])
def test_seeds_of_any_experiment_stack_random_initialisations_and_equal_their_separate_runs(name):
    """Multi-parent (two layer-1 heads, random initial weights) and the standard transformer: each seed starts
    from its separate run's initial weights and ends where that run ends, to float rounding."""
    res = run_experiment(name, seed=2, seeds=2, **KW)
    for run in res["runs"]:
        alone = run_experiment(name, seed=run["seed"], **KW)
        assert run["config"] == alone["config"]
        for a, b in zip(run["history"], alone["history"]):
            assert a["step"] == b["step"] and abs(a["test_loss"] - b["test_loss"]) < 1e-4
        for pa, pb in zip(run["model"].parameters(), alone["model"].parameters()):
            torch.testing.assert_close(pa, pb, rtol=1e-3, atol=1e-4)
    finals = [r["final"]["test_loss"] for r in res["runs"]]
    assert "test_loss" in res["over_seeds"] and finals[0] != finals[1]


def test_a_stacked_seeds_run_resumes_exactly(tmp_path):
    whole = run_experiment("chain", seeds=2, out=tmp_path / "a", **KW)
    run_experiment("chain", seeds=2, out=tmp_path / "b", stop_after=13, **KW)
    resumed = run_experiment("chain", seeds=2, out=tmp_path / "b", resume=True, **KW)
    for a, b in zip(resumed["runs"], whole["runs"]):
        assert a["history"] == b["history"] and a["A1_position_block"] == b["A1_position_block"]


def test_the_command_line_writes_one_result_per_seed_and_the_spread(tmp_path, capsys):
    assert (
        main(["run", "icl", "--scale", "test", "--seeds", "2", "--seed", "1", "--out", str(tmp_path), "--no-figures"])
        == 0
    )
    out = capsys.readouterr().out
    assert "test_loss:" in out and "over 2 seeds" in out
    summary = json.loads((tmp_path / "icl" / "seeds.json").read_text())
    assert summary["seeds"] == [1, 2]
    for seed in (1, 2):
        r = json.loads((tmp_path / "icl" / f"seed_{seed}" / "result.json").read_text())
        assert r["seed"] == seed and r["config"]["train"]["seed"] == seed
