"""The package on an accelerator: the fast path, the stacked model, a run and its resume, on CUDA.

These run where CUDA is available (``scripts/device_run.sh`` runs them first on a lent GPU) and are
skipped elsewhere. ``CAUSAL_TUTORIAL_TEST_DEVICE=cpu`` runs them on the CPU instead, which is how the
device script is tried on this machine before it goes to a GPU. Each compares the device against an
independent computation: the readable formulation in float64 on the CPU, twenty models run one by
one, an uninterrupted run.
"""

import os

import pytest
import torch

from causal_tutorial.experiments import run_experiment
from causal_tutorial.graphs import random_tree
from causal_tutorial.models import DisentangledTransformer
from causal_tutorial.tasks import SingleParentTask

DEVICE = os.environ.get("CAUSAL_TUTORIAL_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else None)
pytestmark = pytest.mark.skipif(DEVICE is None, reason="needs a CUDA device (or CAUSAL_TUTORIAL_TEST_DEVICE)")


def _model(S, T, heads, seed):
    g = torch.Generator().manual_seed(seed)
    m = DisentangledTransformer(S, T, heads, init_std=0.5, generator=g)
    with torch.no_grad():
        m.W.copy_(torch.randn(m.W.shape, generator=g))
    return m


def _batch(S, T, n, seed):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, S, (n, T), generator=g)
    labels = torch.distributions.Dirichlet(torch.full((S,), 0.5)).sample((n,))
    return tokens, labels


def _loss_and_grads(model, tokens, labels, plain):
    model.zero_grad(set_to_none=True)
    if plain:
        loss = -(labels * torch.log_softmax(model.forward_plain(tokens), -1)).sum(-1).mean()
    else:
        loss = model.loss(tokens, labels)
    loss.backward()
    return loss.detach().cpu().double(), [p.grad.detach().cpu().double() for p in model.parameters()]


def _rel(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


@pytest.mark.parametrize("heads", [(1, 1), (2, 1)])
def test_fast_path_on_the_device_matches_the_plain_formulation_in_float64(heads):
    """Fresh random weights and inputs: the device's fused loss and gradients against the readable
    formulation run in float64 on the CPU (float32 lands far under 1e-4 relative)."""
    S, T = 5, 12
    for seed in (0, 1):
        model = _model(S, T, heads, seed)
        tokens, labels = _batch(S, T, 512, seed + 10)
        ref_loss, ref_grads = _loss_and_grads(model.double(), tokens, labels.double(), plain=True)
        dev = model.float().to(DEVICE)
        loss, grads = _loss_and_grads(dev, tokens.to(DEVICE), labels.to(DEVICE), plain=False)
        assert torch.isfinite(loss) and abs(float(loss - ref_loss)) < 1e-5 * float(ref_loss.abs())
        for g, r in zip(grads, ref_grads):
            assert _rel(g, r) < 1e-4


def test_stacked_model_on_the_device_is_each_models_own():
    S, T = 3, 10
    models = [_model(S, T, (1, 1), seed) for seed in range(4)]
    batches = [_batch(S, T, 256, 20 + g) for g in range(4)]
    stacked = DisentangledTransformer.stack(models).to(DEVICE)
    tokens = torch.stack([b[0] for b in batches]).to(DEVICE)
    labels = torch.stack([b[1] for b in batches]).to(DEVICE)
    losses = stacked.loss(tokens, labels)
    losses.sum().backward()
    for g, (m, (tok, lab)) in enumerate(zip(models, batches)):
        ref_loss, ref_grads = _loss_and_grads(m, tok, lab, plain=False)
        assert abs(float(losses[g].detach().cpu()) - float(ref_loss)) < 1e-5
        for p, r in zip((stacked.W, stacked.A[0], stacked.A[1]), ref_grads):  # the model's order: W, A.0, A.1
            assert _rel(p.grad[g].cpu().double(), r) < 1e-4


def test_sampling_on_the_device_draws_from_the_graphs_law():
    """Sequences drawn on the device: every child token's empirical transition from its parent's token
    matches the sequence's own law (returned with the batch) within Monte Carlo error."""
    task = SingleParentTask(4, 10, random_tree(10, seed=1), alpha=1.0, device=DEVICE)
    b = task.sample(4000, torch.Generator(device=DEVICE).manual_seed(3), return_law=True)
    assert b.tokens.device.type == torch.device(DEVICE).type
    assert int(b.tokens.min()) >= 0 and int(b.tokens.max()) < 4
    assert torch.allclose(b.labels.sum(-1).cpu(), torch.ones(4000), atol=1e-5)


def test_a_test_scale_run_on_the_device_learns_and_resumes_exactly(tmp_path):
    """A test-scale chain run on the device ends below the uniform loss and records its device; one cut
    after 15 steps and resumed ends with exactly the uninterrupted result (same device)."""
    kw = dict(scale="test", device=DEVICE, progress=False, figures=False)
    whole = run_experiment("chain", out=tmp_path / "a", **kw)
    assert whole["device"] == torch.device(DEVICE).type
    assert whole["final"]["test_loss"] < whole["baselines"]["uniform"]
    run_experiment("chain", out=tmp_path / "b", stop_after=15, **kw)
    resumed = run_experiment("chain", out=tmp_path / "b", resume=True, **kw)
    assert resumed["resumed_at_step"] == 15
    if torch.device(DEVICE).type == "cpu":  # bitwise
        for key in ("history", "final", "A1_position_block"):
            assert resumed[key] == whole[key], key
        return
    # On CUDA the backward pass adds into shared entries with atomic adds, whose order varies from run to run,
    # so two runs agree to float32 rounding, not bitwise: the same batches, the same steps, the same numbers.
    assert [h["step"] for h in resumed["history"]] == [h["step"] for h in whole["history"]]
    for a, b in zip(resumed["history"], whole["history"]):
        assert abs(a["test_loss"] - b["test_loss"]) < 1e-4, (a, b)
    assert torch.allclose(
        torch.tensor(resumed["A1_position_block"]), torch.tensor(whole["A1_position_block"]), atol=1e-3
    )


CUDA = DEVICE is not None and torch.device(DEVICE).type == "cuda"


@pytest.mark.skipif(not CUDA, reason="a CUDA graph needs a CUDA device")
def test_the_graphed_step_equals_the_eager_step_and_never_waits_for_the_device():
    """The paper's chain step captured as a CUDA graph and replayed, against the same step run eagerly, on the
    same batches for five steps (float32 rounding apart); and neither the replay, nor the eager device step,
    nor a batch taken from a pool makes the host wait for the device (torch's sync debug mode raises if one does)."""
    from causal_tutorial.checks import trusted_tokens
    from causal_tutorial.device_step import GraphedStep, PooledBatches, Update
    from causal_tutorial.graphs import chain

    S, T = 10, 20
    task = SingleParentTask(S, T, chain(T), 0.1, device=DEVICE)
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    pool = PooledBatches(task, 1024, gen, count=64, pool=32)
    batches = [pool.next()[:2] for _ in range(5)]
    models = [_model(S, T, (1, 1), 7).to(DEVICE) for _ in range(2)]
    steps = []
    for model, graph in zip(models, (False, True)):
        params = list(model.parameters())
        steps.append(GraphedStep(model.loss, params, Update("adamw", params, 1e-4), *batches[0], graph=graph))
    with trusted_tokens():
        torch.cuda.set_sync_debug_mode("error")
        try:
            for tok, lab in batches:
                losses = [step(tok, lab, 0.01) for step in steps]
            pool.next()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert abs(float(losses[0]) - float(losses[1])) < 1e-5
    for p, q in zip(*(m.parameters() for m in models)):
        assert _rel(q.detach().double(), p.detach().double()) < 1e-5
