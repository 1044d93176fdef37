"""Many independent runs trained as one (the paper's Fig. 9: twenty random forests, chapter 6).

Fig. 9 trains one two-layer disentangled transformer on each of twenty graphs. Run one after another
on a CPU, each step of each run is a handful of small tensor operations, and the fixed cost of
launching them, not the arithmetic, sets the pace. Here the twenty runs become one:

* :class:`StackedTask` draws one batch for every graph at once. Each graph's batch is exactly the
  batch its own run would draw (the separate runs all start from the same seed, so they consume
  the same random numbers: the laws ``π``, the uniforms and the queries are drawn once and pushed
  through each graph's parents). Tokens ``(G, n, T)``, labels ``(G, n, S)``.
* :class:`StackedDisentangledTransformer` holds the ``G`` models' parameters with a leading graph
  axis (``A1 (G, d0, d0)``, ``A2 (G, d1, d1)``, ``W (G, d2, S)``). Its :meth:`~StackedDisentangledTransformer.loss`
  returns one loss per graph, ``(G,)``; the training loop (:func:`causal_tutorial.training.train`)
  backpropagates their sum, and since graph ``g``'s loss depends only on graph ``g``'s parameters,
  every graph receives exactly the gradient of its own run. SGD and AdamW act entry by entry, so
  one optimiser step is ``G`` separate steps.

The same holds for **seeds**: :class:`SeedsTask` stacks ``R`` runs of one graph whose batches come each from its
own generator (:class:`GeneratorSet`, seeded like ``R`` separate runs), so run ``k`` draws exactly the batches
of a separate run with seed ``seeds[k]`` (``python -m causal_tutorial run NAME --seeds R``).

``tests/test_stacked.py`` checks that the stacked run equals the separate runs (batches exactly,
parameters and histories to float rounding) and ``benchmarks/bench_stacked.py`` measures the speed-up.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import _fastpath
from .checks import check_positive_int, generator_or_default, make_generator, token_values_out_of_range
from .estimators import soft_cross_entropy_from_logits
from .models import DisentangledTransformer
from .priors import normalise_rows_, start_gamma
from .tasks import SingleParentTask, _chunks, _cumulative

__all__ = [
    "StackedTask",
    "StackedBatch",
    "GeneratorSet",
    "SeedsTask",
    "StackedDisentangledTransformer",
    "stacked_metrics",
]

#: Sequences per graph evaluated at once without gradients (``G·EVAL_CHUNK`` attention maps in memory).
EVAL_CHUNK = 8192


class StackedBatch:
    """``tokens (G, n, T)`` and ``labels (G, n, S)``; unpacks as ``tokens, labels``."""

    def __init__(self, tokens: torch.Tensor, labels: torch.Tensor):
        self.tokens, self.labels = tokens, labels

    def __iter__(self):
        return iter((self.tokens, self.labels))


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
        for k, t in enumerate(tasks[1:], start=1):
            same = (t.S, t.T, t.alpha, t.device, t.settings) == (
                first.S,
                first.T,
                first.alpha,
                first.device,
                first.settings,
            )
            if not same:
                raise ValueError(f"tasks[{k}] differs from tasks[0] in S, T, alpha, device or sampler settings")
        self.tasks = tasks
        self.G, self.S, self.T, self.alpha = len(tasks), first.S, first.T, first.alpha
        self.device, self.settings = first.device, first.settings
        # Position by position, for every graph at once: the row of the uniforms its own sampler
        # gives position i (its slot in that graph's fill order) and its parent (-1 for a root).
        T, dev = self.T, self.device
        slots = [list(range(T)) if t._unorder is None else t._unorder.tolist() for t in tasks]
        self._slot = torch.tensor([[sl[i] for sl in slots] for i in range(T - 1)], device=dev)  # (T-1, G)
        par = torch.tensor([[t.parents[i] for t in tasks] for i in range(T - 1)], device=dev)
        self._root = (par < 0).view(T - 1, self.G, 1)
        self._parent = par.clamp(min=0)  # (T-1, G); a root's entry is unused

    @property
    def kind(self) -> str:
        return "stacked"

    def describe(self) -> dict:
        return {"stacked": [t.describe() for t in self.tasks]}

    def sample(self, n: int, generator: torch.Generator | None = None) -> StackedBatch:
        """Draw ``n`` sequences for every graph (the draws of
        :meth:`~causal_tutorial.tasks.SingleParentTask.sample`, shared)."""
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
        return StackedBatch(tok, lab)

    def _tokens(self, C: torch.Tensor, mu: torch.Tensor, u: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Every graph's tokens ``(G, n, T)``: the draws of ``tasks[g]._tokens`` (same inverse-CDF
        comparisons on the same uniforms), made position by position for all graphs together."""
        G, T, n = self.G, self.T, mu.shape[-1]
        m = torch.arange(n, device=self.device)
        tok = torch.zeros(T, G, n, dtype=torch.long, device=self.device)  # a root reads a zero "parent"
        Cmu = _cumulative(mu).unsqueeze(1)  # (S, 1, n)
        g_idx = torch.arange(G, device=self.device)
        for i in range(T - 1):
            ug = u.index_select(0, self._slot[i])  # (G, n)
            root = (Cmu <= ug).sum(0)
            par_tok = tok[self._parent[i], g_idx]  # (G, n)
            rows = C.index_select(1, torch.add(m, par_tok, alpha=n).view(-1)).view(-1, G, n)
            child = (rows <= ug).sum(0)
            tok[i] = torch.where(self._root[i], root, child)
        tok[T - 1] = query
        return tok.permute(1, 2, 0).contiguous()


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
    """``R`` runs of one task, one per seed: ``sample(n, generators)`` draws ``(R, n, T)`` tokens and ``(R, n, S)``
    labels, run ``k``'s exactly ``task.sample(n, generator seeded with seeds[k])`` in turn.

    :meth:`make_generator` gives the :class:`GeneratorSet` the training loop draws with. With one plain
    generator (the test set: every separate run draws the same one, from ``test_seed``) the one batch is shared
    by all the runs."""

    def __init__(self, task: SingleParentTask, seeds: Sequence[int]):
        if not isinstance(task, SingleParentTask):
            raise TypeError(f"task must be a SingleParentTask, got {type(task).__name__}")
        seeds = list(seeds)
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
            raise ValueError(f"seeds must be a non-empty list of ints, got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must differ from each other, got {seeds!r}")
        self.task, self.seeds = task, seeds
        self.tasks = [task] * len(seeds)  # what stacked_metrics reads: run k's task
        self.G, self.S, self.T, self.alpha, self.device = len(seeds), task.S, task.T, task.alpha, task.device

    @property
    def kind(self) -> str:
        return "seeds"

    def describe(self) -> dict:
        return {**self.task.describe(), "seeds": list(self.seeds)}

    def make_generator(self, seed: int, device) -> GeneratorSet:
        """The runs' generators (``seed`` is the first run's, recorded in the configuration)."""
        if seed != self.seeds[0]:
            raise ValueError(f"the configuration's seed ({seed}) must be the first run's, {self.seeds[0]}")
        return GeneratorSet(self.seeds, device)

    def sample(self, n: int, generator: GeneratorSet | torch.Generator | None = None) -> StackedBatch:
        if isinstance(generator, GeneratorSet):
            parts = [self.task.sample(n, g) for g in generator.generators]
            return StackedBatch(torch.stack([b.tokens for b in parts]), torch.stack([b.labels for b in parts]))
        b = self.task.sample(n, generator)
        return StackedBatch(b.tokens.expand(self.G, -1, -1), b.labels.expand(self.G, -1, -1))


class StackedDisentangledTransformer(nn.Module):
    """``G`` two-layer, one-head-per-layer disentangled transformers (zero init) with a leading graph axis.

    ``model(tokens)`` maps ``tokens (G, n, T)`` to logits ``(G, n, S)``; ``model.loss(tokens, labels)``
    returns the per-graph mean soft cross-entropy ``(G,)``; ``model.unstack(g)`` (or
    :meth:`~StackedDisentangledTransformer.models`) gives graph ``g``'s
    :class:`~causal_tutorial.models.DisentangledTransformer` with a copy of its parameters; :meth:`stack`
    builds one from such models.
    """

    def __init__(self, G: int, S: int, T: int):
        super().__init__()
        self.G = check_positive_int("G", G, "the number of stacked models")
        ref = DisentangledTransformer(S, T, (1, 1))  # checks S and T, gives the widths
        self.S, self.T, self.widths = ref.S, ref.T, ref.widths
        d0, d1, d2 = self.widths
        self.A1 = nn.Parameter(torch.zeros(self.G, d0, d0))
        self.A2 = nn.Parameter(torch.zeros(self.G, d1, d1))
        self.W = nn.Parameter(torch.zeros(self.G, d2, S))

    @classmethod
    def stack(cls, models: Sequence[DisentangledTransformer]) -> StackedDisentangledTransformer:
        """One stacked model holding copies of ``models``' parameters (all of shape ``(1, 1)`` heads)."""
        models = list(models)
        if not models or any(not isinstance(m, DisentangledTransformer) or m.heads != (1, 1) for m in models):
            raise ValueError("models must be a non-empty list of DisentangledTransformer with heads (1, 1)")
        out = cls(len(models), models[0].S, models[0].T)
        with torch.no_grad():
            out.A1.copy_(torch.stack([m.A[0] for m in models]))
            out.A2.copy_(torch.stack([m.A[1] for m in models]))
            out.W.copy_(torch.stack([m.W for m in models]))
        return out

    def unstack(self, g: int) -> DisentangledTransformer:
        """Graph ``g``'s model (a copy of its parameters, on this model's device)."""
        if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g < self.G:
            raise ValueError(f"g must be an int in 0 … {self.G - 1}, got g={g!r}")
        m = DisentangledTransformer(self.S, self.T, (1, 1)).to(self.W.device)
        with torch.no_grad():
            m.A[0].copy_(self.A1[g])
            m.A[1].copy_(self.A2[g])
            m.W.copy_(self.W[g])
        return m

    def models(self) -> list[DisentangledTransformer]:
        """Every graph's model, each with a copy of its parameters (:meth:`unstack` for all ``g``)."""
        return [self.unstack(g) for g in range(self.G)]

    def config(self) -> dict:
        return {"model": "stacked_disentangled", "G": self.G, "S": self.S, "T": self.T, "heads": [1, 1]}

    def _check(self, tokens: torch.Tensor) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 3 or tokens.shape[0] != self.G:
            shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(f"tokens must have shape (G={self.G}, n, T={self.T}), got {shape}")
        if tokens.shape[2] != self.T:
            raise ValueError(f"tokens must have shape (G={self.G}, n, T={self.T}), got {tuple(tokens.shape)}")
        if tokens.dtype != torch.long or token_values_out_of_range(tokens, self.S):
            raise ValueError(f"tokens must be int64 in 0 … {self.S - 1}")
        return tokens

    def _fast_parameters(self) -> tuple[tuple[int, ...], nn.Parameter, tuple[nn.Parameter, ...]]:
        """What the fast path (``causal_tutorial._fastpath``) reads: heads, ``W (G, d2, S)``, ``(A1, A2)``."""
        return (1, 1), self.W, (self.A1, self.A2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(G, n, S)`` at the last position, each graph's model on its own tokens, by the
        fast path of :class:`~causal_tutorial.models.DisentangledTransformer` with a graph axis."""
        return _fastpath.fast_logits(self, self._check(tokens))

    def forward_plain(self, tokens: torch.Tensor) -> torch.Tensor:
        """The same logits ``(G, n, S)`` computed directly, with autograd (what the tests compare with).

        The readable formulation of chapter 3 with the one-hot inputs used directly: layer 1's
        scores ``x_iᵀ A1 x_j`` from the token rows and position rows of ``A1``, layer 2 only at
        the query (the one position the loss reads).
        """
        tokens = self._check(tokens)
        S, T = self.S, self.T
        E = F.one_hot(tokens, S).to(self.W.dtype)  # (G, n, T, S)
        # layer 1: L_i = x_iᵀ A1 = E_i A1[:S] + A1[S + i];  scores_ij = L_i x_j = L_i[:S]·E_j + L_i[S + j]
        L = E @ self.A1[:, :S].unsqueeze(1) + self.A1[:, S:].unsqueeze(1)  # (G, n, T, d0)
        scores = L[..., :S] @ E.transpose(-1, -2) + L[..., S:]
        mask = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril()
        P1 = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)  # (G, n, T, T)
        eye = torch.eye(T, dtype=E.dtype, device=E.device).expand_as(P1)
        h1 = torch.cat([E, eye, P1 @ E, P1], dim=-1)  # (G, n, T, d1)
        # layer 2 at the query T-1 (it sees every position)
        hq = h1[:, :, -1]  # (G, n, d1)
        k = torch.matmul(hq, self.A2)  # (G, n, d1)
        att2 = torch.softmax((h1 @ k.unsqueeze(-1)).squeeze(-1), dim=-1)  # (G, n, T)
        out2 = (att2.unsqueeze(-2) @ h1).squeeze(-2)  # (G, n, d1)
        return torch.matmul(torch.cat([hq, out2], dim=-1), self.W)  # (G, n, S)

    def loss(self, tokens: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Each graph's soft cross-entropy: ``(G,)`` means (``reduction="mean"``) or ``(G, n)``."""
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        tokens = self._check(tokens)
        if not isinstance(labels, torch.Tensor) or labels.shape != (*tokens.shape[:2], self.S):
            raise ValueError(f"labels must have shape (G, n, S={self.S}) matching tokens {tuple(tokens.shape)}")
        if reduction == "mean" and torch.is_grad_enabled():
            return _fastpath.fast_loss(self, tokens, labels)
        if reduction == "mean":  # evaluation: in chunks, so that G large test sets fit in memory
            n = tokens.shape[1]
            parts = [
                _fastpath.fast_loss(self, tokens[:, lo : lo + EVAL_CHUNK], labels[:, lo : lo + EVAL_CHUNK])
                * min(EVAL_CHUNK, n - lo)
                for lo in range(0, n, EVAL_CHUNK)
            ]
            return torch.stack(parts).sum(0) / n
        return soft_cross_entropy_from_logits(self(tokens), labels, reduction="none")  # (G, n)


def stacked_metrics(task: StackedTask | SeedsTask, n_sequences: int = 1024):
    """The evaluation callback for a stacked run: each graph's
    :func:`~causal_tutorial.analysis.attention_on_parents`, as lists over graphs."""
    from .analysis import attention_on_parents

    def metrics(model: StackedDisentangledTransformer, test_tokens: torch.Tensor) -> dict:
        per = [
            attention_on_parents(model.unstack(g), t, test_tokens[g, :n_sequences]) for g, t in enumerate(task.tasks)
        ]
        return {key: [p[key] for p in per] for key in per[0]}

    return metrics
