"""Many independent runs trained as one (the paper's Fig. 9: twenty random forests, chapter 6).

Fig. 9 trains one two-layer disentangled transformer on each of twenty graphs. Run one after another
on a CPU, each step of each run is a handful of small tensor operations, and the fixed cost of
launching them, not the arithmetic, sets the pace. Here the twenty runs become one:

* :class:`StackedTask` draws one batch for every graph at once. Each graph's batch is exactly the
  batch its own run would draw (the separate runs all start from the same seed, so they consume
  the same random numbers: the laws ``π``, the uniforms and the queries are drawn once and pushed
  through each graph's parents). Tokens ``(G, n, T)``, labels ``(G, n, S)``.
* The model is the one model with a run axis (``DisentangledTransformer(S, T, runs=G)``, see
  the module docstring of :mod:`causal_tutorial.models`): one loss per graph, ``(G,)``; the training loop
  (:func:`causal_tutorial.training.train`) backpropagates their sum, so every graph receives exactly the
  gradient of its own run, and one optimiser step is ``G`` separate steps.

The same holds for **seeds**: :class:`SeedsTask` stacks ``R`` runs of any task whose batches come each from its
own generator (:class:`GeneratorSet`, seeded like ``R`` separate runs), so run ``k`` draws exactly the batches
of a separate run with seed ``seeds[k]`` (``python -m causal_tutorial run NAME --seeds R``).

``tests/test_stacked.py`` checks that the stacked run equals the separate runs (batches exactly,
parameters and histories to float rounding) and ``benchmarks/bench_stacked.py`` measures the speed-up.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .checks import check_positive_int, generator_or_default, make_generator
from .priors import normalise_rows_, start_gamma
from .tasks import Batch, SingleParentTask, _chunks

__all__ = [
    "StackedTask",
    "GeneratorSet",
    "SeedsTask",
    "stacked_metrics",
]


class StackedTask:
    """``G`` single-parent tasks with the same ``S``, ``T``, ``α``, device and sampler settings,
    sampled together; ``tasks[g]`` is graph ``g``'s task.

    ``sample(n, generator)`` returns for every graph the batch ``tasks[g].sample(n, generator)``
    would return from the same generator state, and leaves the generator where that call would.
    """

    def __init__(self, tasks: Sequence[SingleParentTask]):
        tasks = list(tasks)
        if not tasks:
            raise ValueError("tasks must hold at least one SingleParentTask")
        for k, t in enumerate(tasks):
            if not isinstance(t, SingleParentTask):
                raise TypeError(f"tasks[{k}] must be a SingleParentTask, got {type(t).__name__}")
        first = tasks[0]
        shared = lambda t: (t.S, t.T, t.alpha, t.device, t.settings)  # noqa: E731
        for k, t in enumerate(tasks[1:], start=1):
            if shared(t) != shared(first):
                raise ValueError(f"tasks[{k}] differs from tasks[0] in S, T, alpha, device or sampler settings")
        self.tasks = tasks
        self.G, self.S, self.T, self.alpha = len(tasks), first.S, first.T, first.alpha
        self.device, self.settings = first.device, first.settings

    @property
    def kind(self) -> str:
        return "stacked"

    def describe(self) -> dict:
        return {"stacked": [t.describe() for t in self.tasks]}

    def sample(self, n: int, generator: torch.Generator | None = None) -> Batch:
        """Draw ``n`` sequences for every graph, a :class:`~causal_tutorial.tasks.Batch` of ``tokens (G, n, T)`` and
        ``labels (G, n, S)`` (the draws of :meth:`~causal_tutorial.tasks.SingleParentTask.sample`, shared)."""
        n = check_positive_int("n", n, "the number of sequences")
        g = generator_or_default(generator, self.device)
        S, dev, first = self.S, self.device, self.tasks[0]
        tokens, labels = [], []
        for c in _chunks(n, S * S, dev, self.settings):
            gammas = start_gamma(self.alpha, (S, S, c), g, dev, settings=self.settings)
            u, query = first._uniforms(c, g)
            P = normalise_rows_(gammas())
            lab, C, mu, _ = first._laws(P, query)  # the laws do not depend on the graph
            tokens.append(self._tokens(C, mu, u, query))
            labels.append(lab)  # π_m[query_m]: the same for every graph
        tok = torch.cat(tokens, dim=1)
        lab = torch.cat(labels).unsqueeze(0).expand(self.G, -1, -1)
        return Batch(tok, lab)

    def _tokens(self, C: torch.Tensor, mu: torch.Tensor, u: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Every graph's tokens ``(G, n, T)``: each graph's own token loop on the shared laws and uniforms."""
        return torch.stack([t._tokens(C, mu, u, query) for t in self.tasks])


class GeneratorSet:
    """One generator per run, used as one: ``get_state()`` is every generator's state stacked ``(R, …)`` and
    ``set_state(state)`` restores them, so a checkpoint holds them all (:func:`causal_tutorial.training.train`)."""

    def __init__(self, seeds: Sequence[int], device):
        self.generators = [make_generator(s, device) for s in seeds]
        self.device = self.generators[0].device

    def get_state(self) -> torch.Tensor:
        return torch.stack([g.get_state() for g in self.generators])

    def set_state(self, state: torch.Tensor) -> None:
        if state.shape[0] != len(self.generators):
            raise ValueError(f"a state for {state.shape[0]} generators cannot restore {len(self.generators)}")
        for g, st in zip(self.generators, state):
            g.set_state(st.clone())  # its own storage: set_state reads a byte tensor from its start


class SeedsTask:
    """``R`` runs, one per seed, of one task or of one task each: ``sample(n, generators)`` draws ``(R, n, T)`` tokens
    and ``(R, n, S)`` labels, run ``k``'s exactly ``tasks[k].sample(n, generator seeded with seeds[k])`` in turn.

    ``task`` is one task (every run's: the seeds of one experiment) or a sequence of ``R`` tasks with the same
    ``S``, ``T`` and device (a sweep's runs that share shapes: other ``α``, other graphs; see
    :mod:`causal_tutorial.sweep`). :meth:`make_generator` gives the :class:`GeneratorSet` the training loop draws
    with. With one plain generator (the test set: every separate run draws its own from the same ``test_seed``)
    each run gets the batch its task draws from that generator's state, and equal tasks share it."""

    def __init__(self, task, seeds: Sequence[int]):
        seeds = list(seeds)
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
            raise ValueError(f"seeds must be a non-empty list of ints, got {seeds!r}")
        tasks = list(task) if isinstance(task, (list, tuple)) else [task] * len(seeds)
        if len(tasks) != len(seeds):
            raise ValueError(f"task must be one task or one per seed: {len(tasks)} tasks for {len(seeds)} seeds")
        for k, t in enumerate(tasks):
            if not callable(getattr(t, "sample", None)):
                raise TypeError(f"task must be a task with a sample method, got {type(t).__name__} (run {k})")
            if (t.S, t.T, t.device) != (tasks[0].S, tasks[0].T, tasks[0].device):
                raise ValueError(f"every run's task must share S, T and device; run {k}'s differs from run 0's")
        keys = [repr(t.describe()) for t in tasks]
        if len(set(zip(keys, seeds))) != len(seeds):
            raise ValueError(f"seeds must differ from each other on one task, got {seeds!r}")
        self.seeds, self.tasks = seeds, tasks  # tasks[k]: run k's (what stacked_metrics reads)
        first = tasks[0]
        self.task = first if len(set(keys)) == 1 else None  # the one task, when every run has it
        self.G, self.S, self.T, self.device = len(seeds), first.S, first.T, first.device
        self.alpha = first.alpha if len({t.alpha for t in tasks}) == 1 else None
        self._distinct = {key: k for k, key in reversed(list(enumerate(keys)))}  # each task's first run
        self._first_of = [self._distinct[key] for key in keys]

    @property
    def kind(self) -> str:
        return "seeds"

    def describe(self) -> dict:
        if self.task is not None:
            return {**self.task.describe(), "seeds": list(self.seeds)}
        return {"runs": [t.describe() for t in self.tasks], "seeds": list(self.seeds)}

    def make_generator(self, seed: int, device) -> GeneratorSet:
        """The runs' generators (``seed`` is the first run's, recorded in the configuration)."""
        if seed != self.seeds[0]:
            raise ValueError(f"the configuration's seed ({seed}) must be the first run's, {self.seeds[0]}")
        return GeneratorSet(self.seeds, device)

    def sample(self, n: int, generator: GeneratorSet | torch.Generator | None = None) -> Batch:
        if isinstance(generator, GeneratorSet):
            parts = [t.sample(n, g) for t, g in zip(self.tasks, generator.generators)]
            return Batch(torch.stack([b.tokens for b in parts]), torch.stack([b.labels for b in parts]))
        if self.task is not None:
            b = self.task.sample(n, generator)
            return Batch(b.tokens.expand(self.G, -1, -1), b.labels.expand(self.G, -1, -1))
        # each distinct task from the same generator state, as its separate run would draw it
        g = generator_or_default(generator, self.device)
        state, drawn = g.get_state(), {}
        for k in sorted(set(self._first_of)):
            g.set_state(state)
            drawn[k] = self.tasks[k].sample(n, g)
        parts = [drawn[k] for k in self._first_of]
        return Batch(torch.stack([b.tokens for b in parts]), torch.stack([b.labels for b in parts]))


def stacked_metrics(task: StackedTask | SeedsTask, per_run):
    """The evaluation callback of a model with a run axis: ``per_run(task)`` (a one-run callback
    ``metrics(model, test_tokens) -> dict``) for every run on its own model, task and test tokens, as lists over
    runs."""
    run_metrics = [per_run(t) for t in task.tasks]

    def metrics(model, test_tokens: torch.Tensor) -> dict:
        per = [m(model.unstack(r), test_tokens[r]) for r, m in enumerate(run_metrics)]
        return {key: [p[key] for p in per] for key in per[0]}

    return metrics
