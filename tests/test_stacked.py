"""Stacked runs (causal_tutorial.stacked, and the models' run axis): the same runs as separate ones, trained as one."""

import pytest
import torch

from causal_tutorial._fastpath import TwoLayerLogits, TwoLayerLoss
from causal_tutorial.checks import make_generator
from causal_tutorial.experiments import run_experiment
from causal_tutorial.graphs import chain, random_forest, random_tree
from causal_tutorial.models import DisentangledTransformer, StandardTransformer
from causal_tutorial.priors import SamplerSettings
from causal_tutorial.stacked import StackedTask
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


def _random_models(cls, R, **kw):
    gen = torch.Generator().manual_seed(0)
    models = [cls(S, T, **kw) for _ in range(R)]
    with torch.no_grad():
        for m in models:
            for p in m.parameters():
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
    return models


@pytest.mark.parametrize(
    "cls, kw",
    [(DisentangledTransformer, {}), (DisentangledTransformer, {"heads": (2, 1)}), (StandardTransformer, {})],
    ids=["disentangled (1, 1)", "disentangled (2, 1)", "standard"],
)
def test_a_model_with_a_run_axis_gives_each_run_its_own_logits_loss_and_gradients(cls, kw):
    torch.manual_seed(0)  # the labels
    models = _random_models(cls, 3, **kw)
    stacked = cls.stack(models)
    assert stacked.runs == 3 and all(p.shape[0] == 3 for p in stacked.parameters())
    tokens = torch.randint(0, S, (3, 50, T), generator=torch.Generator().manual_seed(1))
    labels = torch.distributions.Dirichlet(torch.ones(S)).sample((3, 50))
    plain = stacked.run_with_cache(tokens)[0]  # the readable formulation, with the run axis
    torch.testing.assert_close(stacked(tokens), plain, atol=1e-5, rtol=1e-5)
    loss = stacked.loss(tokens, labels)
    assert loss.shape == (3,)
    loss.sum().backward()
    grads = dict(stacked.named_parameters())
    for r, m in enumerate(models):
        torch.testing.assert_close(plain[r], m.run_with_cache(tokens[r])[0], atol=1e-5, rtol=1e-5)
        own = m.loss(tokens[r], labels[r])
        own.backward()
        torch.testing.assert_close(loss[r], own, atol=1e-6, rtol=1e-5)
        for name, p in m.named_parameters():
            torch.testing.assert_close(grads[name].grad[r], p.grad, atol=1e-5, rtol=1e-5, msg=name)
        back = stacked.unstack(r)
        assert all(torch.equal(a, b) for a, b in zip(back.parameters(), m.parameters()))
        for (k, a), b in zip(stacked.attention(tokens).items(), m.attention(tokens[r]).values()):
            torch.testing.assert_close(a[r], b, atol=1e-6, rtol=1e-5, msg=str(k))
    assert stacked.loss(tokens, labels, reduction="none").shape == (3, 50)


def test_the_fast_path_with_a_run_axis_matches_the_readable_model_in_float64():
    models = [m.double() for m in _random_models(DisentangledTransformer, 2, heads=(2, 1))]
    stacked = DisentangledTransformer.stack(models)
    tokens = torch.randint(0, S, (2, 40, T), generator=torch.Generator().manual_seed(2))
    labels = torch.distributions.Dirichlet(torch.ones(S, dtype=torch.float64)).sample((2, 40))

    def grads(loss_fn):
        stacked.zero_grad()
        loss_fn().sum().backward()
        return [p.grad.clone() for p in stacked.parameters()]

    fast = grads(lambda: stacked.loss(stacked._check_tokens(tokens), labels))
    plain = grads(lambda: -(labels * torch.log_softmax(stacked.run_with_cache(tokens)[0], -1)).sum(-1).mean(-1))
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9)


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
    model = DisentangledTransformer(S, T, runs=2)
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(3, 5, T, dtype=torch.long))
    with pytest.raises(ValueError, match="0..S-1"):
        model(torch.full((2, 5, T), S, dtype=torch.long))
    with pytest.raises(ValueError, match="r must be"):
        model.unstack(2)
    with pytest.raises(ValueError, match="runs .* must be a positive int"):
        DisentangledTransformer(S, T, runs=0)
    with pytest.raises(ValueError, match="without a run axis"):
        DisentangledTransformer.stack([model])
    with pytest.raises(ValueError, match="one architecture"):
        DisentangledTransformer.stack([DisentangledTransformer(S, T), DisentangledTransformer(S, T, heads=(2, 1))])
    with pytest.raises(ValueError, match="needs a model with a run axis"):
        DisentangledTransformer(S, T).unstack(0)
    with pytest.raises(ValueError, match="many-graph"):
        run_experiment("chain", scale="test", stacked=True, progress=False)
