"""The device step (causal_tutorial.device_step) on the CPU: its optimiser arithmetic against torch.optim, its
pooled batches against the sampler, and a run through it, interrupted and resumed, against an uninterrupted one.
The CUDA graph itself is tested on a GPU (tests/test_device.py)."""

import pytest
import torch

from causal_tutorial.device_step import GraphedStep, PooledBatches, Update
from causal_tutorial.graphs import chain
from causal_tutorial.models import DisentangledTransformer
from causal_tutorial.tasks import SingleParentTask
from causal_tutorial.training import TrainConfig, train


def _params(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 3, generator=g).requires_grad_(), torch.randn(5, generator=g).requires_grad_()]


@pytest.mark.parametrize(
    "kind, make",
    [
        ("sgd", lambda ps, wd: torch.optim.SGD(ps, lr=0.1, weight_decay=wd)),
        ("adamw", lambda ps, wd: torch.optim.AdamW(ps, lr=0.1, weight_decay=wd)),
    ],
)
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_the_device_update_is_torch_optims_arithmetic(kind, make, wd):
    ours, ref = _params(0), _params(0)
    update, opt = Update(kind, ours, wd), make(ref, wd)
    lr = torch.tensor(0.1)
    for k in range(6):
        grads = [torch.randn(p.shape, generator=torch.Generator().manual_seed(10 + k)) for p in ours]
        update(ours, grads, lr)
        for p, g in zip(ref, grads):
            p.grad = g.clone()
        opt.step()
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_update_state_saves_and_loads():
    ps = _params(1)
    update = Update("adamw", ps, 0.0)
    update(ps, [torch.ones_like(p) for p in ps], torch.tensor(0.01))
    other = Update("adamw", _params(2), 0.0)
    other.load_state_dict(update.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(other.state["exp_avg"], update.state["exp_avg"]))
    with pytest.raises(ValueError, match="not 'sgd'"):
        Update("sgd", ps, 0.0).load_state_dict(update.state_dict())
    with pytest.raises(ValueError, match="kind must be"):
        Update("adam", ps, 0.0)


def test_pooled_batches_are_the_pools_slices_and_resume_mid_pool():
    task = SingleParentTask(4, 8, chain(8), 0.5)
    g = torch.Generator().manual_seed(5)
    stream = PooledBatches(task, 16, g, count=7, pool=3)
    got = [stream.next() for _ in range(7)]
    g2 = torch.Generator().manual_seed(5)
    pools = [task.sample(n * 16, g2) for n in (3, 3, 1)]  # the last pool only as large as needed
    expected = [(p.tokens[16 * k : 16 * (k + 1)], p.labels[16 * k : 16 * (k + 1)]) for p in pools for k in range(3)]
    for (tok, lab, _), (etok, elab) in zip(got, expected):
        assert torch.equal(tok, etok) and torch.equal(lab, elab)
    with pytest.raises(StopIteration):
        stream.next()
    # resume after batch 5 (2 of the second pool used): restore the state before that pool, skip 2
    state, used = got[4][2]
    assert used == 2
    g3 = torch.Generator()
    g3.set_state(state)
    again = PooledBatches(task, 16, g3, count=2, pool=3, skip=used)
    for k in (5, 6):
        tok, lab, _ = again.next()
        assert torch.equal(tok, got[k][0]) and torch.equal(lab, got[k][1])


def test_one_eager_device_step_is_one_sgd_step():
    S, T = 4, 8
    task = SingleParentTask(S, T, chain(T), 0.5)
    tokens, labels = task.sample(64, torch.Generator().manual_seed(1))
    a = DisentangledTransformer(S, T, (1, 1), init_std=0.3, generator=torch.Generator().manual_seed(2))
    b = DisentangledTransformer(S, T, (1, 1), init_std=0.3, generator=torch.Generator().manual_seed(2))
    params = list(a.parameters())
    step = GraphedStep(a.loss, params, Update("sgd", params, 0.0), tokens, labels, graph=False)
    loss = step(tokens, labels, 0.5)
    ref = b.loss(tokens, labels)
    ref.backward()
    with torch.no_grad():
        for p in b.parameters():
            p -= 0.5 * p.grad
    assert torch.equal(loss, ref.detach())
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def _run(tmp_path, **kw):
    S, T = 4, 8
    task = SingleParentTask(S, T, chain(T), 0.5)
    model = DisentangledTransformer(S, T, (1, 1))
    cfg = TrainConfig(steps=24, batch_size=64, optimizer="adamw", lr=0.05, eval_every=8, test_size=256, graph=False)
    res = train(model, task, cfg, checkpoint_path=tmp_path / "ck.pt", progress=False, **kw)
    return res, model


def test_a_device_step_run_learns_and_resumes_exactly_on_the_cpu(tmp_path):
    whole, model = _run(tmp_path / "a")
    assert whole.history[-1]["test_loss"] < whole.history[0]["test_loss"] - 0.02
    _run(tmp_path / "b", stop_after=13)  # mid-pool and mid-evaluation interval
    resumed, model_b = _run(tmp_path / "b", resume=True)
    assert resumed.history == whole.history
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), model_b.parameters()))


def test_a_graph_needs_a_cuda_device():
    with pytest.raises(ValueError, match="graph=True needs a CUDA device"):
        TrainConfig(device="cpu", graph=True)
    with pytest.raises(ValueError, match="graph must be None, True or False"):
        TrainConfig(graph="yes")


def test_the_device_step_settings_leave_a_runs_recorded_configuration_alone():
    assert TrainConfig().to_dict() == TrainConfig(graph=False).to_dict()
    assert "pool" not in TrainConfig().to_dict() and TrainConfig(pool=4).to_dict()["pool"] == 4
