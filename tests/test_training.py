"""The training loop: determinism, exact resumption, staged training, checkpoints, bad input."""

import pytest
import torch

from causal_tutorial.analysis import ParameterSnapshots, parent_metrics
from causal_tutorial.checks import resolve_device
from causal_tutorial.experiments import build_model, build_task, get_experiment
from causal_tutorial.graphs import chain
from causal_tutorial.models import DisentangledTransformer
from causal_tutorial.tasks import SingleParentTask
from causal_tutorial.training import Stage, TrainConfig, draw_test_set, train


def _tiny(**kw):
    cfg = dict(steps=12, batch_size=64, optimizer="adamw", lr=0.03, eval_every=4, test_size=128, device="cpu")
    cfg.update(kw)
    return TrainConfig(**cfg)


def _task():
    return SingleParentTask(5, 8, chain(8), alpha=0.1)


def test_same_seed_gives_identical_history_on_cpu():
    exp = get_experiment("chain")
    runs = []
    for _ in range(2):
        cfg = exp.config("test", seed=3, device="cpu")
        runs.append(train(build_model(exp, 3), build_task(exp, "cpu"), cfg, progress=False).history)
    assert runs[0] == runs[1]
    other = train(
        build_model(exp, 4), build_task(exp, "cpu"), exp.config("test", seed=4, device="cpu"), progress=False
    ).history
    assert other != runs[0]


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_resumed_run_equals_the_uninterrupted_run(tmp_path, optimizer):
    cfg = _tiny(optimizer=optimizer, lr=0.5 if optimizer == "sgd" else 0.03)
    full_model = DisentangledTransformer(5, 8)
    full = train(full_model, _task(), cfg, progress=False)
    ck = tmp_path / "ck.pt"
    part_model = DisentangledTransformer(5, 8)
    train(part_model, _task(), cfg, checkpoint_path=ck, stop_after=7, progress=False)
    resumed_model = DisentangledTransformer(5, 8)
    resumed = train(resumed_model, _task(), cfg, checkpoint_path=ck, resume=True, progress=False)
    assert resumed.history == full.history
    for a, b in zip(full_model.parameters(), resumed_model.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_for_another_config_is_refused(tmp_path):
    ck = tmp_path / "ck.pt"
    train(DisentangledTransformer(5, 8), _task(), _tiny(), checkpoint_path=ck, stop_after=4, progress=False)
    with pytest.raises(ValueError, match="another configuration"):
        train(DisentangledTransformer(5, 8), _task(), _tiny(lr=0.01), checkpoint_path=ck, resume=True, progress=False)
    # checkpoints hold only tensors and plain containers: they load with weights_only=True
    assert torch.load(ck, weights_only=True)["step"] == 4


def test_staged_training_moves_only_the_chosen_parameters():
    model = DisentangledTransformer(5, 8, init_std=0.01, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = _tiny(stages=[Stage(("W",), 3), Stage(("A1",), 3, lr=0.1)])
    assert cfg.steps == 6
    res = train(model, _task(), cfg, progress=False)
    after = model.state_dict()
    assert not torch.equal(before["W"], after["W"]) and not torch.equal(before["A.0"], after["A.0"])
    assert torch.equal(before["A.1"], after["A.1"]), "A2 was not in any stage"
    assert res.history[-1]["step"] == 6


def test_history_records_losses_lr_and_the_metrics_it_is_given():
    task = _task()
    res = train(DisentangledTransformer(5, 8), task, _tiny(), metrics=parent_metrics(task), progress=False)
    assert [h["step"] for h in res.history] == [0, 4, 8, 12]
    for key in ("train_loss", "test_loss", "lr", "attn_on_parent", "parent_recovered"):
        assert key in res.history[-1]
    assert res.history[-1]["lr"] < res.history[1]["lr"], "cosine schedule decays"
    plain = train(DisentangledTransformer(5, 8), task, _tiny(), progress=False)
    assert set(plain.history[-1]) == {"step", "lr", "train_loss", "test_loss"}, "no metrics unless asked for"
    assert [h["test_loss"] for h in plain.history] == [h["test_loss"] for h in res.history]


def test_callbacks_see_every_evaluation_and_the_default_test_set_is_draw_test_set():
    task, cfg = _task(), _tiny()
    snaps, seen = ParameterSnapshots(), []
    model = DisentangledTransformer(5, 8)
    res = train(model, task, cfg, callback=[snaps, lambda step, m, rec: seen.append(rec["step"])], progress=False)
    assert snaps.steps == seen == [0, 4, 8, 12]
    assert torch.equal(snaps[12]["A1"], model.head(1).detach())
    given = train(DisentangledTransformer(5, 8), task, cfg, test_set=draw_test_set(task, cfg), progress=False)
    assert given.history == res.history


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(steps=0), "steps must be a positive int"),
        (dict(batch_size=-1), "batch_size must be a positive int"),
        (dict(optimizer="adam"), "optimizer must be one of"),
        (dict(schedule="linear"), "schedule must be one of"),
        (dict(lr=float("nan")), "lr must be a positive finite"),
        (dict(device="tpu"), "device must be"),
    ],
)
def test_bad_training_config_is_rejected_with_the_rule(bad, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="not available on this machine"):
        resolve_device("cuda")


def test_model_task_mismatch_is_rejected_before_training():
    with pytest.raises(ValueError, match="does not match the task"):
        train(DisentangledTransformer(5, 9), _task(), _tiny(), progress=False)


# -- the training loop's background batches (tasks.BatchStream, TrainConfig.prefetch) ---------------
def _train_tiny(prefetch, **kw):
    cfg = dict(
        steps=12, batch_size=64, optimizer="sgd", lr=0.5, eval_every=4, test_size=128, device="cpu", prefetch=prefetch
    )
    cfg.update(kw.pop("cfg", {}))
    model = DisentangledTransformer(5, 8)
    res = train(model, kw.pop("task", SingleParentTask(5, 8, chain(8))), TrainConfig(**cfg), progress=False, **kw)
    return res, model


def _in_loop_on_the_threads_of_a_background_run(**kw):
    """Draw the batches in the loop, with the intra-op thread count a background run uses
    (float reductions may differ between thread counts)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads - 1))
    try:
        return _train_tiny(False, **kw)
    finally:
        torch.set_num_threads(threads)


def test_batches_drawn_in_the_background_give_the_run_of_drawing_them_in_the_loop():
    threads = torch.get_num_threads()
    (a, ma), (b, mb) = _train_tiny(True), _in_loop_on_the_threads_of_a_background_run()
    assert torch.get_num_threads() == threads, "train restores the thread count"
    assert a.history == b.history
    assert all(torch.equal(p, q) for p, q in zip(ma.parameters(), mb.parameters()))


def test_checkpoint_written_while_batches_are_drawn_ahead_resumes_the_uninterrupted_run(tmp_path):
    full, m_full = _in_loop_on_the_threads_of_a_background_run()
    ck = tmp_path / "ck.pt"
    _train_tiny(True, cfg={"checkpoint_every": 3}, checkpoint_path=ck, stop_after=7)
    resumed, m_res = _train_tiny(True, cfg={"checkpoint_every": 3}, checkpoint_path=ck, resume=True)
    assert resumed.history == full.history
    assert all(torch.equal(p, q) for p, q in zip(m_full.parameters(), m_res.parameters()))


def test_a_sampler_error_in_the_background_is_raised_by_the_training_loop():
    from causal_tutorial.graphs import chain
    from causal_tutorial.tasks import SingleParentTask

    class Failing(SingleParentTask):
        calls = 0

        def sample(self, n, generator=None, return_law=False):
            Failing.calls += 1
            if Failing.calls > 4:  # the test set, then a few training batches
                raise RuntimeError("sampler broke")
            return super().sample(n, generator, return_law)

    with pytest.raises(RuntimeError, match="sampler broke"):
        _train_tiny(True, task=Failing(5, 8, chain(8)))
