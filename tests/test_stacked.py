"""Stacked runs (causal_tutorial.stacked): the same runs as separate ones, trained as one."""

import pytest
import torch

from causal_tutorial._fastpath import TwoLayerLogits, TwoLayerLoss
from causal_tutorial.checks import make_generator
from causal_tutorial.experiments import run_experiment
from causal_tutorial.graphs import chain, random_forest, random_tree
from causal_tutorial.models import DisentangledTransformer
from causal_tutorial.priors import SamplerSettings
from causal_tutorial.stacked import StackedDisentangledTransformer, StackedTask
from causal_tutorial.tasks import SingleParentTask

S, T = 3, 12


def _tasks(settings=None):
    kw = {} if settings is None else {"settings": settings}
    graphs = [chain(T), random_tree(T, seed=1), random_forest(T, seed=2), random_forest(T, seed=3)]
    return [SingleParentTask(S, T, p, 0.1, **kw) for p in graphs]


@pytest.mark.parametrize("chunked", [False, True], ids=["one chunk", "several chunks"])
def test_stacked_batches_are_each_graphs_own_batches(chunked):
    settings = SamplerSettings(chunk_entries=9 * 64) if chunked else None  # 64 sequences per chunk
    tasks = _tasks(settings)
    stack = StackedTask(tasks)
    g = make_generator(7)
    batches = [stack.sample(300, g) for _ in range(2)]  # two in a row: the generator moves on as each one's
    for k, task in enumerate(tasks):
        own = make_generator(7)
        for b in batches:
            ref = task.sample(300, own)
            assert torch.equal(b.tokens[k], ref.tokens)
            assert torch.equal(b.labels[k], ref.labels)
        assert torch.equal(own.get_state(), g.get_state())
    assert batches[0].tokens.shape == (4, 300, T) and batches[0].labels.shape == (4, 300, S)


def test_stacked_logits_and_gradients_are_each_models_own():
    torch.manual_seed(0)
    models = [DisentangledTransformer(S, T) for _ in range(3)]
    with torch.no_grad():
        for m in models:
            for p in m.parameters():
                p.normal_(0, 0.5)
    stacked = StackedDisentangledTransformer.stack(models)
    tokens = torch.randint(0, S, (3, 50, T))
    labels = torch.distributions.Dirichlet(torch.ones(S)).sample((3, 50))
    torch.testing.assert_close(stacked(tokens), stacked.forward_plain(tokens), atol=1e-5, rtol=1e-5)
    loss = stacked.loss(tokens, labels)
    loss.sum().backward()
    for g, m in enumerate(models):
        torch.testing.assert_close(stacked(tokens)[g], m.forward_plain(tokens[g]), atol=1e-5, rtol=1e-5)
        own = m.loss(tokens[g], labels[g])
        own.backward()
        torch.testing.assert_close(loss[g], own, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(stacked.A1.grad[g], m.A[0].grad, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(stacked.A2.grad[g], m.A[1].grad, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(stacked.W.grad[g], m.W.grad, atol=1e-6, rtol=1e-5)
        back = stacked.unstack(g)
        assert all(torch.equal(a, b) for a, b in zip(back.parameters(), m.parameters()))


def test_stacked_backward_passes_gradcheck_in_float64():
    G, n, s, t = 2, 4, 3, 4
    gen = torch.Generator().manual_seed(0)
    d0 = s + t
    A1 = torch.randn(G, d0, d0, generator=gen, dtype=torch.float64, requires_grad=True)
    A2 = torch.randn(G, 2 * d0, 2 * d0, generator=gen, dtype=torch.float64, requires_grad=True)
    W = torch.randn(G, 4 * d0, s, generator=gen, dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, s, (G * n, t), generator=gen)
    labels = torch.distributions.Dirichlet(torch.ones(s, dtype=torch.float64)).sample((G * n,))
    assert torch.autograd.gradcheck(lambda W, A1, A2: TwoLayerLogits.apply(tokens, 1, G, W, A1, A2), (W, A1, A2))
    assert torch.autograd.gradcheck(lambda W, A1, A2: TwoLayerLoss.apply(tokens, labels, 1, G, W, A1, A2), (W, A1, A2))


def test_a_stacked_run_equals_the_separate_runs():
    kw = dict(scale="test", n_graphs=3, bayes_draws=4, progress=False, figures=False)
    stacked = run_experiment("forests", stacked=True, **kw)
    separate = run_experiment("forests", stacked=False, **kw)
    assert stacked["trained_as"] == "stacked" and separate["trained_as"] == "separate"
    assert stacked["config"] == separate["config"]
    for a, b in zip(stacked["graphs"], separate["graphs"]):
        assert a["task"] == b["task"]
        assert [r["step"] for r in a["history"]] == [r["step"] for r in b["history"]]
        for ra, rb in zip(a["history"], b["history"]):
            for key in ("test_loss", "attn_on_parent", "parent_recovered"):
                assert ra[key] == pytest.approx(rb[key], abs=1e-5), key
        assert a["baselines"] == b["baselines"]  # the same test sets
        torch.testing.assert_close(
            torch.tensor(a["A1_position_block"]), torch.tensor(b["A1_position_block"]), atol=1e-5, rtol=1e-5
        )
    for ma, mb in zip(stacked["models"], separate["models"]):
        for pa, pb in zip(ma.parameters(), mb.parameters()):
            torch.testing.assert_close(pa, pb, atol=1e-5, rtol=1e-5)


def test_an_interrupted_stacked_run_resumes_to_the_same_result(tmp_path):
    kw = dict(scale="test", n_graphs=2, bayes_draws=4, progress=False, figures=False)
    whole = run_experiment("forests", out=tmp_path / "whole", **kw)
    run_experiment("forests", out=tmp_path / "cut", stop_after=11, **kw)
    assert (tmp_path / "cut" / "forests" / "checkpoint.pt").is_file()
    resumed = run_experiment("forests", out=tmp_path / "cut", resume=True, **kw)
    for a, b in zip(whole["graphs"], resumed["graphs"]):
        assert a["history"] == b["history"] and a["A1_position_block"] == b["A1_position_block"]
        assert b["resumed_at_step"] == 11 and a["resumed_at_step"] is None


def test_clear_errors():
    tasks = _tasks()
    with pytest.raises(ValueError, match="differs from tasks"):
        StackedTask([tasks[0], SingleParentTask(S + 1, T, chain(T))])
    with pytest.raises(TypeError, match="SingleParentTask"):
        StackedTask([tasks[0], "not a task"])
    model = StackedDisentangledTransformer(2, S, T)
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(3, 5, T, dtype=torch.long))
    with pytest.raises(ValueError, match="0 … 2"):
        model(torch.full((2, 5, T), S, dtype=torch.long))
    with pytest.raises(ValueError, match="g must be"):
        model.unstack(2)
    with pytest.raises(ValueError, match="many-graph"):
        run_experiment("chain", scale="test", stacked=True, progress=False)
