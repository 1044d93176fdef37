"""One training loop for every experiment (chapter 4 trains with it; chapter 5 uses its stages).

* SGD or AdamW, cosine (to 0) or constant learning rate, weight decay;
* fresh batches every step from the task's sampler, on the training device;
* a fixed test set, evaluated every ``eval_every`` steps; the history records the step, the mean
  training loss since the last evaluation, the test loss, the learning rate and the attention on
  the true parents (metrics are read from the device only at evaluation points);
* staged training (the paper's Algorithm 1): each stage trains a chosen subset of parameters;
* checkpoints (``torch.save``, loaded with ``weights_only=True``) from which a run resumes exactly;
* a ``tqdm`` progress bar, silent when ``CI`` is set or the output is not a terminal.
"""

from __future__ import annotations

import math
import os
import queue
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from .analysis import attention_on_parents
from .estimators import soft_cross_entropy, soft_cross_entropy_from_logits
from .fastpath import fast_loss
from .io import atomic_torch_save
from .models import DisentangledTransformer

__all__ = ["Stage", "TrainConfig", "TrainResult", "resolve_device", "train", "make_generator", "model_loss"]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "constant")


@dataclass
class Stage:
    """One stage of training: which parameter groups move (``"A1"``, ``"A2"``, ``"W"``, or ``"all"``)."""

    params: Sequence[str] = ("all",)
    steps: int = 1000
    lr: float | None = None  # None: the config's lr


@dataclass
class TrainConfig:
    """Everything that defines a training run (chapter 4)."""

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

    def __post_init__(self):
        for name in ("steps", "batch_size", "eval_every", "test_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {name}={v!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got lr={self.lr!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if isinstance(self.checkpoint_every, bool) or not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be an int >= 0, got {self.checkpoint_every!r}")
        if self.stages is not None:
            self.stages = [s if isinstance(s, Stage) else Stage(**s) for s in self.stages]
            for s in self.stages:
                if isinstance(s.steps, bool) or not isinstance(s.steps, int) or s.steps < 1:
                    raise ValueError(f"every stage needs a positive int number of steps, got {s.steps!r}")
            self.steps = sum(s.steps for s in self.stages)
        resolve_device(self.device)  # fail early on an unknown device

    def all_stages(self) -> list[Stage]:
        return self.stages if self.stages is not None else [Stage(("all",), self.steps, None)]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stages"] = None if self.stages is None else [
            {"params": list(s.params), "steps": s.steps, "lr": s.lr} for s in self.stages]
        return d


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when present, else CPU. Unknown names and missing GPUs are errors."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for but no CUDA GPU is available; use 'cpu' or 'auto'")
        return torch.device(device)
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def model_loss(model: torch.nn.Module, tokens: torch.Tensor, labels: torch.Tensor, reduction: str = "mean"):
    """The soft-label cross-entropy of any model of :mod:`causal_tutorial.models`."""
    if reduction == "mean" and isinstance(model, DisentangledTransformer):
        return fast_loss(model, tokens, labels)  # the same loss, its gradient fused in (fastpath)
    out = model(tokens)
    if getattr(model, "returns_probs", False):
        return soft_cross_entropy(out, labels, reduction=reduction)
    return soft_cross_entropy_from_logits(out, labels, reduction=reduction)


# Draw the training batches in a background thread when training on the CPU (see BatchStream);
# meanwhile the training step runs on one thread fewer than torch's default (restored after).
PREFETCH_ON_CPU = True


class BatchStream:
    """The training batches, in order, each with the generator state after it was drawn (chapter 4).

    With ``background=True`` a thread draws them up to ``ahead`` steps in advance, so that
    sampling batch ``k+1`` overlaps training step ``k`` (NumPy's gamma sampler and torch kernels
    release the GIL), each on its own core: on 2 cores this beats giving both intra-op threads to
    one after the other by ~10%, and by far more on a busy machine. The thread is the generator's
    only user and draws in order, so the batches are exactly those of calling
    ``task.sample(batch_size, generator)`` in the loop. A checkpoint saves the state that comes with the last batch used,
    so a resumed run continues the same stream (batches drawn ahead but not used are drawn again).
    ``count`` bounds the number of batches drawn.
    """

    def __init__(self, task, batch_size: int, generator: torch.Generator, count: int, background: bool,
                 ahead: int = 2):
        self._draw = lambda: (*task.sample(batch_size, generator), generator.get_state())
        self._thread = None
        if background and count > 0:
            self._queue: queue.Queue = queue.Queue(maxsize=ahead)
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(count,), name="batch-stream", daemon=True)
            self._thread.start()

    def _run(self, count: int) -> None:
        try:
            for _ in range(count):
                item = self._draw()
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.05)
                        break
                    except queue.Full:
                        pass
                if self._stop.is_set():
                    return
        except BaseException as exc:  # handed to the training loop, which raises it
            self._queue.put((exc,))

    def next(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(tokens, labels, generator state after drawing them)``."""
        if self._thread is None:
            return self._draw()
        item = self._queue.get()
        if len(item) == 1:
            raise item[0]
        return item

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    final: dict = field(default_factory=dict)


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    return not os.environ.get("CI") and sys.stderr.isatty()


def _select_params(model: torch.nn.Module, groups: Sequence[str]) -> list[torch.nn.Parameter]:
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


def _fingerprint(model: torch.nn.Module, task, cfg: TrainConfig) -> dict:
    model_cfg = model.config() if hasattr(model, "config") else {"model": type(model).__name__}
    return {"model": model_cfg, "task": task.describe(), "train": cfg.to_dict()}


def train(
    model: torch.nn.Module,
    task,
    config: TrainConfig,
    test_set: tuple[torch.Tensor, torch.Tensor] | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    callback: Callable[[int, torch.nn.Module, dict], None] | None = None,
    progress: bool | None = None,
    desc: str = "training",
) -> TrainResult:
    """Train ``model`` on fresh batches from ``task`` (chapter 4).

    Args:
        test_set: ``(tokens, labels)``; by default ``config.test_size`` sequences drawn with
            ``config.test_seed``.
        checkpoint_path: where checkpoints go (every ``config.checkpoint_every`` steps and at the end).
        resume: continue from ``checkpoint_path`` (which must belong to the same configuration).
        stop_after: stop (and checkpoint) after this many steps in total — to simulate an
            interruption.
        callback: called as ``callback(step, model, record)`` at every evaluation.
    """
    device = resolve_device(config.device)
    if getattr(task, "device", device).type != device.type:
        raise ValueError(f"the task samples on {task.device} but config.device resolves to {device}")
    if hasattr(model, "T") and (model.T != task.T or model.S != task.S):
        raise ValueError(f"the model (S={model.S}, T={model.T}) does not match the task (S={task.S}, T={task.T})")
    model.to(device)
    if test_set is None:
        test_set = tuple(task.sample(config.test_size, make_generator(config.test_seed, device)))
    test_tokens, test_labels = (t.to(device) for t in test_set)
    gen = make_generator(config.seed, device)
    fingerprint = _fingerprint(model, task, config)
    history: list[dict] = []
    stages = config.all_stages()
    start_step = 0
    opt_state = None
    train_sum = torch.zeros((), device=device)
    train_count = 0
    if resume:
        if checkpoint_path is None or not Path(checkpoint_path).is_file():
            raise FileNotFoundError(f"resume=True needs an existing checkpoint_path, got {checkpoint_path!r}")
        ck = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if ck["fingerprint"] != fingerprint:
            raise ValueError(f"checkpoint {checkpoint_path} was made for another configuration; refusing to resume")
        model.load_state_dict(ck["model"])
        gen.set_state(ck["generator"].cpu() if device.type == "cpu" else ck["generator"])
        start_step, opt_state, history = ck["step"], ck["optimizer"], ck["history"]
        train_sum = ck["train_sum"].to(device)
        train_count = ck["train_count"]

    def evaluate(step: int, lr: float) -> dict:
        nonlocal train_sum, train_count
        model.eval()
        with torch.no_grad():
            test_loss = float(model_loss(model, test_tokens, test_labels))
            rec = {"step": step, "lr": lr,
                   "train_loss": float(train_sum) / train_count if train_count else None,
                   "test_loss": test_loss}
            rec.update(attention_on_parents(model, task, test_tokens[:1024]))
        model.train()
        train_sum = torch.zeros((), device=device)
        train_count = 0
        return rec

    def save(step: int, opt) -> None:
        if checkpoint_path is None:
            return
        atomic_torch_save({
            "fingerprint": fingerprint, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "generator": gen_state, "step": step, "history": history,
            "train_sum": train_sum.detach().cpu(), "train_count": train_count,
        }, checkpoint_path)

    show = _progress_enabled(progress)
    if show:
        from tqdm.auto import tqdm
    else:  # the plain class: tqdm.auto warns in notebooks without ipywidgets even when disabled
        from tqdm import tqdm

    bar = tqdm(total=config.steps, initial=start_step, desc=desc, disable=not show,
               leave=False)
    step = 0
    if start_step == 0:
        history.append(evaluate(0, _lr_at(config, stages[0].lr or config.lr, 0, stages[0].steps)))
        if callback:
            callback(0, model, history[-1])
    gen_state = gen.get_state()  # what a checkpoint saves: the state after the last batch used
    background = PREFETCH_ON_CPU and device.type == "cpu"
    threads = torch.get_num_threads()
    if background:  # one core for the sampling thread, the rest for the training step
        torch.set_num_threads(max(1, threads - 1))
    batches = BatchStream(task, config.batch_size, gen, config.steps - start_step, background)
    try:
        opt = None
        for stage in stages:
            stage_start = step
            stage_end = step + stage.steps
            if stage_end <= start_step:
                step = stage_end
                continue
            params = _select_params(model, stage.params)
            for p in model.parameters():
                p.requires_grad_(False)
            for p in params:
                p.requires_grad_(True)
            base_lr = stage.lr or config.lr
            opt = _make_optimizer(config, params, base_lr)
            if opt_state is not None and stage_start <= start_step:
                opt.load_state_dict(opt_state)
                opt_state = None
            step = max(step, start_step)
            while step < stage_end:
                lr = _lr_at(config, base_lr, step - stage_start, stage.steps)
                for grp in opt.param_groups:
                    grp["lr"] = lr
                tokens, labels, gen_state = batches.next()
                loss = model_loss(model, tokens, labels)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                train_sum = train_sum + loss.detach()
                train_count += 1
                step += 1
                bar.update(1)
                if step % config.eval_every == 0 or step == config.steps:
                    history.append(evaluate(step, lr))
                    bar.set_postfix(test_loss=f"{history[-1]['test_loss']:.4f}")
                    if callback:
                        callback(step, model, history[-1])
                if stop_after is not None and step >= stop_after:
                    save(step, opt)
                    bar.close()
                    return TrainResult(history, dict(history[-1]))
                if config.checkpoint_every and step % config.checkpoint_every == 0:
                    save(step, opt)
    finally:
        batches.close()
        torch.set_num_threads(threads)
    for p in model.parameters():
        p.requires_grad_(True)
    bar.close()
    if opt is not None:
        save(step, opt)
    return TrainResult(history, dict(history[-1]))
