"""The disentangled transformer's fast path: its logits and loss computed with far less work (private).

Chapter 3 explains the model; chapter 4 trains it, through this module.
:meth:`~causal_tutorial.models.DisentangledTransformer.run_with_cache` (and ``forward_plain``) is
the readable formulation: one-hot inputs, full bilinear attention at every position. Training reads
the logits at the last position only, and the inputs are one-hot, so most of that work can be
skipped. This module computes the same function, with the same gradients, and far less work. It is
private: ``DisentangledTransformer.forward`` and ``DisentangledTransformer.loss`` call it, and it
reads the model's parameters through one accessor, ``model._fast_parameters()`` (``(heads, W, A)``),
nothing else of the model:

**two-layer models** (every experiment of the paper: heads ``(1, 1)`` and ``(2, 1)``), with or without a run
axis, go through :class:`TwoLayerLogits` / :class:`TwoLayerLoss`, autograd functions with a hand-derived
backward pass. Other depths have no fast path: the model computes them the readable way.

Notation (chapter 3's; one sequence; ``Q = T-1`` the query position; layer-1 head ``h`` has
attention ``P_h (T, T)``, layer-2 head ``k`` the query's attention ``a_k (T,)``).

**Embedding a weight vector.** Every stream vector of this model is built from one small
operation: for weights ``y`` over the positions, ``embed(y) = [Σ_j y_j e_{s_j} ; y] ∈ R^{S+T}``
(the tokens it covers, then itself). The input is ``x̃_j = embed(e_j)``, layer 1's output at
``j`` is ``embed(P_h[j])``, and layer 2's output at the query is ``Σ_j a_j h1_j``. Its adjoint,
``embed_T(x)_j = x[s_j] + x[S + j] = x · x̃_j``, reads a vector at every position.

**Layer 1** on one-hot inputs. With ``A = A1_h`` split into blocks ``[[tt, tp], [pt, pp]]``
(token/position rows × token/position columns), the score of query ``i`` on key ``j`` is::

    x̃_iᵀ A x̃_j = F[(s_i, i), s_j] + G[(s_i, i), j],
    F[(a, i), b] = tt[a, b] + pt[i, b]      (S·T × S table)
    G[(a, i), j] = tp[a, j] + pp[i, j]      (S·T × T table, −∞ for j > i)

so the scores are two table look-ups. On the CPU the exponential (costly here) is taken of the
small tables rather than of the ``(n, T, T)`` scores: ``exp(F + G) = exp(F)·exp(G)``, each table
shifted per row (see :func:`_layer1_attention` for when this is exact and what happens otherwise).

**Layer 2**, the query only. With ``h1_Q = [embed(e_Q) ; embed(P_1[Q]) ; …]`` and
``v = h1_Q A2`` read block by block, ``[b ; w_1 ; …] = embed_T(v)``::

    scores2 = b + Σ_h P_h w_h,   a = softmax(scores2),   out = [embed(a) ; embed(P_1ᵀ a) ; …]
    logits = [h1_Q ; out_1 ; …] W

so nothing of width ``d_1`` is built at every position: only products of ``P_h`` with vectors.
The backward pass runs these steps in reverse. The gradient of layer 1's scores is
``P_h ∘ (Σ_r u_r v_rᵀ − ρ 1ᵀ)`` (plus the query row), a low-rank matrix masked by ``P_h``, whose
row sums ``ρ`` are known from the forward pass; from it ``∂L/∂A1`` is two binnings by token.

``tests/test_fastpath.py`` checks logits and gradients against ``forward_plain`` + autograd and
the hand-derived backward against ``torch.autograd.gradcheck``; ``benchmarks/bench_training.py``
measures the speed.

:func:`retain_freed_memory` (a process-wide allocator setting that makes CPU training steps
faster) lives here too; nothing in this module or the models calls it: the training loop does,
once (``causal_tutorial.models.retain_freed_memory`` is its public name).
"""

from __future__ import annotations

import ctypes
import functools
import sys

import torch

# Largest spread ``max F − min F`` of a row of the F table for which the factorised exponential
# keeps float32 accuracy (see _layer1_attention); beyond it the exact softmax is used.
_MAX_TABLE_SPREAD = 60.0


def fast_logits(model, tokens: torch.Tensor) -> torch.Tensor:
    """Logits ``(n, S)`` at the last position of a two-layer model: the same function as ``model.forward_plain``
    (chapter 4). With a run axis (``model.runs = R``) tokens ``(R, n, T)`` give logits ``(R, n, S)``.

    ``tokens`` are not checked here (``DisentangledTransformer.forward`` checks them).
    """
    heads, W, A = model._fast_parameters()
    if model.runs is None:
        return TwoLayerLogits.apply(tokens, heads[0], 0, W, *A)
    R, n, T = tokens.shape
    return TwoLayerLogits.apply(tokens.reshape(R * n, T), heads[0], R, W, *A).view(R, n, -1)


def fast_loss(model, tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean soft-label cross-entropy ``−(1/n) Σ_n Σ_s y_ns log softmax(logits)_ns`` of a two-layer model, with
    autograd (chapter 4), fused into :class:`TwoLayerLoss`; with a run axis one mean per run, ``(R,)``."""
    heads, W, A = model._fast_parameters()
    if model.runs is None:
        return TwoLayerLoss.apply(tokens, labels, heads[0], 0, W, *A)
    R, n, T = tokens.shape
    return TwoLayerLoss.apply(tokens.reshape(R * n, T), labels.reshape(R * n, -1), heads[0], R, W, *A)


@functools.cache
def retain_freed_memory() -> bool:
    """Make glibc keep freed memory in this process for reuse instead of returning it at once
    (Linux; chapter 4's training loop calls it, once).

    A training step on the CPU allocates and frees ~10 MB of temporaries. By default glibc hands
    large freed blocks back to the operating system and the next step page-faults them in again
    (~700 faults, about a third of a step on a 2-core CPU). This sets, **for the whole process and
    for good**, ``M_MMAP_THRESHOLD`` to 32 MiB (blocks below it come from the heap) and
    ``M_TRIM_THRESHOLD`` to 256 MiB (up to that much free heap is kept rather than trimmed); the
    steps then reuse their memory and resident memory stays near the peak of one step (it is not
    returned to the system while the process lives). No model calls it (not ``forward``, not
    ``loss``): whoever wants it, the training loop, calls it explicitly. It acts once per process
    (later calls return the first result). Returns whether it took effect (``False`` off
    Linux/glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 256 << 20))
    except (OSError, AttributeError):
        return False


@functools.lru_cache(maxsize=32)
def _constants(S: int, T: int, device: torch.device, dtype: torch.dtype):
    """Per-shape constants: positions, the additive causal mask (0 / −∞), ``I_S`` and ``e_Q``."""
    pos = torch.arange(T, device=device)
    above = torch.zeros(T, T, dtype=dtype, device=device).masked_fill_(
        torch.ones(T, T, dtype=torch.bool, device=device).triu(1), float("-inf")
    )
    eye = torch.eye(S, dtype=dtype, device=device)
    e_q = torch.zeros(T, dtype=dtype, device=device)
    e_q[T - 1] = 1.0
    return pos, above, eye, e_q


# -- embed and its adjoint --------------------------------------------------------------------
def _embed(y: torch.Tensor, tokens: torch.Tensor, S: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """``y (n, K, T) → (n, K, S+T)``: ``[Σ_j y_j e_{s_j} ; y]`` for each of the ``K`` weight vectors."""
    n, K, T = y.shape
    if out is None:
        out = torch.empty(n, K, S + T, dtype=y.dtype, device=y.device)
    out[..., :S].zero_().scatter_add_(2, tokens.unsqueeze(1).expand(n, K, T), y)
    out[..., S:] = y
    return out


def _embed_T(x: torch.Tensor, tokens: torch.Tensor, S: int) -> torch.Tensor:
    """``x (n, K, S+T) → (n, K, T)``: ``x[s_j] + x[S + j]`` at every position ``j`` (adjoint of :func:`_embed`)."""
    n, K, _ = x.shape
    T = tokens.shape[1]
    return x[..., :S].gather(2, tokens.unsqueeze(1).expand(n, K, T)).add_(x[..., S:])


def _matvec(P: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``(P x)_i = Σ_j P[i, j] x_j`` for ``P (n, T, T)``, ``x (n, T)``."""
    return torch.bmm(x.unsqueeze(1), P.transpose(1, 2)).squeeze(1)


def _vecmat(x: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """``(xᵀ P)_j = Σ_i x_i P[i, j]`` for ``P (n, T, T)``, ``x (n, T)``."""
    return torch.bmm(x.unsqueeze(1), P).squeeze(1)


def _mm_wide(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x @ y`` computed as ``(yᵀ xᵀ)ᵀ``: several times faster on the CPU when ``y`` has few
    columns (``(n, d) @ (d, S)``, ``(d, n) @ (n, S)``)."""
    return torch.mm(y.t(), x.t()).t()


# -- a leading run axis (a model built with runs=R: seeds, graphs) --------------------------------
# With ``runs = G > 0`` the batch is ``G`` equal blocks of sequences, block ``g`` read by run
# ``g``'s parameters (``(G, a, b)``); ``runs = 0`` is one model (``(a, b)``), computed as before.
def _per_run_mm(x: torch.Tensor, M: torch.Tensor, runs: int, wide: bool = False) -> torch.Tensor:
    """``x @ M`` block by block: ``x (G·n, a)``, ``M (G, a, b)`` → ``(G·n, b)`` (``M (a, b)`` when ``runs = 0``)."""
    if not runs:
        return _mm_wide(x, M) if wide else x @ M
    xg = x.reshape(runs, -1, x.shape[-1])
    if wide:
        return torch.bmm(M.transpose(1, 2), xg.transpose(1, 2)).transpose(1, 2).reshape(-1, M.shape[-1])
    return torch.bmm(xg, M).reshape(-1, M.shape[-1])


def _per_run_tmm(x: torch.Tensor, y: torch.Tensor, runs: int) -> torch.Tensor:
    """``xᵀ y`` summed within each block: ``x (G·n, a)``, ``y (G·n, b)`` → ``(G, a, b)``."""
    return torch.bmm(x.reshape(runs, -1, x.shape[-1]).transpose(1, 2), y.reshape(runs, -1, y.shape[-1]))


# -- layer 1 ------------------------------------------------------------------------------------
def layer1_tables(A: torch.Tensor, S: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The score tables of one layer-1 head (chapter 3's bilinear scores on one-hot inputs):
    ``F (S·T, S)`` and ``G (S·T, T)`` (−∞ above the diagonal).

    Row ``a·T + i`` belongs to a query holding token ``a`` at position ``i``; its score on key
    ``j`` is ``F[row, s_j] + G[row, j]``.
    With a leading run axis, ``A (G, S+T, S+T)``, the tables are ``(G·S·T, S)`` and ``(G·S·T, T)``:
    run ``g``'s rows follow run ``g-1``'s.
    """
    above = _constants(S, T, A.device, A.dtype)[1]
    F = (A[..., :S, :S].unsqueeze(-2) + A[..., S:, :S].unsqueeze(-3)).reshape(-1, S)
    G = (A[..., :S, S:].unsqueeze(-2) + (A[..., S:, S:] + above).unsqueeze(-3)).reshape(-1, T)
    return F, G


def _layer1_attention(A: torch.Tensor, tokens: torch.Tensor, rows: torch.Tensor, S: int) -> torch.Tensor:
    """Layer-1 attention ``P (n, T, T)`` of one head, by table look-ups (no gradient tracking).

    ``rows = tokens·T + position`` indexes the tables of :func:`layer1_tables`. On the CPU the
    exponential is taken of the tables: ``exp(F + G − c) = exp(F − c_F)·exp(G − c_G)`` with ``c_G``
    the row maximum of ``G`` (every position ``j ≤ i`` is present, so it is the maximum over the
    keys) and ``c_F`` the midpoint of the row's range of ``F``. With ``δ = max F − min F``, the
    largest term of a row is at least ``e^{−δ/2}``, no term exceeds ``e^{δ/2}``, and a term whose
    ``exp(G − c_G)`` underflows float32 (below ``e^{−87}``) weighs less than ``e^{δ−87}`` of the
    largest: for ``δ ≤ 60`` that is below ``10⁻¹¹``, so the result is the softmax to float
    rounding. Rows with a larger spread (and other devices, where checking would cost a
    synchronisation) use the exact gather-then-softmax.
    """
    n, T = tokens.shape
    F, G = layer1_tables(A, S, T)
    key_tok = tokens.unsqueeze(1).expand(n, T, T)  # [n, i, j] = s_j
    r = rows.view(-1)
    if A.device.type == "cpu":
        fmin, fmax = torch.aminmax(F, dim=1, keepdim=True)
        if float((fmax - fmin).max()) <= _MAX_TABLE_SPREAD:
            eF = F.sub_(fmax.add_(fmin).mul_(0.5)).exp_()
            eG = G.sub_(G.amax(1, keepdim=True)).exp_()
            P = eF.index_select(0, r).view(n, T, S).gather(2, key_tok)
            P.mul_(eG.index_select(0, r).view(n, T, T))
            return P.div_(P.sum(-1, keepdim=True))
    scores = F.index_select(0, r).view(n, T, S).gather(2, key_tok)
    scores.add_(G.index_select(0, r).view(n, T, T))
    return torch.softmax(scores, dim=-1)


def _layer1_grad(
    dP: torch.Tensor, P: torch.Tensor, tokens: torch.Tensor, E: torch.Tensor, S: int, runs: int = 0
) -> torch.Tensor:
    """``∂L/∂A1`` of one head from ``dP = ∂L/∂P − ρ 1ᵀ`` (``(n, T, T)``; overwritten).

    The scores' gradient is ``dS = P ∘ dP`` and ``∂L/∂A1 = Σ_n X̃ᵀ dS X̃`` with ``X̃ = [E | I]``.
    With ``B = [dS E | dS]`` (``(n, T, S+T)``), one matrix product per query position ``i`` over
    the batch gives ``D[i, a, :] = Σ_n E[n, i, a] B[n, i, :]``; its sums over ``i`` and over ``a``
    are the token rows and the position rows of ``∂L/∂A1`` (per run when ``runs > 0``).
    """
    n, T, _ = P.shape
    dS = dP.mul_(P)
    B = torch.empty(n, T, S + T, dtype=P.dtype, device=P.device)
    B[..., S:] = dS
    B[..., :S].zero_().scatter_add_(2, tokens.unsqueeze(1).expand(n, T, T), dS)  # dS E
    if runs:  # run by run: each block is contiguous, so no copy is made
        m = n // runs
        return torch.stack([_layer1_grad_sums(E[g * m : (g + 1) * m], B[g * m : (g + 1) * m]) for g in range(runs)])
    return _layer1_grad_sums(E, B)


def _layer1_grad_sums(E: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``[Σ_i D[i] ; Σ_a D[:, a]]`` with ``D[i, a, :] = Σ_n E[n, i, a] B[n, i, :]`` (see :func:`_layer1_grad`)."""
    D = torch.bmm(E.permute(1, 2, 0), B.transpose(0, 1))  # (T, S, S+T)
    return torch.cat([D.sum(0), D.sum(1)], dim=0)


# -- two layers, hand-derived backward ------------------------------------------------------------
def _two_layer_forward(tokens: torch.Tensor, m1: int, W: torch.Tensor, A, runs: int = 0) -> tuple[torch.Tensor, list]:
    """Logits of a two-layer model, and the tensors the backward pass needs (``runs``: see
    :func:`_per_run_mm`; ``tokens (G·n, T)`` then, run by run)."""
    n, T = tokens.shape
    S = W.shape[-1]
    d0 = S + T
    K = 1 + m1  # blocks of width d0 in layer 1's output
    m2 = len(A) - m1
    pos, _, _, e_q = _constants(S, T, W.device, W.dtype)
    rows = tokens * T + pos  # (n, T): rows of the layer-1 tables
    if runs:  # run g's tables follow run g-1's
        rows = rows.view(runs, -1, T).add_((torch.arange(runs, device=W.device) * (S * T)).view(-1, 1, 1))
        rows = rows.view(n, T)
    Ps = [_layer1_attention(A[h], tokens, rows, S) for h in range(m1)]  # each (n, T, T)
    # Y holds the weight vectors behind h2 = [h1_Q ; out_1 ; …]: block (0, 0) is e_Q (the input
    # at Q), (0, 1+h) is P_h[Q]; (1+k, 0) is a_k and (1+k, 1+h) is P_hᵀ a_k.
    Y = torch.empty(n, 1 + m2, K, T, dtype=W.dtype, device=W.device)
    Y[:, 0, 0] = e_q
    for h, P in enumerate(Ps):
        Y[:, 0, 1 + h] = P[:, T - 1]
    h2 = torch.empty(n, 1 + m2, K, d0, dtype=W.dtype, device=W.device)
    hq = _embed(Y[:, 0], tokens, S, out=h2[:, 0]).view(n, K * d0)  # h1 at the query
    saved = []
    for k in range(m2):
        bw = _embed_T(_per_run_mm(hq, A[m1 + k], runs).view(n, K, d0), tokens, S)  # [b ; w_1 ; …] (n, K, T)
        scores = bw[:, 0].clone()
        Pws = []
        for h, P in enumerate(Ps):
            Pws.append(_matvec(P, bw[:, 1 + h]))
            scores += Pws[-1]
        a = torch.softmax(scores, dim=-1)  # (n, T)
        Y[:, 1 + k, 0] = a
        for h, P in enumerate(Ps):
            Y[:, 1 + k, 1 + h] = _vecmat(a, P)
        saved += [a, bw, *Pws]
    _embed(Y[:, 1:].reshape(n, m2 * K, T), tokens, S, out=h2[:, 1:].view(n, m2 * K, d0))
    h2 = h2.view(n, -1)
    return _per_run_mm(h2, W, runs, wide=True), [tokens, W, h2, *A, *Ps, *saved]


def _two_layer_backward(saved, m1: int, g: torch.Tensor, need, runs: int = 0) -> tuple:
    """Gradients ``(∂L/∂W, *∂L/∂A)`` from ``g = ∂L/∂logits``; ``need`` flags ``(W, *A)``."""
    tokens, W, h2 = saved[:3]
    n, T = tokens.shape
    S = W.shape[-1]
    d0 = S + T
    K = 1 + m1
    d1 = K * d0
    m2 = W.shape[-2] // d1 - 1
    A = saved[3 : 3 + m1 + m2]
    Ps = saved[3 + m1 + m2 : 3 + 2 * m1 + m2]
    per_k = saved[3 + 2 * m1 + m2 :]
    need_W, need_A = need[0], need[1:]
    need_A1 = any(need_A[:m1])
    dW = None
    if need_W:
        dW = _per_run_tmm(h2, g, runs) if runs else _mm_wide(h2.t(), g)
    if not any(need_A):
        return (dW,) + (None,) * (m1 + m2)
    gW = _per_run_mm(g, W.transpose(-1, -2), runs)
    dY = _embed_T(gW.view(n, (1 + m2) * K, d0), tokens, S).view(n, 1 + m2, K, T)  # ∂L/∂Y, direct
    hq = h2[:, :d1]
    dhq = torch.zeros(n, d1, dtype=g.dtype, device=g.device) if need_A1 else None  # via layer 2's scores
    # For each layer-1 head: ∂L/∂P_h − ρ 1ᵀ = Σ_r U[r] V[r]ᵀ − ρ 1ᵀ, plus the query row (below).
    U: list[list[torch.Tensor]] = [[] for _ in range(m1)]
    V: list[list[torch.Tensor]] = [[] for _ in range(m1)]
    rho = [torch.zeros(n, T, dtype=g.dtype, device=g.device) for _ in range(m1)]
    dA2: list[torch.Tensor | None] = [None] * m2
    for k in range(m2):
        a, bw, *Pws = per_k[k * (2 + m1) : (k + 1) * (2 + m1)]
        da = dY[:, 1 + k, 0].clone()
        for h, P in enumerate(Ps):
            dr = dY[:, 1 + k, 1 + h]  # ∂L/∂(P_hᵀ a)
            Pdr = _matvec(P, dr)
            da += Pdr
            if need_A1:
                U[h] += [a]
                V[h] += [dr]
                rho[h].addcmul_(a, Pdr)
        ds = a * (da - (a * da).sum(-1, keepdim=True))  # ∂L/∂scores2
        Z = torch.empty(n, K, T, dtype=g.dtype, device=g.device)
        Z[:, 0] = ds
        for h, P in enumerate(Ps):
            Z[:, 1 + h] = _vecmat(ds, P)
            if need_A1:
                U[h] += [ds]
                V[h] += [bw[:, 1 + h]]
                rho[h].addcmul_(ds, Pws[h])
        dv = _embed(Z, tokens, S).view(n, d1)  # ∂L/∂v
        if need_A[m1 + k]:
            dA2[k] = _per_run_tmm(hq, dv, runs) if runs else hq.t() @ dv
        if dhq is not None and runs:
            dhq.add_(_per_run_mm(dv, A[m1 + k].transpose(1, 2), runs))
        elif dhq is not None:
            dhq.addmm_(dv, A[m1 + k].t())
    dA1: list[torch.Tensor | None] = [None] * m1
    if dhq is not None:
        dq = _embed_T(dhq.view(n, K, d0), tokens, S).add_(dY[:, 0])  # ∂L/∂Y[:, 0]
        E = _constants(S, T, g.device, g.dtype)[2].index_select(0, tokens.view(-1)).view(n, T, S)
        for h, P in enumerate(Ps):
            if not need_A[h]:
                continue
            c = dq[:, 1 + h]  # ∂L/∂P_h[Q, :]
            rho[h][:, T - 1] += (P[:, T - 1] * c).sum(-1)
            Ucat = torch.stack(U[h] + [rho[h]], dim=2)  # (n, T, R+1)
            Vcat = torch.stack(V[h] + [torch.full_like(c, -1.0)], dim=1)  # (n, R+1, T)
            dP = torch.bmm(Ucat, Vcat)
            dP[:, T - 1] += c
            dA1[h] = _layer1_grad(dP, P, tokens, E, S, runs)
    return (dW, *dA1, *dA2)


class TwoLayerLogits(torch.autograd.Function):
    """Logits ``(n, S)`` of a two-layer disentangled transformer with any heads ``(m1, m2)`` (chapter 4).

    ``apply(tokens, m1, runs, W, *A)`` with ``A`` the ``m1`` layer-1 matrices then the ``m2`` layer-2
    matrices; ``runs = 0`` for one model, ``G`` for ``G`` runs (parameters ``(G, a, b)``,
    ``tokens (G·n, T)`` run by run). Parameters that need no gradient (staged training) skip
    their part of the backward.
    """

    @staticmethod
    def forward(ctx, tokens, m1, runs, W, *A):
        logits, saved = _two_layer_forward(tokens, m1, W, A, runs)
        ctx.m1, ctx.runs = m1, runs
        ctx.save_for_backward(*saved)
        return logits

    @staticmethod
    def backward(ctx, g):
        grads = _two_layer_backward(ctx.saved_tensors, ctx.m1, g.contiguous(), ctx.needs_input_grad[3:], ctx.runs)
        return (None, None, None, *grads)


class TwoLayerLoss(torch.autograd.Function):
    """Mean soft-label cross-entropy of a two-layer model (chapter 4), its gradient with respect to the logits,
    ``(softmax(logits)·Σ_s y_s − y)/n``, fused in.

    ``apply(tokens, labels, m1, runs, W, *A)``: the value of
    ``soft_cross_entropy_from_logits(model(tokens), labels)``; for ``G`` runs
    (``runs = G``, see :class:`TwoLayerLogits`) each run's mean, ``(G,)``.
    """

    @staticmethod
    def forward(ctx, tokens, labels, m1, runs, W, *A):
        logits, saved = _two_layer_forward(tokens, m1, W, A, runs)
        logp = torch.log_softmax(logits.t(), dim=0)  # (S, n): faster with the batch axis innermost
        lab = labels.t()
        if runs:
            loss = torch.mul(lab, logp).sum(0).view(runs, -1).sum(1).div_(-(tokens.shape[0] // runs))
        else:
            loss = torch.mul(lab, logp).sum().div_(-tokens.shape[0])
        ctx.m1, ctx.runs = m1, runs
        ctx.save_for_backward(logp, lab, *saved)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        logp, lab, *saved = ctx.saved_tensors
        if ctx.runs:  # one upstream gradient per run, for each of its sequences
            n = logp.shape[1] // ctx.runs
            scale = (grad_loss / n).repeat_interleave(n)
        else:
            scale = grad_loss / logp.shape[1]
        gT = logp.exp().mul_(lab.sum(0)).sub_(lab).mul_(scale)  # (S, n)
        grads = _two_layer_backward(saved, ctx.m1, gT.t().contiguous(), ctx.needs_input_grad[4:], ctx.runs)
        return (None, None, None, None, *grads)
