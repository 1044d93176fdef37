"""The in-context tasks: Dirichlet priors, the stationary law, and batched samplers.

Chapter 1 (``book/01_markov_chains``) introduces the single-parent sampler on the Markov chain,
chapter 2 the general causal graphs, chapter 7 the multi-parent task.

Every sampler is fully batched: one call draws ``n`` sequences, each with its **own** transition
matrix ``π`` (rows i.i.d. ``Dirichlet(α·1_S)``). The only Python loop is over the depth of the
graph, never over sequences. Randomness comes from a ``torch.Generator`` so that a seed fixes
every batch; on the CPU the gamma variates (the cost floor of the sampler) are drawn by NumPy's
float32 gamma sampler, seeded from that generator, which is about 4× faster here than
``torch._standard_gamma`` (``benchmarks/bench_sampler.py`` measures both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

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


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (the number of sequences) must be a positive int, got {n!r}")
    return n


def sample_gamma(alpha: float, shape: tuple[int, ...], generator: torch.Generator, device) -> torch.Tensor:
    """Standard ``Gamma(α)`` variates of the given shape, float32, on ``device``.

    CPU: NumPy's float32 gamma sampler (SFC64 bit generator) seeded from ``generator``.
    Other devices: ``torch._standard_gamma`` on the device itself.
    """
    device = torch.device(device)
    if device.type == "cpu":
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        rng = np.random.Generator(np.random.SFC64(seed))
        return torch.from_numpy(rng.standard_gamma(alpha, size=shape, dtype=np.float32))
    conc = torch.full(shape, float(alpha), device=device)
    return torch._standard_gamma(conc, generator=generator)


def sample_dirichlet(alpha: float, shape: tuple[int, ...], S: int, generator: torch.Generator, device) -> torch.Tensor:
    """Rows i.i.d. ``Dirichlet(α·1_S)``: a float32 tensor of shape ``(*shape, S)`` (normalised gammas)."""
    g = sample_gamma(alpha, (*shape, S), generator, device)
    total = g.sum(-1, keepdim=True)
    g.div_(total)
    # A row whose S gammas all underflow float32 (probability ~1e-38 per row at α = 0.1) is 0/0:
    # replace it by the uniform row rather than let a NaN through.
    return g.nan_to_num_(1.0 / S)


def stationary_distribution(P: torch.Tensor, method: str = "auto") -> torch.Tensor:
    """Stationary law ``μ`` of a batch of stochastic matrices ``P`` (``…, S, S``): ``Pᵀμ = μ``, ``Σμ = 1``.

    ``method="gth"``: the Grassmann–Taksar–Heyman elimination, which never subtracts and so stays
    accurate to the working precision even for nearly reducible chains (the Dirichlet(0.1) prior
    makes many). ``method="solve"``: one batched float64 LU solve of ``(I - Pᵀ + 𝟙𝟙ᵀ) μ = 𝟙``.
    ``method="auto"`` (the default, 2–3× faster than GTH alone): the solve, then GTH for every
    matrix whose solution fails the check ``‖Pᵀμ − μ‖₁ ≤ 1e-6`` or has a negative entry. Computed in
    float64, returned in ``P``'s dtype. Chapter 1 explains it.
    """
    if P.dim() < 2 or P.shape[-1] != P.shape[-2]:
        raise ValueError(f"P must be square in its last two axes, got shape {tuple(P.shape)}")
    if method not in ("auto", "gth", "solve"):
        raise ValueError(f"method must be 'auto', 'gth' or 'solve', got {method!r}")
    if method == "gth":
        return _stationary_gth(P)
    batch, S = P.shape[:-2], P.shape[-1]
    A = P.reshape(-1, S, S).to(torch.float64)
    # Like GTH, trust the off-diagonal entries and rebuild the diagonal so that every row sums to 1
    # exactly in float64; otherwise float32 rounding of the rows shifts μ of a nearly reducible chain.
    off = A.sum(-1) - A.diagonal(dim1=-2, dim2=-1)
    A = A.clone()
    A.diagonal(dim1=-2, dim2=-1).copy_(1.0 - off)
    M = torch.eye(S, dtype=torch.float64, device=P.device) - A.transpose(1, 2) + 1.0
    mu = torch.linalg.solve(M, torch.ones(A.shape[0], S, 1, dtype=torch.float64, device=P.device)).squeeze(-1)
    if method == "auto":
        resid = (torch.einsum("nij,ni->nj", A, mu) - mu).abs().sum(-1)
        bad = (resid > 1e-6) | (mu < 0).any(-1) | ~torch.isfinite(mu).all(-1)
        if bool(bad.any()):
            mu[bad] = _stationary_gth(A[bad])
    mu = mu.clamp_min(0)
    mu = mu / mu.sum(-1, keepdim=True)
    return mu.reshape(*batch, S).to(P.dtype)


def _stationary_gth(P: torch.Tensor) -> torch.Tensor:
    """GTH elimination (Grassmann, Taksar and Heyman, 1985), batched, in float64."""
    dtype = P.dtype
    A = P.to(torch.float64).clone()
    S = A.shape[-1]
    for k in range(S - 1, 0, -1):
        s = A[..., k, :k].sum(-1, keepdim=True).clamp_min(1e-300)  # (…, 1): never a subtraction
        col = A[..., :k, k] / s  # (…, k)
        A[..., :k, k] = col
        A[..., :k, :k] += col.unsqueeze(-1) * A[..., k, :k].unsqueeze(-2)
    mu = torch.zeros(A.shape[:-1], dtype=torch.float64, device=A.device)
    mu[..., 0] = 1.0
    for k in range(1, S):
        mu[..., k] = (mu[..., :k] * A[..., :k, k]).sum(-1)
    mu = mu / mu.sum(-1, keepdim=True)
    return mu.to(dtype)


def _inverse_cdf(cdf: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Index of the first entry of ``cdf`` (last axis) that is ≥ ``u``; clamped to the last index."""
    S = cdf.shape[-1]
    return (cdf < u.unsqueeze(-1)).sum(-1).clamp_max(S - 1)


@dataclass
class Batch:
    """A batch of sequences: ``tokens (n, T)``, soft ``labels (n, S)``; ``pi``/``mu`` when asked for."""

    tokens: torch.Tensor
    labels: torch.Tensor
    pi: torch.Tensor | None = None
    mu: torch.Tensor | None = None

    def __iter__(self):  # so that ``tokens, labels = task.sample(n)`` works
        return iter((self.tokens, self.labels))


class SingleParentTask:
    """Task 2.4 of the paper: in-context learning of a latent single-parent causal graph.

    ``S`` tokens, sequences of length ``T`` (positions ``0 … T-1``; ``T-1`` is the query),
    a parent array of length ``T-1`` and the Dirichlet concentration ``α``. Each sequence draws
    its own ``π``; roots come from ``μ_π``, children from their parent's row, the query is uniform
    and the label is ``π[s_{T-1}]``. Chapters 1 and 2.
    """

    def __init__(self, S: int, T: int, parents: Sequence[int], alpha: float = 0.1, device="cpu"):
        self.S = check_vocab(S)
        if isinstance(T, bool) or not isinstance(T, int) or T < 3:
            raise ValueError(f"T must be an int >= 3 (a sequence needs a child and a query), got T={T!r}")
        self.T = T
        self.parents = validate_parents(parents, T)
        self.alpha = check_alpha(alpha)
        self.device = torch.device(device)
        self.roots = [i for i, p in enumerate(self.parents) if p < 0]
        # Depth levels over positions 0 … T-2 (each level depends only on earlier levels).
        levels = depth_levels([() if p < 0 else (p,) for p in self.parents])
        self._levels = [
            (torch.tensor(lv, device=self.device), torch.tensor([self.parents[i] for i in lv], device=self.device))
            for lv in levels[1:]
        ]
        self._roots_t = torch.tensor(self.roots, device=self.device)
        self.parents_t = torch.tensor(self.parents, device=self.device)

    @property
    def kind(self) -> str:
        return "single"

    def describe(self) -> dict:
        return {"S": self.S, "T": self.T, "alpha": self.alpha, "parents": list(self.parents)}

    def sample(self, n: int, generator: torch.Generator | None = None, return_law: bool = False) -> Batch:
        """Draw ``n`` sequences. Returns a :class:`Batch` (``tokens (n, T)`` int64, ``labels (n, S)`` float32)."""
        n = _check_n(n)
        g = generator if generator is not None else torch.Generator(device=self.device).manual_seed(0)
        S, T, dev = self.S, self.T, self.device
        pi32 = sample_dirichlet(self.alpha, (n, S), S, g, dev)  # (n, S, S)
        mu = stationary_distribution(pi32)  # (n, S)
        u = torch.rand(n, T - 1, generator=g, device=dev)
        query = torch.randint(0, S, (n,), generator=g, device=dev)
        tokens = torch.empty(n, T, dtype=torch.long, device=dev)
        tokens[:, T - 1] = query
        if self.roots:
            cmu = mu.float().cumsum(-1)  # (n, S)
            tokens[:, self._roots_t] = _inverse_cdf(cmu.unsqueeze(1), u[:, self._roots_t])
        if self._levels:
            cpi = pi32.cumsum(-1)  # (n, S, S)
            for pos, par in self._levels:
                rows = torch.gather(cpi, 1, tokens[:, par].unsqueeze(-1).expand(n, len(pos), S))  # (n, L, S)
                tokens[:, pos] = _inverse_cdf(rows, u[:, pos])
        labels = pi32[torch.arange(n, device=dev), query]
        if return_law:
            return Batch(tokens, labels, pi32, mu)
        return Batch(tokens, labels)


class MultiParentTask:
    """The multi-parent task (DESIGN 2.2; chapter 7): a DAG given as parent lists for positions ``0 … T``.

    Positions with ``k ≥ 1`` parents use one table ``π_k`` of shape ``(S^k, S)`` per sequence,
    rows i.i.d. ``Dirichlet(α)``; roots are uniform. The model sees ``s_0 … s_{T-1}``; the label is
    the law of ``s_T`` given its parents.
    """

    def __init__(self, S: int, T: int, parent_lists: Sequence[Sequence[int]], alpha: float = 0.1, device="cpu"):
        self.S = check_vocab(S)
        if isinstance(T, bool) or not isinstance(T, int) or T < 3:
            raise ValueError(f"T must be an int >= 3, got T={T!r}")
        self.T = T
        self.parent_lists = validate_parent_lists(parent_lists, T)
        self.alpha = check_alpha(alpha)
        self.device = torch.device(device)
        self.ks = sorted({len(ps) for ps in self.parent_lists if ps})
        if S ** max(self.ks) > 10**6:
            raise ValueError(f"S**k = {S ** max(self.ks)} rows per table is too large (S={S}, k={max(self.ks)})")
        levels = depth_levels(self.parent_lists)
        self._roots_t = torch.tensor(levels[0], device=self.device)
        self._levels = []
        for lv in levels[1:]:
            for k in self.ks:
                pos = [i for i in lv if len(self.parent_lists[i]) == k]
                if pos:
                    par = torch.tensor([self.parent_lists[i] for i in pos], device=self.device)  # (L, k)
                    self._levels.append((k, torch.tensor(pos, device=self.device), par, pos[-1] == T))

    @property
    def kind(self) -> str:
        return "multi"

    def describe(self) -> dict:
        return {"S": self.S, "T": self.T, "alpha": self.alpha, "parent_lists": [list(p) for p in self.parent_lists]}

    def _row_index(self, tokens: torch.Tensor, par: torch.Tensor) -> torch.Tensor:
        k = par.shape[-1]
        weights = self.S ** torch.arange(k - 1, -1, -1, device=tokens.device)  # first parent most significant
        return (tokens[:, par] * weights).sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None, return_law: bool = False) -> Batch:
        """Draw ``n`` sequences: ``tokens (n, T)`` and the target's law ``labels (n, S)``."""
        n = _check_n(n)
        g = generator if generator is not None else torch.Generator(device=self.device).manual_seed(0)
        S, T, dev = self.S, self.T, self.device
        tables = {k: sample_dirichlet(self.alpha, (n, S**k), S, g, dev) for k in self.ks}
        cdfs = {k: t.cumsum(-1) for k, t in tables.items()}
        u = torch.rand(n, T + 1, generator=g, device=dev)
        tokens = torch.empty(n, T + 1, dtype=torch.long, device=dev)
        tokens[:, self._roots_t] = (u[:, self._roots_t] * S).long().clamp_max(S - 1)
        label_rows = None
        for k, pos, par, has_target in self._levels:
            rows_idx = self._row_index(tokens, par)  # (n, L)
            if has_target:  # the target: its law is the label, its token is never shown
                label_rows = (k, rows_idx[:, -1])
            rows = torch.gather(cdfs[k], 1, rows_idx.unsqueeze(-1).expand(n, len(pos), S))
            tokens[:, pos] = _inverse_cdf(rows, u[:, pos])
        k, idx = label_rows
        labels = tables[k][torch.arange(n, device=dev), idx]
        out_tokens = tokens[:, :T].contiguous()
        if return_law:
            return Batch(out_tokens, labels, tables[k], None)
        return Batch(out_tokens, labels)
