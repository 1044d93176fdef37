"""The Dirichlet prior and the stationary law: gamma variates, Dirichlet rows, posterior means, GTH.

Chapter 1 ("In-context Markov chains") introduces each of these. The samplers of
:mod:`causal_tutorial.tasks` and the Bayes predictor of :mod:`causal_tutorial.estimators` both draw
from here, so each rule is written once:

* **Gamma variates** (:func:`sample_gamma`): on the CPU from NumPy's gamma sampler (about 4× faster
  than ``torch._standard_gamma``) in independent streams seeded from the torch generator; the
  second stream is drawn by a worker thread while the caller goes on (NumPy releases the GIL).
  Each stream always fills the same part, so the result depends only on the seed and the shape.
  On other devices ``torch._standard_gamma`` runs on the device.
* **Dirichlet rows** (:func:`normalise_rows_`): normalised gamma variates; a row whose variates all
  underflow (at α = 0.1 about 1e-45 per row of 10 in float32) becomes the uniform row.
* **Posterior means** (:func:`dirichlet_posterior_mean`): ``(N + α) / (Σ N + Sα)``, the smoothing of
  every count-based estimator.
* **The stationary law** (:func:`stationary_distribution`) by the Grassmann–Taksar–Heyman (GTH)
  elimination, which never subtracts and so keeps every entry of ``μ`` to the working precision,
  even for the nearly reducible chains the Dirichlet(0.1) prior makes. Its three steps
  (:func:`gth_eliminate_`, :func:`gth_reduce_first_rows_`, :func:`gth_back_substitute`) are public
  because the Bayes predictor swaps the first row of an eliminated matrix many times over.

Tensors of the GTH functions are **batch last**: ``A (S, S, *batch)``, so each step of the small
``S × S`` algorithm is one vector operation over the batch.

:class:`SamplerSettings` holds the choices a test or a benchmark may change (where CPU gamma variates
come from, when the second stream gets its own thread, the chunk size, GTH or a linear solve).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from .checks import check_alpha

__all__ = [
    "SamplerSettings",
    "DEFAULT_SETTINGS",
    "sample_gamma",
    "start_gamma",
    "normalise_rows_",
    "sample_dirichlet",
    "dirichlet_posterior_mean",
    "gth_eliminate_",
    "gth_reduce_first_rows_",
    "gth_back_substitute",
    "stationary_distribution",
]

GAMMA_SOURCES = ("numpy", "torch")
STATIONARY_METHODS = ("gth", "solve")


@dataclass(frozen=True)
class SamplerSettings:
    """How the samplers draw (chapter 1). The defaults are the fast choices; every other value
    draws from the same law (``benchmarks/bench_sampler.py`` times what each default buys).

    Attributes:
        gamma_source: on the CPU, ``"numpy"`` (fast) or ``"torch"`` (what other devices run; tests
            use it to check that path on a machine without a GPU).
        gamma_streams: independent NumPy streams a CPU draw is split over (part ``j`` from stream ``j``).
        thread_min: below this many variates every stream is drawn in the calling thread (a hand-off
            costs more than it saves); ``1 << 62`` never uses the worker. The numbers do not change.
        chunk_entries: on the CPU, large batches are drawn in chunks of about this many law entries
            (16 MB of float32), which bounds temporary memory; the chunking is part of the random
            stream (a function of the batch size only). Other devices draw a batch in one piece.
        stationary: ``"gth"`` (float32 GTH, batch last) or ``"solve"`` (the textbook float64 solve).
    """

    gamma_source: str = "numpy"
    gamma_streams: int = 2
    thread_min: int = 1 << 14
    chunk_entries: int = 1 << 22
    stationary: str = "gth"

    def __post_init__(self):
        if self.gamma_source not in GAMMA_SOURCES:
            raise ValueError(f"gamma_source must be one of {GAMMA_SOURCES}, got {self.gamma_source!r}")
        if self.stationary not in STATIONARY_METHODS:
            raise ValueError(f"stationary must be one of {STATIONARY_METHODS}, got {self.stationary!r}")
        for name in ("gamma_streams", "chunk_entries"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {name}={v!r}")


DEFAULT_SETTINGS = SamplerSettings()


# --- the worker thread of the second gamma stream -------------------------------------------------
_pool: ThreadPoolExecutor | None = None


def _forget_pool_after_fork() -> None:
    """A forked child has no worker thread: it must make its own (registered with the first pool)."""
    global _pool
    _pool = None


def _gamma_pool() -> ThreadPoolExecutor | None:
    """The one worker thread for the extra gamma streams (made on first use, together with the fork
    hook that forgets it in a forked child), or ``None`` on a single-core machine."""
    global _pool
    if _pool is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if cores < 2:
            return None
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="causal_tutorial-gamma")
        if hasattr(os, "register_at_fork") and not getattr(_gamma_pool, "_fork_hook", False):
            os.register_at_fork(after_in_child=_forget_pool_after_fork)
            _gamma_pool._fork_hook = True  # type: ignore[attr-defined]
    return _pool


# --- gamma variates --------------------------------------------------------------------------------
def _numpy_gamma(
    conc: float | np.ndarray, shape: tuple[int, ...], seed: int, dtype: np.dtype, settings: SamplerSettings
) -> Callable[[], torch.Tensor]:
    """Start drawing ``Gamma(conc)`` variates from NumPy SFC64 streams; returns ``finish``, which
    draws part 0 in the calling thread, waits for the worker's parts and returns the tensor.

    With one stream it is seeded by ``seed`` itself; with several, stream ``j`` is seeded by
    ``(seed, j)`` and always fills part ``j`` of the flat array. ``conc`` is a number or an array
    broadcast to ``shape``.
    """
    out = np.empty(shape, dtype=dtype)
    flat = out.reshape(-1)
    streams = settings.gamma_streams
    conc_flat = None if np.isscalar(conc) else np.broadcast_to(conc, shape).reshape(-1)
    cuts = [len(flat) * j // streams for j in range(streams + 1)]

    def fill(j: int) -> None:
        rng = np.random.Generator(np.random.SFC64(seed if streams == 1 else [seed, j]))
        part = slice(cuts[j], cuts[j + 1])
        rng.standard_gamma(conc if conc_flat is None else conc_flat[part], out=flat[part], dtype=dtype)

    pool = _gamma_pool() if streams > 1 and flat.size >= settings.thread_min else None
    futures: list[Future] = [pool.submit(fill, j) for j in range(1, streams)] if pool is not None else []

    def finish() -> torch.Tensor:
        fill(0)
        for f in futures:
            f.result()
        if pool is None:
            for j in range(1, streams):
                fill(j)
        return torch.from_numpy(out)

    return finish


def start_gamma(
    conc: float | torch.Tensor,
    shape: tuple[int, ...],
    generator: torch.Generator,
    device,
    dtype: torch.dtype = torch.float32,
    settings: SamplerSettings = DEFAULT_SETTINGS,
) -> Callable[[], torch.Tensor]:
    """Start drawing the variates of :func:`sample_gamma`; calling the result returns them.

    The generator is used here only (one seed on the CPU), so the caller may draw from it while the
    worker thread runs.
    """
    device, shape = torch.device(device), tuple(shape)
    if device.type == "cpu" and settings.gamma_source == "numpy":
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        c = float(conc) if not isinstance(conc, torch.Tensor) else conc.to(dtype).numpy()
        return _numpy_gamma(c, shape, seed, np.dtype(str(dtype).removeprefix("torch.")), settings)
    if isinstance(conc, torch.Tensor):
        ct = conc.to(device=device, dtype=dtype).expand(shape).contiguous()
    else:
        ct = torch.full(shape, float(conc), dtype=dtype, device=device)
    G = torch._standard_gamma(ct, generator=generator)
    return lambda: G


def sample_gamma(
    conc: float | torch.Tensor,
    shape: tuple[int, ...],
    generator: torch.Generator,
    device,
    dtype: torch.dtype = torch.float32,
    settings: SamplerSettings = DEFAULT_SETTINGS,
) -> torch.Tensor:
    """Standard ``Gamma(conc)`` variates of the given shape on ``device`` (chapter 1).

    ``conc`` is one concentration or a tensor broadcast to ``shape`` (the Bayes predictor's posterior
    concentrations). CPU: NumPy's gamma sampler seeded by one draw from ``generator``, split over
    ``settings.gamma_streams`` streams; other devices: ``torch._standard_gamma`` on the device.
    Deterministic given the generator.
    """
    return start_gamma(conc, shape, generator, device, dtype, settings)()


def normalise_rows_(G: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Gamma variates → Dirichlet rows, in place: ``G /= G.sum(dim)`` (chapter 1).

    A row whose variates all underflow would be 0/0; it becomes the uniform row rather than let a
    NaN through.
    """
    total = G.sum(dim, keepdim=True)
    empty = total == 0
    if G.device.type != "cpu":  # no branch on a device value: that would make the host wait for the device
        G.masked_fill_(empty.expand_as(G), 1.0)
        return G.div_(total.masked_fill_(empty, G.shape[dim]))
    if bool(empty.any()):
        G.masked_fill_(empty.expand_as(G), 1.0)
        total.masked_fill_(empty, G.shape[dim])
    return G.div_(total)


def sample_dirichlet(
    alpha: float,
    shape: tuple[int, ...],
    S: int,
    generator: torch.Generator,
    device,
    settings: SamplerSettings = DEFAULT_SETTINGS,
) -> torch.Tensor:
    """Rows i.i.d. ``Dirichlet(α·1_S)``: a float32 tensor of shape ``(*shape, S)`` (chapter 1)."""
    alpha = check_alpha(alpha)
    shape = tuple(shape)
    G = sample_gamma(alpha, (S, math.prod(shape)), generator, device, settings=settings)  # the row's entries first
    return normalise_rows_(G).T.reshape(*shape, S)


def dirichlet_posterior_mean(counts: torch.Tensor, alpha: float) -> torch.Tensor:
    """``(N + α) / (Σ_s N_s + Sα)`` along the last axis, returned as float32 (chapter 1).

    The posterior mean of a ``Dirichlet(α·1_S)`` row after observing the counts ``N``: the smoothing
    of every count-based estimator in :mod:`causal_tutorial.estimators`.
    """
    S = counts.shape[-1]
    return ((counts + alpha) / (counts.sum(-1, keepdim=True) + S * alpha)).float()


# --- the stationary law: GTH ---------------------------------------------------------------------------
def gth_eliminate_(A: torch.Tensor, first_row: bool = True) -> torch.Tensor:
    """The elimination half of GTH (Grassmann, Taksar and Heyman, 1985), in place, batch last.

    ``A (S, S, *batch)`` (any strides). States ``S-1 … 1`` are censored in turn: with
    ``σ_k = Σ_{j<k} A[k, j]`` (``1 − A[k, k]`` as a sum of positives), the column ``A[:k, k]`` is
    divided by ``σ_k`` and ``A[:k, :k] += A[:k, k] A[k, :k]``. Only off-diagonal entries are read, so
    rows need not sum to one. With ``first_row=False`` row 0 is neither read nor written: it can then
    be supplied afterwards, many times over, by :func:`gth_reduce_first_rows_`. Returns ``A``.
    """
    S = A.shape[0]
    tiny = torch.finfo(A.dtype).tiny
    lo = 0 if first_row else 1
    for k in range(S - 1, 0, -1):  # censor state k: watch the chain only on 0 … k-1
        sigma = A[k, :k].sum(0).clamp_min_(tiny)  # (*batch)
        col = A[lo:k, k].div_(sigma)  # (k - lo, *batch)
        A[lo:k, :k].addcmul_(col.unsqueeze(1), A[k, :k].unsqueeze(0))
    return A


def gth_reduce_first_rows_(A: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """Candidate first rows through the elimination of ``A`` (from :func:`gth_eliminate_` with
    ``first_row=False``), in place: ``R (S, *batch, J)`` holds ``J`` candidate rows 0 per matrix.

    Row 0 enters the elimination linearly and no other row reads it, so each candidate costs
    ``O(S²)`` instead of ``O(S³)``. Afterwards ``R[k]`` holds what row 0 holds after a full
    elimination; pass it to :func:`gth_back_substitute`.
    """
    S = A.shape[0]
    tiny = torch.finfo(A.dtype).tiny
    for k in range(S - 1, 0, -1):
        sigma = A[k, :k].sum(0).clamp_min_(tiny)  # (*batch)
        c = R[k].div_(sigma.unsqueeze(-1))  # (*batch, J)
        R[:k].addcmul_(c.unsqueeze(0), A[k, :k].unsqueeze(-1))
    return R


def gth_back_substitute(A: torch.Tensor, first: torch.Tensor | None = None) -> torch.Tensor:
    """The unnormalised stationary law ``u`` (``u[0] = 1``) of an eliminated ``A`` (chapter 1).

    ``u_k = Σ_{i<k} u_i A[i, k]``, accumulated forwards. ``first`` replaces row 0 of ``A``: the
    reduced candidate rows of :func:`gth_reduce_first_rows_` ``(S, *batch, J)``, in which case
    ``u`` has the shape of ``first``. ``u[s]`` is the expected number of visits to ``s`` between two
    visits to state 0, so ``u / Σ u`` is ``μ``.
    """
    S = A.shape[0]
    if first is None:
        first, A_ = A[0], A
    else:
        A_ = A.unsqueeze(-1)
    u = torch.zeros(first.shape, dtype=A.dtype, device=A.device)
    u[0] = 1.0
    u[1:].addcmul_(first[1:], u[0])
    for j in range(1, S - 1):
        u[j + 1 :].addcmul_(A_[j, j + 1 :], u[j])
    return u


def _gth_(A: torch.Tensor) -> torch.Tensor:
    """``μ (S, *batch)`` of the chains ``A (S, S, *batch)`` by GTH, batch last; ``A`` is overwritten."""
    mu = gth_back_substitute(gth_eliminate_(A))
    return mu.div_(mu.sum(0))


def stationary_distribution(P: torch.Tensor, method: str = "gth") -> torch.Tensor:
    """Stationary law ``μ`` of a batch of stochastic matrices ``P`` (``…, S, S``): ``Pᵀμ = μ``, ``Σμ = 1``.

    Chapter 1 ("In-context Markov chains") explains both methods. ``method="gth"`` (the default;
    ``"auto"`` is the same): the GTH elimination in ``P``'s dtype (float32 or float64; others are
    computed in float32), accurate to the working precision even for nearly reducible chains.
    ``method="solve"``: the textbook way, one batched float64 LU solve of ``(I - Pᵀ + J) μ = 1`` (``J`` the
    all-ones matrix, ``1`` the all-ones vector; kept for comparison, it loses small entries of ``μ`` to
    cancellation). Returned in ``P``'s dtype.
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


def _stationary_batch_last(A: torch.Tensor, settings: SamplerSettings = DEFAULT_SETTINGS) -> torch.Tensor:
    """``μ (S, n)`` of the chains ``A (S, S, n)`` (batch last; overwritten), by ``settings.stationary``."""
    if settings.stationary == "solve":
        return stationary_distribution(A.permute(2, 0, 1), method="solve").T.to(A.dtype)
    return _gth_(A)
