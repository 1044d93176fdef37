"""One training loop for every experiment: fresh batches, an optimiser, a schedule, evaluations.

Chapter 4 ("Training on Markov chains") trains with it. :func:`train` knows of a model only that
it has parameters, ``param_groups()`` and ``loss(tokens, labels)``, and of a task only
``sample(n, generator)``; what to measure at each evaluation besides the test loss (``metrics``,
e.g. :func:`causal_tutorial.analysis.parent_metrics`) and what to keep (``callback``, e.g.
:class:`causal_tutorial.analysis.ParameterSnapshots`) are handed in.

* SGD or AdamW, cosine (to 0) or constant learning rate, weight decay;
* fresh batches every step (:class:`causal_tutorial.tasks.BatchStream`; on the CPU drawn in a
  background thread while the step runs, ``TrainConfig.prefetch``);
* a fixed test set, evaluated every ``eval_every`` steps: the history records the step, the learning
  rate, the mean training loss since the last evaluation, the test loss and the metrics;
* stages (the paper's Algorithm 1): each stage trains a chosen subset of parameter groups;
* checkpoints (loaded with ``weights_only=True``) from which a run resumes exactly;
* a ``tqdm`` progress bar, silent when ``CI`` is set or the output is not a terminal.

Two process-wide settings are changed while :func:`train` runs on the CPU, and named here: the
number of intra-op threads drops by one while the background sampler runs (restored on every exit
path), and :func:`causal_tutorial.models.retain_freed_memory` keeps freed memory in the process
(once; it stays).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checks import (
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_int,
    check_token_values,
    make_generator,
    resolve_device,
    trusted_tokens,
)
from .device_step import GraphedStep, PooledBatches, Update
from .io import atomic_torch_save
from .tasks import BatchStream

__all__ = ["Stage", "TrainConfig", "TrainResult", "train", "draw_test_set", "save_checkpoint", "load_checkpoint"]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "constant")

#: ``metrics(model, test_tokens) -> dict``: extra numbers recorded at every evaluation.
Metrics = Callable[[torch.nn.Module, torch.Tensor], dict]
#: ``callback(step, model, record)``: called after every evaluation.
Callback = Callable[[int, torch.nn.Module, dict], None]


@dataclass
class Stage:
    """One stage of training: which parameter groups move (``"A1"``, ``"A2"``, ``"W"``, or ``"all"``)."""

    params: Sequence[str] = ("all",)
    steps: int = 1000
    lr: float | None = None  # None: the config's lr


@dataclass
class TrainConfig:
    """Everything that defines a training run (chapter 4).

    ``prefetch`` draws the batches in a background thread on the CPU; it changes the speed, never
    the batches (a test checks that both give the same run).

    ``graph`` chooses the device step (:mod:`causal_tutorial.device_step`): ``None`` (the default) uses it
    on CUDA, captured as a CUDA graph, and the plain step (``torch.optim``) elsewhere; ``True`` asks for the
    graph (CUDA only); ``False`` runs the device step eagerly, on any device. ``pool`` is the number of
    batches the device step draws in one call of the sampler (0: as many as make about 2^18 sequences on
    CUDA, one elsewhere); a pooled run draws other batches than a run that samples every step.
    """

    steps: int = 1000
    batch_size: int = 1024
    optimizer: str = "sgd"
    lr: float = 1.0
    schedule: str = "cosine"
    weight_decay: float = 0.0
    eval_every: int = 100
    test_size: int = 4096
    seed: int = 0
    test_seed: int = 12345
    device: str = "auto"
    stages: list[Stage] | None = None
    checkpoint_every: int = 0
    prefetch: bool = True
    pool: int = 0
    graph: bool | None = None

    def __post_init__(self):
        for name in ("steps", "batch_size", "eval_every", "test_size"):
            check_positive_int(name, getattr(self, name))
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got lr={self.lr!r}")
        check_nonnegative_float("weight_decay", self.weight_decay)
        check_nonnegative_int("checkpoint_every", self.checkpoint_every)
        check_nonnegative_int("pool", self.pool)
        if self.graph not in (None, True, False):
            raise ValueError(f"graph must be None, True or False, got graph={self.graph!r}")
        if self.stages is not None:
            self.stages = [s if isinstance(s, Stage) else Stage(**s) for s in self.stages]
            for s in self.stages:
                if isinstance(s.steps, bool) or not isinstance(s.steps, int) or s.steps < 1:
                    raise ValueError(f"every stage needs a positive int number of steps, got {s.steps!r}")
            self.steps = sum(s.steps for s in self.stages)
        dev = resolve_device(self.device)  # fail early on an unknown device
        if self.graph is True and dev.type != "cuda":
            raise ValueError(f"graph=True needs a CUDA device (a CUDA graph), got device={self.device!r}")

    def all_stages(self) -> list[Stage]:
        return self.stages if self.stages is not None else [Stage(("all",), self.steps, None)]

    def to_dict(self) -> dict:
        """The configuration as plain data (what result files and checkpoints record)."""
        d = asdict(self)
        d["stages"] = (
            None
            if self.stages is None
            else [{"params": list(s.params), "steps": s.steps, "lr": s.lr} for s in self.stages]
        )
        del d["prefetch"], d["graph"]  # how a step runs, not what it computes: not part of a run's identity
        if not self.pool:
            del d["pool"]  # the default, fixed by the device (which the configuration names)
        return d

    def device_step(self, device: torch.device) -> bool:
        """Whether the run trains with the device step (:mod:`causal_tutorial.device_step`)."""
        return device.type == "cuda" or self.graph is not None

    def pool_size(self, device: torch.device, sequences_per_batch: int) -> int:
        """Batches per pool of the device step (``pool``, or by default about 2^18 sequences on CUDA)."""
        if self.pool:
            return self.pool
        return max(1, min(self.steps, 2**18 // sequences_per_batch)) if device.type == "cuda" else 1


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    final: dict = field(default_factory=dict)


def draw_test_set(
    task, config: TrainConfig, device: str | torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed test set of a run (chapter 4): ``config.test_size`` sequences of ``task`` drawn with
    a generator seeded by ``config.test_seed`` on ``device`` (by default the config's device)."""
    dev = resolve_device(config.device if device is None else device)
    batch = task.sample(config.test_size, make_generator(config.test_seed, dev))
    return batch.tokens, batch.labels


# --- helpers -----------------------------------------------------------------------------------------
def progress_enabled(progress: bool | None) -> bool:
    """Whether to show a progress bar: as asked, or by default on a terminal outside CI."""
    if progress is not None:
        return bool(progress)
    return not os.environ.get("CI") and sys.stderr.isatty()


def progress_bar(total: int, initial: int, desc: str, show: bool):
    """A tqdm bar (a silent one when ``show`` is false); close it when done."""
    if show:
        from tqdm.auto import tqdm
    else:  # the plain class: tqdm.auto warns in notebooks without ipywidgets even when disabled
        from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=desc, disable=not show, leave=False)


def _train_only(model: Any, groups: Sequence[str]) -> list[torch.nn.Parameter]:
    """Let only the named parameter groups (``model.param_groups()``, parameter names, or ``"all"``)
    receive gradients; returns their parameters."""
    params = _select_params(model, groups)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    return params


def _select_params(model: Any, groups: Sequence[str]) -> list[torch.nn.Parameter]:
    """The parameters of the named groups (``model.param_groups()``) or parameter names; ``"all"``."""
    named = dict(model.named_parameters())
    if "all" in groups:
        return list(named.values())
    table = model.param_groups() if hasattr(model, "param_groups") else {}
    names: list[str] = []
    for grp in groups:
        if grp in table:
            names += table[grp]
        elif grp in named:
            names.append(grp)
        else:
            raise ValueError(f"unknown parameter group {grp!r}; this model has {sorted(table) or sorted(named)}")
    return [named[nm] for nm in names]


def _make_optimizer(cfg: TrainConfig, params, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)


def _lr_at(cfg: TrainConfig, base: float, t: int, total: int) -> float:
    if cfg.schedule == "constant":
        return base
    return base * 0.5 * (1.0 + math.cos(math.pi * t / total))


def _fingerprint(model: Any, task, cfg: TrainConfig) -> dict:
    model_cfg = model.config() if hasattr(model, "config") else {"model": type(model).__name__}
    return {"model": model_cfg, "task": task.describe(), "train": cfg.to_dict()}


@contextlib.contextmanager
def _intra_op_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads; the previous count is restored on every exit."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write a training state atomically (tensors and plain containers only, so it loads with
    ``weights_only=True``)."""
    atomic_torch_save(state, path)


def load_checkpoint(path: str | Path | None, fingerprint: dict, device: torch.device) -> dict:
    """A checkpoint written by :func:`train` for this very configuration, or an error saying why not."""
    if path is None or not Path(path).is_file():
        raise FileNotFoundError(f"resume=True needs an existing checkpoint_path, got {path!r}")
    ck = torch.load(path, map_location=device, weights_only=True)
    if ck["fingerprint"] != fingerprint:
        raise ValueError(f"checkpoint {path} was made for another configuration; refusing to resume")
    return ck


def _plain(loss: torch.Tensor, count: int = 1) -> float | list[float]:
    """``loss / count`` as a float, or a list of floats for a stacked model's one loss per model."""
    return float(loss) / count if loss.dim() == 0 else [float(x) / count for x in loss.reshape(-1)]


def _device_step(model, params, update: Update, tokens, labels, device: torch.device, cfg: TrainConfig) -> GraphedStep:
    """The device step of a stage: captured as a CUDA graph on CUDA (unless ``cfg.graph`` is False); where the
    capture fails and the graph was not asked for explicitly, the same step eagerly, with a warning."""
    graph = device.type == "cuda" and cfg.graph is not False
    try:
        return GraphedStep(model.loss, params, update, tokens, labels, graph=graph)
    except Exception as exc:
        if not graph or cfg.graph is True:
            raise
        warnings.warn(f"this step could not be captured as a CUDA graph ({exc!r}); it runs eagerly", stacklevel=3)
        return GraphedStep(model.loss, params, update, tokens, labels, graph=False)


# --- the loop -------------------------------------------------------------------------------------------
@dataclass
class _Run:
    """The mutable state of one run: what a checkpoint holds besides the model and the optimiser."""

    model: Any
    test_set: tuple[torch.Tensor, torch.Tensor]
    metrics: Metrics | None
    callbacks: list[Callback]
    fingerprint: dict
    gen_state: Any  # the generator state after the last batch used (pooled: before its pool, and the batches used)
    step: int = 0
    history: list[dict] = field(default_factory=list)
    train_sum: torch.Tensor | None = None
    train_count: int = 0
    pool_used: int = 0  # batches of the current pool used before a resumed checkpoint (device step)

    def record(self, loss: torch.Tensor) -> None:
        # a copy: the device step's loss is a static buffer that the next step overwrites
        self.train_sum = loss.detach().clone() if self.train_sum is None else self.train_sum + loss.detach()
        self.train_count += 1

    def evaluate(self, lr: float) -> None:
        """Test loss (and metrics) at the current step; the mean training loss since the last one."""
        model, (tokens, labels) = self.model, self.test_set
        model.eval()
        with torch.no_grad():
            rec = {
                "step": self.step,
                "lr": lr,
                "train_loss": None if self.train_sum is None else _plain(self.train_sum, self.train_count),
                "test_loss": _plain(model.loss(tokens, labels)),
            }
            if self.metrics is not None:
                rec.update(self.metrics(model, tokens))
        model.train()
        self.train_sum, self.train_count = None, 0
        self.history.append(rec)
        for cb in self.callbacks:
            cb(self.step, model, rec)

    def save(self, path: str | Path | None, opt: torch.optim.Optimizer | Update) -> None:
        if path is not None:
            zero = torch.zeros(())
            pooled = isinstance(self.gen_state, tuple)
            save_checkpoint(
                path,
                {
                    "fingerprint": self.fingerprint,
                    "model": self.model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "generator": self.gen_state[0] if pooled else self.gen_state,
                    "pool_used": self.gen_state[1] if pooled else 0,
                    "step": self.step,
                    "history": self.history,
                    "train_sum": zero if self.train_sum is None else self.train_sum.cpu(),
                    "train_count": self.train_count,
                },
            )

    def restore(self, ck: dict, gen: torch.Generator, device: torch.device) -> dict:
        """Continue from a checkpoint; returns the optimiser state to load."""
        self.model.load_state_dict(ck["model"])
        gen.set_state(ck["generator"].cpu())  # a generator's state is a CPU byte tensor on every device
        self.gen_state, self.step, self.history = gen.get_state(), ck["step"], ck["history"]
        self.pool_used = int(ck.get("pool_used", 0))
        self.train_count = ck["train_count"]
        self.train_sum = ck["train_sum"].to(device) if self.train_count else None
        return ck["optimizer"]


def train(
    model: Any,
    task,
    config: TrainConfig,
    test_set: tuple[torch.Tensor, torch.Tensor] | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    metrics: Metrics | None = None,
    callback: Callback | Sequence[Callback] | None = None,
    progress: bool | None = None,
    desc: str = "training",
) -> TrainResult:
    """Train ``model`` on fresh batches from ``task`` (chapter 4).

    A stacked model (:mod:`causal_tutorial.stacked`) returns one loss per model: the loop
    backpropagates their sum, and the history's ``train_loss`` and ``test_loss`` are then lists.

    Args:
        test_set: ``(tokens, labels)``; by default :func:`draw_test_set`.
        checkpoint_path: where checkpoints go (every ``config.checkpoint_every`` steps and at the end).
        resume: continue from ``checkpoint_path`` (which must belong to the same configuration).
        stop_after: stop (and checkpoint) after this many steps in total, to simulate an interruption.
        metrics: ``metrics(model, test_tokens) -> dict``, merged into every evaluation record.
        callback: ``callback(step, model, record)`` (or a list of them), called after every evaluation.
    """
    device = resolve_device(config.device)
    if getattr(task, "device", device).type != device.type:
        raise ValueError(f"the task samples on {task.device} but config.device resolves to {device}")
    if hasattr(model, "T") and (model.T != task.T or model.S != task.S):
        raise ValueError(f"the model (S={model.S}, T={model.T}) does not match the task (S={task.S}, T={task.T})")
    model.to(device)
    test = draw_test_set(task, config, device) if test_set is None else test_set
    # one generator, or one per run for a task that stacks runs of several seeds (causal_tutorial.stacked.SeedsTask)
    gen = (
        task.make_generator(config.seed, device)
        if hasattr(task, "make_generator")
        else make_generator(config.seed, device)
    )
    callbacks: list[Callback] = []
    if callback is not None:
        callbacks = list(callback) if isinstance(callback, (list, tuple)) else [callback]  # type: ignore[list-item]
    run = _Run(
        model,
        (test[0].to(device), test[1].to(device)),
        metrics,
        callbacks,
        _fingerprint(model, task, config),
        gen.get_state(),
    )
    opt_state = run.restore(load_checkpoint(checkpoint_path, run.fingerprint, device), gen, device) if resume else None
    start, stages = run.step, config.all_stages()
    if start == 0:
        run.evaluate(_lr_at(config, stages[0].lr or config.lr, 0, stages[0].steps))
    device_step = config.device_step(device)
    background = config.prefetch and device.type == "cpu" and not device_step
    if device.type == "cpu":
        from .models import retain_freed_memory

        retain_freed_memory()
    threads = torch.get_num_threads()
    bar = progress_bar(config.steps, start, desc, progress_enabled(progress))
    stream: BatchStream | PooledBatches
    if device_step:
        per_batch = config.batch_size * int(getattr(task, "G", 1))
        pool = config.pool_size(device, per_batch)
        stream = PooledBatches(task, config.batch_size, gen, config.steps - start, pool, skip=run.pool_used)
    else:
        stream = BatchStream(task, config.batch_size, gen, config.steps - start, background, start=False)
    opt: torch.optim.Optimizer | Update | None = None
    checked = False
    # While sampling runs in the background, the step gets one core fewer. Inside trusted_tokens no step reads
    # a token back to the host: the first batch is checked once, here at the edge.
    with (
        _intra_op_threads(max(1, threads - 1) if background else threads),
        contextlib.closing(bar),
        contextlib.closing(stream) as batches,
        trusted_tokens(),
    ):
        if isinstance(batches, BatchStream):
            batches.start()
        stage_start = 0
        for stage in stages:
            stage_end, base_lr = stage_start + stage.steps, stage.lr or config.lr
            if stage_end <= start:  # finished before the checkpoint
                stage_start = stage_end
                continue
            params = _train_only(model, stage.params)
            step = None
            if device_step:
                opt = Update(config.optimizer, params, config.weight_decay)
            else:
                opt = _make_optimizer(config, params, base_lr)
            if opt_state is not None:  # the checkpoint was made in this stage
                opt.load_state_dict(opt_state)
                opt_state = None
            while run.step < stage_end:
                lr = _lr_at(config, base_lr, run.step - stage_start, stage.steps)
                tokens, labels, run.gen_state = batches.next()
                if not checked and hasattr(model, "S"):  # the check at the edge, once
                    check_token_values(tokens, model.S)
                    checked = True
                if isinstance(opt, Update):
                    if step is None:  # captured once per stage, on the first batch
                        step = _device_step(model, params, opt, tokens, labels, device, config)
                    loss = step(tokens, labels, lr)
                else:
                    for grp in opt.param_groups:
                        grp["lr"] = lr
                    loss = model.loss(tokens, labels)
                    opt.zero_grad(set_to_none=True)
                    (loss.sum() if loss.dim() else loss).backward()  # a stacked model: one loss per model
                    opt.step()
                run.record(loss)
                run.step += 1
                bar.update(1)
                if run.step % config.eval_every == 0 or run.step == config.steps:
                    run.evaluate(lr)
                    bar.set_postfix(test_loss=f"{np.mean(run.history[-1]['test_loss']):.4f}")
                if stop_after is not None and run.step >= stop_after:
                    run.save(checkpoint_path, opt)
                    return TrainResult(run.history, dict(run.history[-1]))
                if config.checkpoint_every and run.step % config.checkpoint_every == 0:
                    run.save(checkpoint_path, opt)
            stage_start = stage_end
    for p in model.parameters():
        p.requires_grad_(True)
    if opt is not None:
        run.save(checkpoint_path, opt)
    return TrainResult(run.history, dict(run.history[-1]))
