"""The in-context tasks: Dirichlet priors, the stationary law, and batched samplers.

Chapter 1 (``book/01_markov_chains``) introduces the single-parent sampler on the Markov chain,
chapter 2 the general causal graphs, chapter 7 the multi-parent task.

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

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from .graphs import depth_levels, validate_parent_lists, validate_parents

__all__ = [
    "check_alpha",
    "check_vocab",
    "sample_gamma",
    "sample_dirichlet",
    "stationary_distribution",
    "SingleParentTask",
    "MultiParentTask",
    "Batch",
]


def check_alpha(alpha) -> float:
    """``α`` must be a positive finite number (the Dirichlet concentration)."""
    if isinstance(alpha, bool):
        raise TypeError(f"alpha must be a positive finite number, got {alpha!r}")
    try:
        a = float(alpha)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"alpha must be a positive finite number, got {alpha!r}") from exc
    if not math.isfinite(a) or a <= 0:
        raise ValueError(f"alpha must be a positive finite number, got alpha={alpha!r}")
    return a


def check_vocab(S) -> int:
    """``S`` must be an int ≥ 2 (a vocabulary of one token has nothing to learn)."""
    if isinstance(S, bool) or not isinstance(S, int):
        raise TypeError(f"S must be an int >= 2, got {S!r}")
    if S < 2:
        raise ValueError(f"S must be at least 2 (the vocabulary size), got S={S}")
    return S


def _check_T(T) -> int:
    if isinstance(T, bool) or not isinstance(T, int):
        raise TypeError(f"T must be an int >= 3 (a sequence needs a child and a query), got T={T!r}")
    if T < 3:
        raise ValueError(f"T must be an int >= 3 (a sequence needs a child and a query), got T={T!r}")
    return T


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n (the number of sequences) must be a positive int, got {n!r}")
    if n < 1:
        raise ValueError(f"n (the number of sequences) must be a positive int, got {n!r}")
    return n


def _check_device(device) -> torch.device:
    """A device that exists on this machine (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, …)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must name a torch device such as 'cpu' or 'cuda', got {device!r}") from exc
    if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"device {device!r} is not available on this machine (torch.cuda.is_available() is "
                         f"{torch.cuda.is_available()}, {torch.cuda.device_count()} CUDA devices)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} is not available on this machine")
    return dev


# --- gamma variates ---------------------------------------------------------------------------
#: CPU gamma variates come from this many independent NumPy streams, each filling its own part.
_STREAMS = 2
#: Below this many variates the second stream is drawn in the calling thread (a hand-off costs more).
_THREAD_MIN = 1 << 14
#: Where CPU gamma variates come from: ``"numpy"`` (fast) or ``"torch"`` (what other devices run; the
#: tests use it to check that path on a machine without a GPU).
_CPU_GAMMA = "numpy"
_pool: ThreadPoolExecutor | None = None


def _gamma_pool() -> ThreadPoolExecutor | None:
    """One worker thread for the second gamma stream, or ``None`` on a single-core machine."""
    global _pool
    if _pool is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if cores < 2:
            return None
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="causal_tutorial-gamma")
    return _pool


def _forget_pool_after_fork() -> None:  # a forked child has no worker thread: it makes its own
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _numpy_gamma(alpha: float, shape: tuple[int, ...], seed: int) -> Callable[[], torch.Tensor]:
    """Start drawing ``Gamma(α)`` variates, float32, from ``_STREAMS`` NumPy SFC64 streams keyed by
    ``(seed, j)``; returns ``finish``, which draws part 0 in the calling thread, waits for the
    worker's part and returns the tensor. What the caller does before ``finish()`` overlaps with the
    worker.

    Stream ``j`` always fills part ``j`` of the flat array, so the result depends only on ``seed``
    and ``shape``, not on whether the parts are drawn in parallel.
    """
    out = np.empty(shape, dtype=np.float32)
    flat = out.reshape(-1)
    cuts = [len(flat) * j // _STREAMS for j in range(_STREAMS + 1)]

    def fill(j: int) -> None:
        rng = np.random.Generator(np.random.SFC64([seed, j]))
        rng.standard_gamma(alpha, out=flat[cuts[j]:cuts[j + 1]], dtype=np.float32)

    pool = _gamma_pool() if flat.size >= _THREAD_MIN else None
    futures = [pool.submit(fill, j) for j in range(1, _STREAMS)] if pool is not None else []

    def finish() -> torch.Tensor:
        fill(0)
        for f in futures:
            f.result()
        if pool is None:
            for j in range(1, _STREAMS):
                fill(j)
        return torch.from_numpy(out)

    return finish


def _start_gamma(alpha: float, shape: tuple[int, ...], generator: torch.Generator,
                 device) -> Callable[[], torch.Tensor]:
    """Start drawing the variates of :func:`sample_gamma`; calling the result returns them.

    The generator is used here only (one seed on the CPU), so the caller may draw from it meanwhile.
    """
    device = torch.device(device)
    shape = tuple(shape)
    if device.type == "cpu" and _CPU_GAMMA == "numpy":
        return _numpy_gamma(alpha, shape, int(torch.randint(0, 2**62, (1,), generator=generator)))
    G = torch._standard_gamma(torch.full(shape, float(alpha), device=device), generator=generator)
    return lambda: G


def sample_gamma(alpha: float, shape: tuple[int, ...], generator: torch.Generator, device) -> torch.Tensor:
    """Standard ``Gamma(α)`` variates of the given shape, float32, on ``device``.

    CPU: NumPy's float32 gamma sampler (SFC64 bit generators) seeded by one draw from ``generator``,
    split over two streams and threads (see the module's docstring).
    Other devices: ``torch._standard_gamma`` on the device itself.
    """
    return _start_gamma(alpha, shape, generator, device)()


def _normalise_rows_(G: torch.Tensor) -> torch.Tensor:
    """Gamma variates ``G (S, rows, n)`` → Dirichlet rows, in place: ``G[:, a, m] /= Σ_b G[b, a, m]``.

    A row whose ``S`` variates all underflow float32 (at α = 0.1 about 1e-45 per row of 10) would
    be 0/0; it becomes the uniform row rather than let a NaN through.
    """
    total = G.sum(0)
    empty = total == 0
    if bool(empty.any()):
        G[:, empty] = 1.0
        total[empty] = G.shape[0]
    return G.div_(total)


def sample_dirichlet(alpha: float, shape: tuple[int, ...], S: int, generator: torch.Generator, device) -> torch.Tensor:
    """Rows i.i.d. ``Dirichlet(α·1_S)``: a float32 tensor of shape ``(*shape, S)`` (normalised gammas)."""
    shape = tuple(shape)
    G = sample_gamma(alpha, (S, math.prod(shape)), generator, device)  # the row's entries first
    return _normalise_rows_(G.unsqueeze(-1)).squeeze(-1).T.reshape(*shape, S)


# --- the stationary law -------------------------------------------------------------------------
def _gth_(A: torch.Tensor) -> torch.Tensor:
    """GTH elimination (Grassmann, Taksar and Heyman, 1985) on ``n`` chains at once, batch last.

    ``A (S, S, n)``, ``A[i, j]`` the ``(i, j)`` entry of every chain (any strides); overwritten.
    Only off-diagonal entries are read: the algorithm treats ``A`` as the rates of a chain whose
    diagonal is minus the rest of the row, so rows need not sum to one. Returns ``μ (S, n)``.
    Every operation adds, multiplies or divides non-negative numbers, so each entry of ``μ``, however
    small, is accurate to a few units of rounding in ``A``'s dtype (float32 is enough for sampling).
    """
    S, n = A.shape[0], A.shape[-1]
    tiny = torch.finfo(A.dtype).tiny
    for k in range(S - 1, 0, -1):  # censor state k: watch the chain only on 0 … k-1
        sigma = A[k, :k].sum(0).clamp_min_(tiny)  # (n,): 1 - A[k, k] as a sum of positives
        col = A[:k, k].div_(sigma)  # (k, n)
        A[:k, :k].addcmul_(col.unsqueeze(1), A[k, :k].unsqueeze(0))
    mu = torch.zeros(S, n, dtype=A.dtype, device=A.device)
    mu[0] = 1.0
    for j in range(S - 1):  # undo in reverse: μ_k = Σ_{i<k} μ_i A[i, k], accumulated forwards
        mu[j + 1:].addcmul_(A[j, j + 1:], mu[j])
    return mu.div_(mu.sum(0))


def stationary_distribution(P: torch.Tensor, method: str = "auto") -> torch.Tensor:
    """Stationary law ``μ`` of a batch of stochastic matrices ``P`` (``…, S, S``): ``Pᵀμ = μ``, ``Σμ = 1``.

    ``method="gth"`` (and ``"auto"``, the default): the Grassmann–Taksar–Heyman elimination in
    ``P``'s dtype (float32 or float64; others are computed in float32), which never subtracts and so
    stays accurate to the working precision even for nearly reducible chains (the Dirichlet(0.1)
    prior makes many); chapter 1 explains it. ``method="solve"``: the textbook way, one batched
    float64 LU solve of ``(I - Pᵀ + 𝟙𝟙ᵀ) μ = 𝟙`` (kept for comparison; it loses small entries of
    ``μ`` to cancellation). Returned in ``P``'s dtype.
    """
    if not isinstance(P, torch.Tensor):
        raise TypeError(f"P must be a torch.Tensor, got {type(P).__name__}")
    if P.dim() < 2 or P.shape[-1] != P.shape[-2]:
        raise ValueError(f"P must be square in its last two axes, got shape {tuple(P.shape)}")
    if method not in ("auto", "gth", "solve"):
        raise ValueError(f"method must be 'auto', 'gth' or 'solve', got {method!r}")
    batch, S = P.shape[:-2], P.shape[-1]
    flat = P.reshape(-1, S, S)
    if method == "solve":
        A = flat.to(torch.float64)
        M = torch.eye(S, dtype=torch.float64, device=P.device) - A.transpose(1, 2) + 1.0
        ones = torch.ones(A.shape[0], S, 1, dtype=torch.float64, device=P.device)
        mu = torch.linalg.solve(M, ones).squeeze(-1).clamp_min(0)
        mu = mu / mu.sum(-1, keepdim=True)
    else:
        work = P.dtype if P.dtype in (torch.float32, torch.float64) else torch.float32
        A = torch.empty(S, S, flat.shape[0], dtype=work, device=P.device).copy_(flat.permute(1, 2, 0))
        mu = _gth_(A).T
    return mu.reshape(*batch, S).to(P.dtype)


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
        raise ValueError(f"{name} must have shape ({rows}, {S}) or (n, {rows}, {S}) = ({n}, {rows}, {S}), "
                         f"got {tuple(law.shape)}")
    law = law.to(device=device, dtype=torch.float32)
    if not bool(torch.isfinite(law).all()) or bool((law < 0).any()):
        raise ValueError(f"{name} must have finite non-negative entries")
    total = law.sum(-1)
    if not bool(torch.allclose(total, torch.ones_like(total), atol=1e-4)):
        raise ValueError(f"every row of {name} must sum to 1 (a probability vector)")
    return torch.empty(S, rows, n, device=device).copy_(law.permute(2, 1, 0))  # a copy: the samplers overwrite it


@dataclass
class Batch:
    """A batch of sequences: ``tokens (n, T)``, soft ``labels (n, S)``; ``pi``/``mu`` when asked for."""

    tokens: torch.Tensor
    labels: torch.Tensor
    pi: torch.Tensor | None = None
    mu: torch.Tensor | None = None

    def __iter__(self):  # so that ``tokens, labels = task.sample(n)`` works
        return iter((self.tokens, self.labels))


#: On the CPU, large batches are drawn in chunks of about this many law entries (16 MB of float32),
#: so that the temporary memory stays bounded. The chunking is part of the random stream (a function
#: of ``n`` only). Other devices draw a batch in one piece.
_CHUNK_ENTRIES = 1 << 22


def _chunks(n: int, entries_per_sequence: int, device: torch.device) -> list[int]:
    """Sizes of the chunks in which ``n`` sequences are drawn."""
    if device.type != "cpu":
        return [n]
    size = max(1, _CHUNK_ENTRIES // entries_per_sequence)
    return [min(size, n - lo) for lo in range(0, n, size)]


def _concat(parts: list[Batch]) -> Batch:
    if len(parts) == 1:
        return parts[0]
    cat = lambda xs: None if xs[0] is None else torch.cat(xs)  # noqa: E731
    return Batch(*(cat([getattr(p, f) for p in parts]) for f in ("tokens", "labels", "pi", "mu")))


def _default_generator(generator: torch.Generator | None, device: torch.device) -> torch.Generator:
    return generator if generator is not None else torch.Generator(device=device).manual_seed(0)


class SingleParentTask:
    """Task 2.4 of the paper: in-context learning of a latent single-parent causal graph.

    ``S`` tokens, sequences of length ``T`` (positions ``0 … T-1``; ``T-1`` is the query),
    a parent array of length ``T-1`` and the Dirichlet concentration ``α``. Each sequence draws
    its own ``π``; roots come from ``μ_π``, children from their parent's row, the query is uniform
    and the label is ``π[s_{T-1}]``. Chapters 1 and 2.
    """

    def __init__(self, S: int, T: int, parents: Sequence[int], alpha: float = 0.1, device="cpu"):
        self.S = check_vocab(S)
        self.T = _check_T(T)
        self.parents = validate_parents(parents, T)
        self.alpha = check_alpha(alpha)
        self.device = _check_device(device)
        self.roots = [i for i, p in enumerate(self.parents) if p < 0]
        self.parents_t = torch.tensor(self.parents, device=self.device)
        # Fill order: positions 0 … T-2 sorted by depth (roots first), then the query. A level is a
        # slice [lo, hi) of this order; its parents are earlier slots of the same buffer.
        levels = depth_levels([() if p < 0 else (p,) for p in self.parents])
        order = [i for lv in levels for i in lv] + [T - 1]
        slot = {pos: j for j, pos in enumerate(order)}
        self._n_roots = len(levels[0])
        self._levels = []  # (slots of the level, slots of their parents)
        lo = len(levels[0])
        for lv in levels[1:]:
            par = [slot[self.parents[i]] for i in lv]
            self._levels.append((slice(lo, lo + len(lv)), _as_index(par, self.device)))
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
        n = _check_n(n)
        g = _default_generator(generator, self.device)
        S, dev, parts = self.S, self.device, []
        for c in _chunks(n, S * S, dev):
            gammas = _start_gamma(self.alpha, (S, S, c), g, dev)  # batch last: P[b, a, m] = π_m[a, b]
            u, query = self._uniforms(c, g)  # drawn while the gamma worker runs
            P = _normalise_rows_(gammas())
            parts.append(self._sample_given(P, u, query, return_law))
        return _concat(parts)

    def sample_given_law(self, pi: torch.Tensor, n: int, generator: torch.Generator | None = None,
                         return_law: bool = False) -> Batch:
        """Draw ``n`` sequences from a **given** transition matrix instead of the prior.

        ``pi`` is one stochastic matrix ``(S, S)`` shared by all sequences, or one per sequence
        ``(n, S, S)``; rows must sum to 1. Roots come from its stationary law, children from their
        parent's row, the query is uniform, the label is ``pi[query]``, exactly as in :meth:`sample`
        (which is this method applied to a fresh draw from the prior). Useful to look at one chain
        (chapter 1) and to test the sampler against a known law.
        """
        n = _check_n(n)
        g = _default_generator(generator, self.device)
        P = _law_to_batch_last(pi, self.S, self.S, n, "pi", self.device)
        return self._sample_given(P, *self._uniforms(n, g), return_law)

    def _uniforms(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One uniform per slot of the fill order but the last, ``(T-1, n)``, and the queries ``(n,)``."""
        u = torch.rand(self.T - 1, n, generator=g, device=self.device)
        return u, torch.randint(0, self.S, (n,), generator=g, device=self.device)

    def _sample_given(self, P: torch.Tensor, u: torch.Tensor, query: torch.Tensor, return_law: bool) -> Batch:
        """Tokens and labels given the laws ``P (S, S, n)`` (batch last, ``P[b, a, m] = π_m[a, b]``; overwritten)."""
        S, T, dev = self.S, self.T, self.device
        n = P.shape[-1]
        m = torch.arange(n, device=dev)
        flat = P.view(S, S * n)  # column a·n + m holds the row π_m[a]
        labels = flat.index_select(1, torch.add(m, query, alpha=n)).T.contiguous()  # π_m[query_m]
        C = _cumulative(P).view(S, S * n)
        law = _law_from_batch_last(P) if return_law else None
        mu = _gth_(P.transpose(0, 1))  # (S, n); overwrites P, read above

        tokens = torch.empty(T, n, dtype=torch.long, device=dev)  # rows in fill order
        R = self._n_roots
        tokens[:R] = _inverse_cdf(_cumulative(mu).unsqueeze(1), u[:R])  # roots ~ μ
        for lv, par in self._levels:  # children ~ their parent's row, one depth level at a time
            col = torch.add(m, tokens[par], alpha=n)  # (L, n): column of the parent's row
            rows = C.index_select(1, col.view(-1))  # (S, L·n)
            _inverse_cdf(rows, u[lv].view(-1), out=tokens[lv].view(-1))
        tokens[T - 1] = query
        tokens = _position_order(tokens, self._unorder)
        if return_law:
            return Batch(tokens, labels, law, mu.T.contiguous())
        return Batch(tokens, labels)


class MultiParentTask:
    """The multi-parent task (DESIGN 2.2; chapter 7): a DAG given as parent lists for positions ``0 … T``.

    Positions with ``k ≥ 1`` parents use one table ``π_k`` of shape ``(S^k, S)`` per sequence,
    rows i.i.d. ``Dirichlet(α)``; roots are uniform. The row of a position is its parents' tokens
    read as a number in base ``S``, the first parent most significant. The model sees
    ``s_0 … s_{T-1}``; the label is the law of ``s_T`` given its parents.
    """

    def __init__(self, S: int, T: int, parent_lists: Sequence[Sequence[int]], alpha: float = 0.1, device="cpu"):
        self.S = check_vocab(S)
        self.T = _check_T(T)
        self.parent_lists = validate_parent_lists(parent_lists, T)
        self.alpha = check_alpha(alpha)
        self.device = _check_device(device)
        self.ks = sorted({len(ps) for ps in self.parent_lists if ps})
        if S ** max(self.ks) > 10**6:
            raise ValueError(f"S**k = {S ** max(self.ks)} rows per table is too large (S={S}, k={max(self.ks)})")
        # Fill order of positions 0 … T-1: by depth, then by number of parents (a group shares a table).
        levels = depth_levels(self.parent_lists[:T])
        groups = [[i for i in lv if len(self.parent_lists[i]) == k] for lv in levels[1:] for k in self.ks]
        order = levels[0] + [i for grp in groups for i in grp]
        slot = {pos: j for j, pos in enumerate(order)}
        self._n_roots = len(levels[0])
        self._groups = []  # (k, slots of the group, slots of each parent j: k entries)
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
        return {"S": self.S, "T": self.T, "alpha": self.alpha, "parent_lists": [list(p) for p in self.parent_lists]}

    def sample(self, n: int, generator: torch.Generator | None = None, return_law: bool = False) -> Batch:
        """Draw ``n`` sequences: ``tokens (n, T)`` and the target's law ``labels (n, S)``; with
        ``return_law`` also ``pi (n, S^k, S)``, the table of the target's ``k``."""
        n = _check_n(n)
        g = _default_generator(generator, self.device)
        S, dev, parts = self.S, self.device, []
        for c in _chunks(n, sum(S ** (k + 1) for k in self.ks), dev):
            gammas = {k: _start_gamma(self.alpha, (S, S**k, c), g, dev) for k in self.ks}  # batch last
            u, roots = self._uniforms(c, g)  # drawn while the gamma worker runs
            tables = {k: _normalise_rows_(draw()) for k, draw in gammas.items()}
            parts.append(self._sample_given(tables, u, roots, return_law))
        return _concat(parts)

    def sample_given_law(self, tables: Mapping[int, torch.Tensor], n: int, generator: torch.Generator | None = None,
                         return_law: bool = False) -> Batch:
        """Draw ``n`` sequences from **given** tables instead of the prior: ``tables[k]`` is ``(S^k, S)``
        (shared) or ``(n, S^k, S)`` for every ``k`` in ``self.ks``; rows must sum to 1."""
        n = _check_n(n)
        g = _default_generator(generator, self.device)
        if not isinstance(tables, Mapping) or sorted(tables) != self.ks:
            raise ValueError(f"tables must map each number of parents {self.ks} to a table")
        P = {k: _law_to_batch_last(t, self.S**k, self.S, n, f"tables[{k}]", self.device) for k, t in tables.items()}
        return self._sample_given(P, *self._uniforms(n, g), return_law)

    def _uniforms(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One uniform per child slot of the fill order, ``(T-R, n)``, and the ``R`` uniform roots ``(R, n)``."""
        R = self._n_roots
        u = torch.rand(self.T - R, n, generator=g, device=self.device)
        return u, torch.randint(0, self.S, (R, n), generator=g, device=self.device)

    def _sample_given(self, tables: dict[int, torch.Tensor], u: torch.Tensor, roots: torch.Tensor,
                      return_law: bool) -> Batch:
        """Tokens and labels given the tables ``{k: (S, S^k, n)}`` (batch last), the uniforms and the roots."""
        S, T, dev = self.S, self.T, self.device
        R, n = self._n_roots, roots.shape[-1]
        m = torch.arange(n, device=dev)
        C = {k: _cumulative(P).view(S, -1) for k, P in tables.items()}  # column r·n + m: row r of π_m
        tokens = torch.empty(T, n, dtype=torch.long, device=dev)  # rows in fill order
        tokens[:R] = roots

        def column(par: Sequence) -> torch.Tensor:  # the parents' row r (base S) as a column r·n + m
            r = tokens[par[0]]
            for p in par[1:]:
                r = torch.add(tokens[p], r, alpha=S)
            return torch.add(m, r, alpha=n)

        for k, lv, par in self._groups:
            rows = C[k].index_select(1, column(par).view(-1))
            _inverse_cdf(rows, u[lv.start - R:lv.stop - R].view(-1), out=tokens[lv].view(-1))
        k, par = self._target
        labels = tables[k].view(S, -1).index_select(1, column(par)).T.contiguous()
        tokens = _position_order(tokens, self._unorder)
        if return_law:
            return Batch(tokens, labels, _law_from_batch_last(tables[k]), None)
        return Batch(tokens, labels)
