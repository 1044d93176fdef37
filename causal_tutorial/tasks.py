"""The in-context tasks: batched samplers of single- and multi-parent sequences.

The prior they draw from (gamma variates, Dirichlet rows, the stationary law) is in
:mod:`causal_tutorial.priors`.

Chapter 1 (``book/01_markov_chains``) introduces the single-parent sampler on the Markov chain,
chapter 2 the general causal graphs; the multi-parent task is the paper's Fig. 5/7.

Every sampler is fully batched: one call draws ``n`` sequences, each with its **own** transition
matrix ``π`` (rows i.i.d. ``Dirichlet(α·1_S)``). The only Python loop is over the depth of the
graph, never over sequences. Randomness comes from a ``torch.Generator``, so a seed fixes every
batch. ``sample_given_law`` draws sequences from a law you give instead of the prior (one fixed
chain, say): ``sample`` is exactly that method applied to a fresh draw from the prior, and the
tests use it to compare token counts with a known ``π``.

How the samplers are made fast (``benchmarks/bench_sampler.py`` measures them against the plain
batched PyTorch way and against the cost of the gamma variates alone):

* **The gamma variates are the floor.** A sequence needs ``S²`` of them (``S^(k+1)`` per table in
  the multi-parent task) and everything else is cheap beside them when done right. On the CPU
  they come from NumPy's float32 gamma sampler, about 4× faster than ``torch._standard_gamma``,
  in two independent streams seeded from the torch generator and drawn by two threads at once
  (NumPy releases the GIL). Each stream always fills the same half, so the result does not depend
  on whether the second thread runs. On other devices ``torch._standard_gamma`` runs on the device.
* **Batch last.** The laws are stored as ``(S, S, n)`` tensors: entry ``[b, a, m]`` is
  ``π_m[a, b]``. Gamma variates are i.i.d., so drawing them in this order is the same prior. Then
  every step of the small ``S × S`` algorithms (normalising rows, cumulative sums, the GTH
  elimination, looking up a row) is one contiguous vector operation over the ``n`` sequences.
* **The stationary law in float32, by GTH.** No subtraction, so float32 keeps every entry of ``μ``
  to a relative ~1e-6 even for nearly reducible chains (``tests/test_tasks.py`` checks it against
  float64 references); no float64 copy, no linear solve.
* **Positions in depth order.** Tokens are filled in a ``(T, n)`` buffer whose rows are the
  positions sorted by depth, so a depth level is a slice of that buffer and of the uniforms; the
  only gather per level is the parents' rows of the cumulative law, and a token is the number of
  cumulative sums at or below its uniform (inverse-CDF sampling).
* **Chunks.** On the CPU a large batch is drawn in chunks of about 40 000 sequences (at S = 10),
  which bounds the temporary memory (smaller chunks would fit the caches better, but each chunk
  pays the fixed cost of a few hundred small operations).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from .checks import check_alpha, check_length, check_positive_int, check_vocab, generator_or_default, resolve_device
from .graphs import depth_levels, validate_parent_lists, validate_parents
from .priors import (
    DEFAULT_SETTINGS,
    SamplerSettings,
    _stationary_batch_last,
    normalise_rows_,
    sample_gamma,
    start_gamma,
)

__all__ = [
    "SingleParentTask",
    "MultiParentTask",
    "ROOT_LAWS",
    "Batch",
    "BatchStream",
]

#: The laws of the multi-parent task's roots, independent uniform tokens or the research code's
#: shared ``ν ~ Dirichlet(α·1)`` per sequence (:class:`MultiParentTask`).
ROOT_LAWS = ("uniform", "dirichlet")


# --- helpers of the samplers ---------------------------------------------------------------------
def _as_index(rows: Sequence[int], device) -> slice | torch.Tensor:
    """Rows of a buffer: a slice (a free view) when they are consecutive, else an index tensor."""
    rows = list(rows)
    if rows == list(range(rows[0], rows[0] + len(rows))):
        return slice(rows[0], rows[0] + len(rows))
    return torch.tensor(rows, dtype=torch.long, device=device)


def _permutation(slot: dict[int, int], T: int, device) -> torch.Tensor | None:
    """The fill-order slot of each position ``0 … T-1``, or ``None`` when the order is the identity."""
    perm = [slot[i] for i in range(T)]
    return None if perm == list(range(T)) else torch.tensor(perm, dtype=torch.long, device=device)


def _cumulative(P: torch.Tensor) -> torch.Tensor:
    """Cumulative sums over the first axis, the last one set to exactly 1 (so no draw runs off the end).

    A loop of ``S - 2`` vector additions: ``torch.cumsum`` over a leading axis is several times slower.
    """
    C = torch.empty_like(P)
    C[0] = P[0]
    for b in range(1, P.shape[0] - 1):
        torch.add(C[b - 1], P[b], out=C[b])
    C[-1] = 1.0
    return C


def _inverse_cdf(C: torch.Tensor, u: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Draw ``#{b : C[b] ≤ u}`` for each column: ``C (S, m)`` cumulative laws, ``u (m,)`` uniforms on [0, 1).

    Token ``b`` comes out exactly when ``C[b-1] ≤ u < C[b]``, with probability ``P[b]``.
    """
    return torch.sum(C <= u, 0, out=out)


#: Positions filled together: ``(k, slots, parents)``, ``k`` parents each, ``slots`` their rows of the fill-order
#: buffer, ``parents`` ``k`` index objects (slices or index tensors): the slots of each one's ``j``-th parent.
Group = tuple[int, slice, list]


def _column(tokens: torch.Tensor, parents: Sequence, S: int, m: torch.Tensor | None = None) -> torch.Tensor:
    """The parents' tokens read as one number ``r`` in base ``S`` (first parent most significant), as the column
    ``r·n + m`` of sequence ``m``'s row ``r`` in a batch-last table ``(S, rows·n)`` (``m``: ``arange(n)``, if given)."""
    n = tokens.shape[-1]
    r = tokens[parents[0]]
    for p in parents[1:]:
        r = torch.add(tokens[p], r, alpha=S)
    return torch.add(torch.arange(n, device=tokens.device) if m is None else m, r, alpha=n)


def _fill(
    tokens: torch.Tensor,
    groups: Sequence[Group],
    C: Mapping[int, torch.Tensor],
    u: torch.Tensor,
    S: int,
    u_offset: int = 0,
) -> None:
    """The token loop of every sampler: fill ``tokens (T, n)`` (fill order; the roots already in place) group by
    group, each child drawn by inverse CDF of its uniform (row ``slot - u_offset`` of ``u``) from the row of
    ``C[k]`` (cumulative, batch last, ``(S, S^k·n)``) that its parents' tokens select."""
    m = torch.arange(tokens.shape[-1], device=tokens.device)  # once, not once per group
    for k, slots, parents in groups:
        rows = C[k].index_select(1, _column(tokens, parents, S, m).view(-1))
        uniforms = u[slots.start - u_offset : slots.stop - u_offset]
        _inverse_cdf(rows, uniforms.reshape(-1), out=tokens[slots].view(-1))


def _position_order(tokens: torch.Tensor, unorder: torch.Tensor | None) -> torch.Tensor:
    """The ``(T, n)`` buffer in fill order → ``(n, T)`` in position order."""
    if unorder is not None:
        tokens = tokens.index_select(0, unorder)
    return tokens.T.contiguous()


def _law_from_batch_last(P: torch.Tensor) -> torch.Tensor:
    """``P (S, rows, n)`` (batch last) → the natural layout ``(n, rows, S)``, contiguous.

    Two plain transposes: ``permute(2, 1, 0).contiguous()`` is about 3× slower on the CPU.
    """
    S, rows, n = P.shape
    return P.transpose(0, 1).reshape(rows * S, n).T.contiguous().view(n, rows, S)


def _law_to_batch_last(law: torch.Tensor, rows: int, S: int, n: int, name: str, device) -> torch.Tensor:
    """A given law ``(rows, S)`` (shared) or ``(n, rows, S)``, checked → a float32 copy ``(S, rows, n)``."""
    if not isinstance(law, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(law).__name__}")
    if law.dim() == 2:
        law = law.unsqueeze(0).expand(n, *law.shape)
    if tuple(law.shape) != (n, rows, S):
        raise ValueError(
            f"{name} must have shape ({rows}, {S}) or (n, {rows}, {S}) = ({n}, {rows}, {S}), got {tuple(law.shape)}"
        )
    law = law.to(device=device, dtype=torch.float32)
    if not bool(torch.isfinite(law).all()) or bool((law < 0).any()):
        raise ValueError(f"{name} must have finite non-negative entries")
    total = law.sum(-1)
    if not bool(torch.allclose(total, torch.ones_like(total), atol=1e-4)):
        raise ValueError(f"every row of {name} must sum to 1 (a probability vector)")
    return torch.empty(S, rows, n, device=device).copy_(law.permute(2, 1, 0))  # a copy: the samplers overwrite it


@dataclass
class Batch:
    """A batch of sequences: ``tokens (n, T)``, soft ``labels (n, S)``; ``pi``/``mu`` when asked for (a stacked
    task's: ``tokens (G, n, T)``, ``labels (G, n, S)``)."""

    tokens: torch.Tensor
    labels: torch.Tensor
    pi: torch.Tensor | None = None
    mu: torch.Tensor | None = None

    def __iter__(self):  # so that ``tokens, labels = task.sample(n)`` works
        return iter((self.tokens, self.labels))


def _chunks(n: int, entries_per_sequence: int, device: torch.device, settings: SamplerSettings) -> list[int]:
    """Sizes of the chunks in which ``n`` sequences are drawn (``settings.chunk_entries``; CPU only)."""
    if device.type != "cpu":
        return [n]
    size = max(1, settings.chunk_entries // entries_per_sequence)
    return [min(size, n - lo) for lo in range(0, n, size)]


def _concat(parts: list[Batch]) -> Batch:
    if len(parts) == 1:
        return parts[0]

    def cat(field: str) -> torch.Tensor | None:
        xs = [getattr(p, field) for p in parts]
        return None if xs[0] is None else torch.cat(xs)

    return Batch(torch.cat([p.tokens for p in parts]), torch.cat([p.labels for p in parts]), cat("pi"), cat("mu"))


class SingleParentTask:
    """Task 2.4 of the paper: in-context learning of a latent single-parent causal graph.

    ``S`` tokens, sequences of length ``T`` (positions ``0 … T-1``; ``T-1`` is the query),
    a parent array of length ``T-1`` and the Dirichlet concentration ``α``. Each sequence draws
    its own ``π``; roots come from ``μ_π``, children from their parent's row, the query is uniform
    and the label is ``π[s_{T-1}]``. Chapters 1 and 2.
    """

    def __init__(
        self,
        S: int,
        T: int,
        parents: Sequence[int],
        alpha: float = 0.1,
        device="cpu",
        settings: SamplerSettings = DEFAULT_SETTINGS,
    ):
        self.S = check_vocab(S)
        self.T = check_length(T)
        self.parents = validate_parents(parents, T)
        self.alpha = check_alpha(alpha)
        self.device = resolve_device(device)
        if not isinstance(settings, SamplerSettings):
            raise TypeError(f"settings must be a SamplerSettings, got {type(settings).__name__}")
        self.settings = settings
        self.roots = [i for i, p in enumerate(self.parents) if p < 0]
        self.parents_t = torch.tensor(self.parents, device=self.device)
        # Fill order: positions 0 … T-2 sorted by depth (roots first), then the query. A level is a
        # slice [lo, hi) of this order; its parents are earlier slots of the same buffer.
        levels = depth_levels([() if p < 0 else (p,) for p in self.parents])
        order = [i for lv in levels for i in lv] + [T - 1]
        slot = {pos: j for j, pos in enumerate(order)}
        self._n_roots = len(levels[0])
        self._groups: list[Group] = []  # one per depth level: (1, its slots, [the slots of their parents])
        lo = len(levels[0])
        for lv in levels[1:]:
            par = [slot[self.parents[i]] for i in lv]
            self._groups.append((1, slice(lo, lo + len(lv)), [_as_index(par, self.device)]))
            lo += len(lv)
        self._unorder = _permutation(slot, T, self.device)

    @property
    def kind(self) -> str:
        return "single"

    def describe(self) -> dict:
        return {"S": self.S, "T": self.T, "alpha": self.alpha, "parents": list(self.parents)}

    def sample(self, n: int, generator: torch.Generator | None = None, return_law: bool = False) -> Batch:
        """Draw ``n`` sequences, each with its own law. Returns a :class:`Batch` (``tokens (n, T)`` int64,
        ``labels (n, S)`` float32; with ``return_law`` also ``pi (n, S, S)`` and ``mu (n, S)``)."""
        n = check_positive_int("n", n, "the number of sequences")
        g = generator_or_default(generator, self.device)
        S, dev, parts = self.S, self.device, []
        for c in _chunks(n, S * S, dev, self.settings):
            gammas = start_gamma(
                self.alpha, (S, S, c), g, dev, settings=self.settings
            )  # batch last: P[b, a, m] = π_m[a, b]
            u, query = self._uniforms(c, g)  # drawn while the gamma worker runs
            P = normalise_rows_(gammas())
            parts.append(self._sample_given(P, u, query, return_law))
        return _concat(parts)

    def sample_given_law(
        self, pi: torch.Tensor, n: int, generator: torch.Generator | None = None, return_law: bool = False
    ) -> Batch:
        """Draw ``n`` sequences from a **given** transition matrix instead of the prior.

        ``pi`` is one stochastic matrix ``(S, S)`` shared by all sequences, or one per sequence
        ``(n, S, S)``; rows must sum to 1. Roots come from its stationary law, children from their
        parent's row, the query is uniform, the label is ``pi[query]``, exactly as in :meth:`sample`
        (which is this method applied to a fresh draw from the prior). Useful to look at one chain
        (chapter 1) and to test the sampler against a known law.
        """
        n = check_positive_int("n", n, "the number of sequences")
        g = generator_or_default(generator, self.device)
        P = _law_to_batch_last(pi, self.S, self.S, n, "pi", self.device)
        return self._sample_given(P, *self._uniforms(n, g), return_law)

    def _uniforms(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One uniform per slot of the fill order but the last, ``(T-1, n)``, and the queries ``(n,)``."""
        u = torch.rand(self.T - 1, n, generator=g, device=self.device)
        return u, torch.randint(0, self.S, (n,), generator=g, device=self.device)

    def _sample_given(self, P: torch.Tensor, u: torch.Tensor, query: torch.Tensor, return_law: bool) -> Batch:
        """Tokens and labels given the laws ``P (S, S, n)`` (batch last, ``P[b, a, m] = π_m[a, b]``; overwritten)."""
        labels, C, mu, law = self._laws(P, query, return_law)
        tokens = self._tokens(C, mu, u, query)
        if return_law:
            return Batch(tokens, labels, law, mu.T.contiguous())
        return Batch(tokens, labels)

    def _laws(self, P: torch.Tensor, query: torch.Tensor, return_law: bool = False) -> tuple:
        """What the tokens are drawn from, given ``P`` (overwritten): the labels ``(n, S)``, the
        cumulative rows ``C (S, S·n)``, the stationary laws ``μ (S, n)`` and (``return_law``) the
        laws ``(n, S, S)``. It does not depend on the graph (``causal_tutorial.stacked`` shares it)."""
        S = self.S
        n = P.shape[-1]
        m = torch.arange(n, device=self.device)
        flat = P.view(S, S * n)  # column a·n + m holds the row π_m[a]
        labels = flat.index_select(1, torch.add(m, query, alpha=n)).T.contiguous()  # π_m[query_m]
        C = _cumulative(P).view(S, S * n)
        law = _law_from_batch_last(P) if return_law else None
        mu = _stationary_batch_last(P.transpose(0, 1), self.settings)  # (S, n); overwrites P, read above
        return labels, C, mu, law

    def _tokens(self, C: torch.Tensor, mu: torch.Tensor, u: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """The tokens ``(n, T)`` from :meth:`_laws`' ``C`` and ``μ``, the uniforms and the queries."""
        T, n, R = self.T, mu.shape[-1], self._n_roots
        tokens = torch.empty(T, n, dtype=torch.long, device=self.device)  # rows in fill order
        tokens[:R] = _inverse_cdf(_cumulative(mu).unsqueeze(1), u[:R])  # roots ~ μ
        _fill(tokens, self._groups, {1: C}, u, self.S)  # children ~ their parent's row, a depth level at a time
        tokens[T - 1] = query
        return _position_order(tokens, self._unorder)


class MultiParentTask:
    """The multi-parent task (the paper's Fig. 5/7): a DAG given as parent lists for positions ``0 … T``.

    Positions with ``k ≥ 1`` parents use one table ``π_k`` of shape ``(S^k, S)`` per sequence,
    rows i.i.d. ``Dirichlet(α)``. The row of a position is its parents' tokens read as a number in
    base ``S``, the first parent most significant. The model sees ``s_0 … s_{T-1}``; the label is the
    law of ``s_T`` given its parents.

    The roots follow ``root_law``: ``"uniform"`` (independent uniform tokens, the default) or
    ``"dirichlet"``, the research code's law behind the paper's Fig. 5/7: each sequence draws one
    ``ν ~ Dirichlet(α·1_S)``, independent of the tables, and all its roots are i.i.d. from ``ν``
    (so they are exchangeable and tend to agree). Either way the roots say nothing about the
    tables, so the k-parent estimator stays the Bayes-optimal predictor.
    """

    def __init__(
        self,
        S: int,
        T: int,
        parent_lists: Sequence[Sequence[int]],
        alpha: float = 0.1,
        device="cpu",
        settings: SamplerSettings = DEFAULT_SETTINGS,
        root_law: str = "uniform",
    ):
        self.S = check_vocab(S)
        self.T = check_length(T)
        if root_law not in ROOT_LAWS:
            raise ValueError(f"root_law must be one of {ROOT_LAWS}, got root_law={root_law!r}")
        self.root_law = root_law
        self.parent_lists = validate_parent_lists(parent_lists, T)
        self.alpha = check_alpha(alpha)
        self.device = resolve_device(device)
        if not isinstance(settings, SamplerSettings):
            raise TypeError(f"settings must be a SamplerSettings, got {type(settings).__name__}")
        self.settings = settings
        self.ks = sorted({len(ps) for ps in self.parent_lists if ps})
        if S ** max(self.ks) > 10**6:
            raise ValueError(f"S**k = {S ** max(self.ks)} rows per table is too large (S={S}, k={max(self.ks)})")
        # Fill order of positions 0 … T-1: by depth, then by number of parents (a group shares a table).
        levels = depth_levels(self.parent_lists[:T])
        groups = [[i for i in lv if len(self.parent_lists[i]) == k] for lv in levels[1:] for k in self.ks]
        order = levels[0] + [i for grp in groups for i in grp]
        slot = {pos: j for j, pos in enumerate(order)}
        self._n_roots = len(levels[0])
        self._groups: list[Group] = []  # (k, slots of the group, slots of each parent j: k entries)
        lo = self._n_roots
        for grp in groups:
            if grp:
                k = len(self.parent_lists[grp[0]])
                par = [_as_index([slot[self.parent_lists[i][j]] for i in grp], self.device) for j in range(k)]
                self._groups.append((k, slice(lo, lo + len(grp)), par))
                lo += len(grp)
        self._target = (len(self.parent_lists[T]), [slot[p] for p in self.parent_lists[T]])
        self._unorder = _permutation(slot, T, self.device)

    @property
    def kind(self) -> str:
        return "multi"

    def describe(self) -> dict:
        return {
            "S": self.S,
            "T": self.T,
            "alpha": self.alpha,
            "parent_lists": [list(p) for p in self.parent_lists],
            "root_law": self.root_law,
        }

    def sample(self, n: int, generator: torch.Generator | None = None, return_law: bool = False) -> Batch:
        """Draw ``n`` sequences: ``tokens (n, T)`` and the target's law ``labels (n, S)``; with
        ``return_law`` also ``pi (n, S^k, S)``, the table of the target's ``k``."""
        n = check_positive_int("n", n, "the number of sequences")
        g = generator_or_default(generator, self.device)
        S, dev, parts = self.S, self.device, []
        for c in _chunks(
            n, sum(S ** (k + 1) for k in self.ks) + S * (self.root_law == "dirichlet"), dev, self.settings
        ):
            gammas = {
                k: start_gamma(self.alpha, (S, S**k, c), g, dev, settings=self.settings) for k in self.ks
            }  # batch last
            nu = (
                start_gamma(self.alpha, (S, c), g, dev, settings=self.settings)
                if self.root_law == "dirichlet"
                else None
            )
            u, roots = self._uniforms(c, g)  # drawn while the gamma worker runs
            tables = {k: normalise_rows_(draw()) for k, draw in gammas.items()}
            if nu is not None:
                roots = self._roots_from(normalise_rows_(nu()), roots)
            parts.append(self._sample_given(tables, u, roots, return_law))
        return _concat(parts)

    def sample_given_law(
        self,
        tables: Mapping[int, torch.Tensor],
        n: int,
        generator: torch.Generator | None = None,
        return_law: bool = False,
    ) -> Batch:
        """Draw ``n`` sequences from **given** tables instead of the prior: ``tables[k]`` is ``(S^k, S)``
        (shared) or ``(n, S^k, S)`` for every ``k`` in ``self.ks``; rows must sum to 1."""
        n = check_positive_int("n", n, "the number of sequences")
        g = generator_or_default(generator, self.device)
        if not isinstance(tables, Mapping) or sorted(tables) != self.ks:
            raise ValueError(f"tables must map each number of parents {self.ks} to a table")
        P = {k: _law_to_batch_last(t, self.S**k, self.S, n, f"tables[{k}]", self.device) for k, t in tables.items()}
        nu = (
            sample_gamma(self.alpha, (self.S, n), g, self.device, settings=self.settings)
            if self.root_law == "dirichlet"
            else None
        )
        u, roots = self._uniforms(n, g)
        if nu is not None:
            roots = self._roots_from(normalise_rows_(nu), roots)
        return self._sample_given(P, u, roots, return_law)

    def _uniforms(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One uniform per child slot of the fill order, ``(T-R, n)``, and the ``R`` roots ``(R, n)``:
        uniform tokens, or (``root_law="dirichlet"``) uniforms on [0, 1) for :meth:`_roots_from`."""
        R = self._n_roots
        u = torch.rand(self.T - R, n, generator=g, device=self.device)
        if self.root_law == "dirichlet":
            return u, torch.rand(R, n, generator=g, device=self.device)
        return u, torch.randint(0, self.S, (R, n), generator=g, device=self.device)

    @staticmethod
    def _roots_from(nu: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Roots ``(R, n)`` i.i.d. from each sequence's ``ν`` (``(S, n)``, batch last), by inverse CDF of ``u``."""
        C = _cumulative(nu)
        return torch.stack([_inverse_cdf(C, u_r) for u_r in u]) if len(u) else u.long()

    def _sample_given(
        self, tables: dict[int, torch.Tensor], u: torch.Tensor, roots: torch.Tensor, return_law: bool
    ) -> Batch:
        """Tokens and labels given the tables ``{k: (S, S^k, n)}`` (batch last), the uniforms and the roots."""
        S, T, dev = self.S, self.T, self.device
        R, n = self._n_roots, roots.shape[-1]
        C = {k: _cumulative(P).view(S, -1) for k, P in tables.items()}  # column r·n + m: row r of π_m
        tokens = torch.empty(T, n, dtype=torch.long, device=dev)  # rows in fill order
        tokens[:R] = roots
        _fill(tokens, self._groups, C, u, S, u_offset=R)  # u holds the children's uniforms only
        k, target_parents = self._target
        labels = tables[k].view(S, -1).index_select(1, _column(tokens, target_parents, S)).T.contiguous()
        tokens = _position_order(tokens, self._unorder)
        if return_law:
            return Batch(tokens, labels, _law_from_batch_last(tables[k]), None)
        return Batch(tokens, labels)


class BatchStream:
    """The training batches of a task, in order, each with the generator state after it was drawn.

    Chapter 4's training loop draws from it. With ``background=True`` a thread draws the batches up
    to ``ahead`` steps in advance, so that sampling batch ``k+1`` overlaps training step ``k``
    (NumPy's gamma sampler and torch kernels release the GIL), each on its own core. Whether that beats
    giving both intra-op threads to one after the other depends on the machine: ``train()`` on Fig. 2's chain
    ran 1.10x faster with it on the machine of the README's table (2026-11-24), 1.03x on an AMD EPYC 2-core
    one and 0.88x (slower) on an Intel Xeon 2-core one (2026-12-07: ``make bench``, ``bench_revision.py``). The
    default stays on: turning it off changes the step's thread count, and so a run's float rounding. The
    thread is the generator's only user and draws in order, so the batches are exactly those of calling
    ``task.sample(batch_size, generator)`` in the loop. A checkpoint saves the state that comes with the last batch
    used, so a resumed run continues the same stream (batches drawn ahead but not used are drawn again). ``count``
    bounds the number of batches drawn. With ``start=False`` the thread starts at :meth:`start` (after the caller
    has set up its threads).
    """

    def __init__(
        self,
        task,
        batch_size: int,
        generator: torch.Generator,
        count: int,
        background: bool,
        ahead: int = 2,
        start: bool = True,
    ):
        self._draw = lambda: (*task.sample(batch_size, generator), generator.get_state())
        self._count = count
        self._thread: threading.Thread | None = None
        self._background = background and count > 0
        if self._background:
            self._queue: queue.Queue = queue.Queue(maxsize=ahead)
            self._stop = threading.Event()
            if start:
                self.start()

    def start(self) -> None:
        """Start the background thread (once; nothing to do without one)."""
        if self._background and self._thread is None:
            self._thread = threading.Thread(target=self._run, args=(self._count,), name="batch-stream", daemon=True)
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
        if not self._background:
            return self._draw()
        self.start()
        item = self._queue.get()
        if len(item) == 1:
            raise item[0]
        return item

    def close(self) -> None:
        """Stop the background thread and wait for it."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
