"""The training step on a GPU: batches sliced from large pools drawn on the device, and the whole step —
loss, gradients, optimiser update, learning rate — written so that it never waits on the device, then
captured once as a CUDA graph and replayed (the page *Running the book* measures it).

On a GPU a step of the paper's models is tiny (the Fig. 2 step's matrix products are about 40 MFLOP),
so what costs is launching its hundred-odd kernels from Python and any moment the host waits for the
device. Three things remove that cost, and :func:`causal_tutorial.training.train` uses them on CUDA:

* :class:`PooledBatches` draws ``pool`` batches in one call of the task's sampler (its fixed costs paid
  once per pool) and hands out slices of it;
* :class:`Update` is SGD or AdamW written with the learning rate as a device tensor, the same arithmetic
  as ``torch.optim.SGD`` / ``torch.optim.AdamW`` (tested equal on the CPU), so no value comes back to the
  host;
* :class:`GraphedStep` runs loss, ``torch.autograd.grad`` and the update on static input buffers, warms
  them up on a side stream, captures them with ``torch.cuda.graph`` and replays the capture each step (the
  warm-up steps are undone, so the first replayed step starts from the same parameters). ``graph=False``
  runs the same step eagerly, which is also what the CPU tests check.

The checks on the token values happen once, at the edge (:func:`causal_tutorial.checks.trusted_tokens`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

__all__ = ["PooledBatches", "Update", "GraphedStep"]


class PooledBatches:
    """The batches of a task, ``batch_size`` sequences each, sliced in order from pools of ``pool`` batches
    drawn with one call ``task.sample(pool * batch_size, generator)``.

    The batches are those of the pools, so a pooled run draws other batches than a run that samples every
    step. ``next()`` returns ``(tokens, labels, (state, used))``: the generator state from before the
    current pool and how many of its batches have been used; a run that restores that state and skips
    ``used`` batches (``skip``) continues with exactly the same batches. ``count`` bounds the batches handed out
    (the last pool is drawn only as large as needed)."""

    def __init__(self, task, batch_size: int, generator: torch.Generator, count: int, pool: int, skip: int = 0):
        self.task, self.batch_size, self.generator, self.pool = task, batch_size, generator, pool
        self._left = count + skip
        self._tokens: torch.Tensor | None = None
        self._labels: torch.Tensor | None = None
        self._state = generator.get_state()
        self._used = self._size = 0
        for _ in range(skip):
            self.next()

    def _refill(self) -> None:
        self._state = self.generator.get_state()
        self._size = min(self.pool, self._left)
        batch = self.task.sample(self._size * self.batch_size, self.generator)
        self._tokens, self._labels = batch.tokens, batch.labels  # (…, pool·batch, T) and (…, pool·batch, S)
        self._used = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, int]]:
        if self._left <= 0:
            raise StopIteration("PooledBatches: every batch of the run has been handed out")
        if self._tokens is None or self._used == self._size:
            self._refill()
        assert self._tokens is not None and self._labels is not None
        lo, B = self._used * self.batch_size, self.batch_size
        self._used += 1
        self._left -= 1
        tokens = self._tokens.narrow(self._tokens.dim() - 2, lo, B)  # a stacked task's batches are (G, n, T)
        labels = self._labels.narrow(self._labels.dim() - 2, lo, B)
        return tokens, labels, (self._state, self._used)

    def close(self) -> None:
        self._tokens = self._labels = None


class Update:
    """SGD (no momentum) or AdamW on ``params``, the learning rate a 0-d device tensor: the arithmetic of
    ``torch.optim.SGD`` and ``torch.optim.AdamW`` (defaults ``betas=(0.9, 0.999)``, ``eps=1e-8``), with no
    value read back by the host. ``state`` holds AdamW's moments and step count (device tensors)."""

    def __init__(self, kind: str, params: Sequence[torch.Tensor], weight_decay: float, betas=(0.9, 0.999), eps=1e-8):
        if kind not in ("sgd", "adamw"):
            raise ValueError(f"kind must be 'sgd' or 'adamw', got {kind!r}")
        self.kind, self.weight_decay, self.betas, self.eps = kind, float(weight_decay), betas, eps
        self.state: dict[str, list[torch.Tensor]] = {}
        if kind == "adamw":
            self.state = {
                "exp_avg": [torch.zeros_like(p) for p in params],
                "exp_avg_sq": [torch.zeros_like(p) for p in params],
                "step": [torch.zeros((), device=params[0].device)],
            }

    @torch.no_grad()
    def __call__(self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], lr: torch.Tensor) -> None:
        wd = self.weight_decay
        if self.kind == "sgd":
            for p, g in zip(params, grads):
                p.sub_(lr * (g.add(p, alpha=wd) if wd else g))
            return
        b1, b2 = self.betas
        step = self.state["step"][0]
        step.add_(1.0)
        # b**step as exp(step·log b): a Python number raised to a device tensor would first copy the number to the
        # device, which a CUDA graph cannot capture (measured on an H200: the capture fails)
        bias1 = 1.0 - torch.exp(step * math.log(b1))
        bias2_sqrt = (1.0 - torch.exp(step * math.log(b2))).sqrt()
        step_size = lr / bias1
        for p, g, m, v in zip(params, grads, self.state["exp_avg"], self.state["exp_avg_sq"]):
            if wd:
                p.mul_(1.0 - lr * wd)
            m.lerp_(g, 1.0 - b1)
            v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            p.sub_(step_size * m / (v.sqrt() / bias2_sqrt + self.eps))

    def state_dict(self) -> dict:
        return {"kind": self.kind, **{k: [t.detach().clone() for t in v] for k, v in self.state.items()}}

    def load_state_dict(self, state: dict) -> None:
        if state.get("kind") != self.kind:
            raise ValueError(f"this optimiser state is for {state.get('kind')!r}, not {self.kind!r}")
        for key, tensors in self.state.items():
            for t, saved in zip(tensors, state[key]):
                t.copy_(saved)


class GraphedStep:
    """One training step on static buffers: ``loss_fn(tokens, labels)`` (a 0-d loss, or one per stacked run,
    whose sum is differentiated), its gradients with respect to ``params`` and ``update``.

    With ``graph=True`` (CUDA only) the step is captured once as a CUDA graph after ``warmup`` eager steps on
    a side stream, whose effect on the parameters and the optimiser state is undone; each call then copies the
    batch into the static buffers, sets the learning rate and replays the graph. Calling it returns the loss of
    the step (a static tensor, overwritten by the next call: read or copy it before then)."""

    def __init__(
        self,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        params: Sequence[torch.nn.Parameter],
        update: Update,
        tokens: torch.Tensor,
        labels: torch.Tensor,
        graph: bool,
        warmup: int = 3,
    ):
        self.loss_fn, self.params, self.update = loss_fn, list(params), update
        self.tokens, self.labels = tokens.clone(), labels.clone()
        self.lr = torch.zeros((), device=tokens.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.loss: torch.Tensor | None = None
        if graph:
            self._capture(warmup)

    def _step(self) -> torch.Tensor:
        loss = self.loss_fn(self.tokens, self.labels)
        grads = torch.autograd.grad(loss.sum() if loss.dim() else loss, self.params)
        self.update(self.params, grads, self.lr)
        return loss.detach()

    def _capture(self, warmup: int) -> None:
        tensors = [p.data for p in self.params] + [t for ts in self.update.state.values() for t in ts]
        saved = [t.clone() for t in tensors]
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(warmup):
                    self._step()
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.loss = self._step()
        except Exception:
            self.graph = None
            raise
        finally:  # the warm-up steps are undone, whether the capture worked or not
            with torch.no_grad():
                for t, s in zip(tensors, saved):
                    t.copy_(s)

    def __call__(self, tokens: torch.Tensor, labels: torch.Tensor, lr: float) -> torch.Tensor:
        if not math.isfinite(lr):
            raise ValueError(f"lr must be finite, got {lr!r}")
        self.tokens.copy_(tokens)
        self.labels.copy_(labels)
        self.lr.fill_(lr)
        if self.graph is None:
            self.loss = self._step()
        else:
            self.graph.replay()
        assert self.loss is not None
        return self.loss
