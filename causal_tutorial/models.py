"""The models the book trains and reads: each maps tokens to next-token logits, with its own loss.

Chapter 3 (``book/03_disentangled_transformer``) explains the disentangled transformer and builds
the induction head by hand; chapter 4 trains it. The reduced model is our reconstruction of the
simplified model of the paper's theory (its Algorithm 1), the standard transformer that of its Fig. 8.

Notation (chapter 3): ``S`` tokens, ``T`` positions, input ``x̃_i = [e_{s_i}; e_i] ∈ R^{S+T}``.
A layer with ``m`` heads maps ``h (n, T, d)`` to ``[h, attn(h; A_1), …, attn(h; A_m)]`` with
``attn(h; A) = softmax(mask(h A hᵀ)) h``, so widths grow ``d_l = d_{l-1} (1 + m_l)``. The output is
``softmax(h⁽ᴸ⁾_{T-1} W)``, read at the last position only.

Every model (:class:`DisentangledTransformer`, :class:`ReducedModel`, :class:`StandardTransformer`)
meets one contract:

* ``model(tokens)`` → logits ``(n, S)`` at the last position; ``tokens`` are always checked
  (shape ``(n, T)``, entries in ``0 … S-1``).
* ``model.loss(tokens, labels, reduction="mean")`` → the soft-label cross-entropy
  ``−Σ_s y_s log softmax(logits)_s`` (the training loop calls this and nothing else).
* ``model.run_with_cache(tokens)`` → ``(logits, cache)``: ``cache["attn", layer, head]``
  ``(n, T, T)`` and ``cache["resid", layer]`` ``(n, T, widths[layer])``, layers numbered from 1 as
  the book writes them (``A⁽¹⁾``, ``A⁽²⁾``; ``resid`` 0 is the embedding). It runs under whatever
  grad mode the caller has. ``model.attention(tokens)`` → ``{(layer, head): (n, T, T)}`` without
  gradients.
* ``model.head(layer, h=0)`` → that head's attention matrix, ``layer`` from 1;
  ``model.param_groups()`` → parameter names by group, for staged training.

**The run axis.** ``DisentangledTransformer(..., runs=R)`` and ``StandardTransformer(..., runs=R)`` are ``R``
independent models in one: every parameter has a leading axis of length ``R``, tokens are ``(R, n, T)``, logits
``(R, n, S)``, and ``loss`` gives one mean per run, ``(R,)``. Run ``r``'s loss depends only on run ``r``'s
parameters, so backpropagating the sum gives every run exactly its own gradient, and one SGD or AdamW step is ``R``
separate steps: seeds and graphs train at once (``python -m causal_tutorial run NAME --seeds R``, Fig. 9's
forests). ``Model.stack(models)`` builds one from separate models, ``model.unstack(r)`` gives run ``r`` back.

The disentangled transformer has two formulations of the same function:

* :meth:`DisentangledTransformer.run_with_cache` (and :meth:`~DisentangledTransformer.forward_plain`,
  its logits) — the readable one the book shows: one-hot inputs, full bilinear attention at every
  position, every layer at every position.
* :meth:`DisentangledTransformer.forward` and :meth:`~DisentangledTransformer.loss` — the fast path
  training uses (the private module ``causal_tutorial._fastpath``): layer-1 scores by gathers (the
  inputs are one-hot), and the last layer and the read-out only at the last position, the only one
  the loss reads, for two-layer models (every model of the paper; other depths use the readable one).
  ``tests/test_fastpath.py`` and ``tests/test_stacked.py`` prove both give the same logits and gradients, with
  and without a run axis.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import _fastpath
from ._fastpath import retain_freed_memory
from .checks import check_length, check_nonnegative_float, check_positive_int, check_tokens, check_vocab
from .estimators import soft_cross_entropy_from_logits
from .graphs import validate_parents

__all__ = [
    "DisentangledTransformer",
    "ReducedModel",
    "StandardTransformer",
    "induction_head",
    "block_slices",
    "retain_freed_memory",
]

Cache = dict  # {("attn", layer, head): (n, T, T), ("resid", layer): (n, T, d_layer)}

#: Sequences per run evaluated at once without gradients by a model with a run axis (``R·EVAL_CHUNK`` attention
#: maps in memory).
EVAL_CHUNK = 8192


def _causal_mask(T: int, device) -> torch.Tensor:
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def _masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


def _check_labels(labels, tokens: torch.Tensor, S: int) -> torch.Tensor:
    shape = (*tokens.shape[:-1], S)
    if not isinstance(labels, torch.Tensor) or tuple(labels.shape) != shape:
        raise ValueError(
            f"labels must be a tensor {'(R, n, S)' if len(shape) == 3 else '(n, S)'} = {shape} matching the tokens, "
            f"got {getattr(labels, 'shape', type(labels))}"
        )
    return labels


def _check_runs(runs) -> int | None:
    if runs is None:
        return None
    return check_positive_int("runs", runs, "the number of independent runs held along the leading axis")


class _Model(nn.Module):
    """What every model shares: ``head`` checks, ``attention`` from the cache, the plain loss, the run axis.

    Subclasses set ``S``, ``T``, ``heads`` (heads per layer) and ``widths``, and define
    ``run_with_cache``, ``_head`` and ``_kwargs`` (the constructor's arguments but ``runs``). The run axis
    (``runs=R``, :meth:`stack`, :meth:`unstack`) is described in the module docstring.
    """

    S: int
    T: int
    heads: tuple[int, ...]
    widths: list[int]
    runs: int | None = None

    def _head(self, layer: int, h: int) -> nn.Parameter:
        raise NotImplementedError

    def _kwargs(self) -> dict:  # pragma: no cover
        raise NotImplementedError

    def _check_head(self, layer: int, h: int) -> tuple[int, int]:
        L = len(self.heads)
        try:
            layer, h = operator.index(layer), operator.index(h)
        except TypeError as exc:
            raise TypeError(f"layer and h must be ints, got layer={layer!r}, h={h!r}") from exc
        if not 1 <= layer <= L:
            raise ValueError(
                f"layer must be in 1..{L} (layers are numbered from 1, as A⁽¹⁾, A⁽²⁾ in the book), got layer={layer}"
            )
        if not 0 <= h < self.heads[layer - 1]:
            raise ValueError(
                f"h must be in 0..{self.heads[layer - 1] - 1} (layer {layer} has "
                f"{self.heads[layer - 1]} head(s), numbered from 0), got h={h}"
            )
        return layer, h

    def head(self, layer: int, h: int = 0) -> nn.Parameter:
        """The attention matrix of head ``h`` (from 0) of layer ``layer`` (from 1, as ``A⁽¹⁾``, ``A⁽²⁾``
        in chapter 3); an error names the range when either is out of it. With a run axis, ``(R, d, d)``."""
        return self._head(*self._check_head(layer, h))

    # -- the run axis ------------------------------------------------------------------------
    def _per_run(self, p: torch.Tensor, batch_axes: int) -> torch.Tensor:
        """``p`` viewed to broadcast over ``batch_axes`` axes after the run axis (``p`` itself without runs)."""
        if self.runs is None:
            return p
        return p.view(p.shape[0], *([1] * batch_axes), *p.shape[1:])

    def _check_tokens(self, tokens) -> torch.Tensor:
        """``(n, T)`` tokens, or ``(R, n, T)`` with a run axis; entries in ``0 … S-1`` (int64 returned)."""
        if self.runs is None:
            return check_tokens(tokens, self.S, self.T)
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 3 or tokens.shape[0] != self.runs:
            shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(
                f"tokens must have shape (R={self.runs}, n, T={self.T}) for a model of {self.runs} runs, got {shape}"
            )
        return check_tokens(tokens.reshape(-1, tokens.shape[-1]), self.S, self.T).view(tokens.shape)

    @classmethod
    def stack(cls, models: Sequence[Any]) -> Any:
        """One model of ``R = len(models)`` runs holding copies of ``models``' parameters (same class and
        architecture, no run axis), on their device and in their dtype."""
        models = list(models)
        if not models or any(type(m) is not cls or m.runs is not None for m in models):
            raise ValueError(f"models must be a non-empty list of {cls.__name__} without a run axis")
        kw = models[0]._kwargs()
        if any(m._kwargs() != kw for m in models):
            raise ValueError(f"models must share one architecture; models[0] has {kw}")
        first = next(models[0].parameters())
        out = cls(**kw, runs=len(models)).to(first.device, first.dtype)
        with torch.no_grad():
            params = [dict(m.named_parameters()) for m in models]
            for name, p in out.named_parameters():
                p.copy_(torch.stack([ps[name] for ps in params]))
        return out

    def unstack(self, r: int) -> Any:
        """Run ``r``'s model (a copy of its parameters, without the run axis, on this model's device and dtype)."""
        if self.runs is None:
            raise ValueError("unstack needs a model with a run axis (built with runs=R)")
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < self.runs:
            raise ValueError(f"r must be an int in 0 … {self.runs - 1}, got r={r!r}")
        first = next(self.parameters())
        out = type(self)(**self._kwargs()).to(first.device, first.dtype)
        with torch.no_grad():
            mine = dict(self.named_parameters())
            for name, p in out.named_parameters():
                p.copy_(mine[name][r])
        return out

    # -- reading and the loss -------------------------------------------------------------------
    def run_with_cache(self, tokens: torch.Tensor) -> tuple[torch.Tensor, Cache]:  # pragma: no cover
        raise NotImplementedError

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(n, S)`` at the last position (``(R, n, S)`` with a run axis): :meth:`run_with_cache`'s."""
        return self.run_with_cache(tokens)[0]

    def attention(self, tokens: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
        """Every attention pattern, ``{(layer, head): (n, T, T)}`` (layers from 1, heads from 0; ``(R, n, T, T)``
        with a run axis), computed by :meth:`run_with_cache` without gradients (chapters 3 and 4 plot them)."""
        with torch.no_grad():
            cache = self.run_with_cache(tokens)[1]
        return {(k[1], k[2]): v for k, v in cache.items() if k[0] == "attn"}

    def loss(self, tokens: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The soft-label cross-entropy ``−Σ_s y_s log softmax(logits)_s`` of ``labels (n, S)``
        (chapter 1's loss; chapter 4 trains on it): its mean over the batch (a 0-d tensor) with
        ``reduction="mean"``, the per-sequence losses ``(n,)`` with ``"none"``. With a run axis:
        ``labels (R, n, S)``, one mean per run ``(R,)`` or the losses ``(R, n)``."""
        tokens = self._check_tokens(tokens)
        labels = _check_labels(labels, tokens, self.S)
        return self._reduce(self(tokens), labels, reduction)

    def _reduce(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str) -> torch.Tensor:
        if self.runs is None:
            return soft_cross_entropy_from_logits(logits, labels, reduction=reduction)
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none' for a model with a run axis, got {reduction!r}")
        per = soft_cross_entropy_from_logits(logits, labels, reduction="none")  # (R, n)
        return per.mean(-1) if reduction == "mean" else per


# =============================================================================================
class DisentangledTransformer(_Model):
    """The disentangled transformer of the paper (chapter 3; chapter 4 trains it).

    Args:
        S: vocabulary size (an int ≥ 2). T: sequence length (an int ≥ 3; the read-out is at
            position ``T-1``).
        heads: heads per layer, positive ints, e.g. ``(1, 1)`` (two layers, one head each) or ``(2, 1)``.
        init_std: 0 for the zero initialisation of the single-parent runs; otherwise every ``A``
            is drawn ``init_std · N(0, 1)`` and ``W`` starts at zero (the multi-parent runs).
        generator: the ``torch.Generator`` for a random initialisation.
        runs: ``None`` for one model, or ``R`` for ``R`` independent models along a leading run axis
            (the module docstring's run axis; ``DisentangledTransformer.stack(models)`` builds one from models).

    Parameters: ``A[k]`` of shape ``(d_l, d_l)`` (head ``k`` in layer order; read them as
    :meth:`~DisentangledTransformer.head` ``(layer, h)``) and ``W (d_L, S)``, each with a leading ``R`` given
    ``runs``; ``widths`` is ``[d_0, …, d_L]``.

    One model, two formulations of its function: ``run_with_cache`` (and ``forward_plain``) is the readable one,
    the reference; ``forward`` and ``loss`` (with ``reduction="mean"``) run the fast path for two-layer models
    (every model of the paper), tested against it, and the readable one for other depths.
    """

    def __init__(
        self,
        S: int,
        T: int,
        heads: Sequence[int] = (1, 1),
        init_std: float = 0.0,
        generator: torch.Generator | None = None,
        runs: int | None = None,
    ):
        super().__init__()
        self.S = check_vocab(S)
        self.T = check_length(T)
        self.heads = _check_heads(heads)
        self.init_std = check_nonnegative_float("init_std", init_std)
        self.runs = _check_runs(runs)
        lead = () if self.runs is None else (self.runs,)
        self.widths = [S + T]
        for m in self.heads:
            self.widths.append(self.widths[-1] * (1 + m))
        self.A = nn.ParameterList()
        for l, m in enumerate(self.heads):
            d = self.widths[l]
            for _ in range(m):
                a = torch.zeros(*lead, d, d)
                if self.init_std > 0:
                    a = self.init_std * torch.randn(*lead, d, d, generator=generator)
                self.A.append(nn.Parameter(a))
        self.W = nn.Parameter(torch.zeros(*lead, self.widths[-1], S))

    def _kwargs(self) -> dict:
        return {"S": self.S, "T": self.T, "heads": self.heads, "init_std": self.init_std}

    # -- parameter access -------------------------------------------------------------------
    def _head(self, layer: int, h: int) -> nn.Parameter:
        return self.A[sum(self.heads[: layer - 1]) + h]

    def param_groups(self) -> dict[str, list[str]]:
        """Parameter names by layer, for staged training (chapter 4): ``{"A1": [...], "A2": [...], "W": ["W"]}``."""
        out: dict[str, list[str]] = {}
        k = 0
        for l, m in enumerate(self.heads):
            out[f"A{l + 1}"] = [f"A.{k + h}" for h in range(m)]
            k += m
        out["W"] = ["W"]
        return out

    def config(self) -> dict:
        """What rebuilds the architecture (saved with checkpoints, chapter 4)."""
        out = {"model": "disentangled", "S": self.S, "T": self.T, "heads": list(self.heads)}
        return out if self.runs is None else {**out, "runs": self.runs}

    def _fast_parameters(self) -> tuple[tuple[int, ...], nn.Parameter, tuple[nn.Parameter, ...]]:
        """``(heads, W, A)``: all the fast path (``causal_tutorial._fastpath``) reads of the model's
        parameters, ``A`` every attention matrix in layer order (layer 1's heads, then layer 2's, …)."""
        return self.heads, self.W, tuple(self.A)

    # -- the readable formulation -------------------------------------------------------------
    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``x̃ (n, T, S+T)``: one-hot token ⊕ one-hot position (chapter 3); ``(R, n, T, S+T)`` with runs."""
        T = tokens.shape[-1]
        tok = F.one_hot(tokens, self.S).to(self.W.dtype)
        pos = torch.eye(T, dtype=self.W.dtype, device=tokens.device).expand(*tokens.shape, T)
        return torch.cat([tok, pos], dim=-1)

    def run_with_cache(self, tokens: torch.Tensor) -> tuple[torch.Tensor, Cache]:
        """Logits ``(n, S)`` and every intermediate, computed the readable way (chapter 3).

        Every layer at every position: ``h⁽⁰⁾ = x̃``, ``h⁽ˡ⁾ = [h⁽ˡ⁻¹⁾, attn(h⁽ˡ⁻¹⁾; A⁽ˡ⁾_1), …]``,
        logits ``h⁽ᴸ⁾_{T-1} W``. The cache holds ``("attn", l, h)`` (``(n, T, T)``, causal, rows
        summing to 1) and ``("resid", l)`` = ``h⁽ˡ⁾`` (``(n, T, widths[l])``), ``l`` from 1 for
        attention and from 0 (the embedding) for the residual stream, so
        ``cache["resid", L][:, -1] @ W`` are the logits. With a run axis every entry has a leading ``R``.
        Runs under the caller's grad mode (wrap it in ``torch.no_grad()`` to only read it, as
        :meth:`~DisentangledTransformer.attention` does).
        """
        tokens = self._check_tokens(tokens)
        h = self.embed(tokens)
        mask = _causal_mask(self.T, tokens.device)
        cache: Cache = {("resid", 0): h}
        k = 0
        for l, m in enumerate(self.heads, start=1):
            outs = [h]
            for j in range(m):
                A = self._per_run(self.A[k], 1)
                k += 1
                scores = h @ A @ h.transpose(-1, -2)  # (n, T, T)
                att = _masked_softmax(scores, mask)
                cache["attn", l, j] = att
                outs.append(att @ h)
            h = torch.cat(outs, dim=-1)
            cache["resid", l] = h
        logits = h[..., -1, :] @ self.W
        return logits, cache

    def forward_plain(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(n, S)`` at the last position, computed the readable way (chapter 3): the logits
        of :meth:`run_with_cache`. ``tests/test_fastpath.py`` compares :meth:`forward` with it."""
        return self.run_with_cache(tokens)[0]

    # -- the fast path ------------------------------------------------------------------------
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(n, S)`` at the last position (``(R, n, S)`` with runs): the function of :meth:`forward_plain`.

        For two layers by the fast path (chapter 4): layer 1 by table look-ups (the inputs are one-hot),
        the last layer and the read-out at the query position only, and a hand-derived backward pass.
        """
        tokens = self._check_tokens(tokens)
        if len(self.heads) != 2:
            return self.run_with_cache(tokens)[0]
        return _fastpath.fast_logits(self, tokens)

    def loss(self, tokens: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The soft-label cross-entropy ``−Σ_s y_s log softmax(logits)_s`` (chapters 1 and 4).

        With ``reduction="mean"`` (what training calls) its mean over the batch, for two-layer models by the
        fused fast path: the loss and its gradient with respect to the logits are fused into the hand-derived
        backward pass. With ``"none"``, the per-sequence losses ``(n,)`` of :meth:`forward`'s logits. With a
        run axis, one mean per run ``(R,)`` (evaluated in chunks of ``EVAL_CHUNK`` sequences without
        gradients, so that many runs' test sets fit in memory) or ``(R, n)``.
        """
        tokens = self._check_tokens(tokens)
        labels = _check_labels(labels, tokens, self.S)
        if reduction != "mean" or len(self.heads) != 2:
            return self._reduce(self(tokens), labels, reduction)
        if self.runs is None or torch.is_grad_enabled():
            return _fastpath.fast_loss(self, tokens, labels)
        n = tokens.shape[1]
        parts = [
            _fastpath.fast_loss(self, tokens[:, lo : lo + EVAL_CHUNK], labels[:, lo : lo + EVAL_CHUNK])
            * min(EVAL_CHUNK, n - lo)
            for lo in range(0, n, EVAL_CHUNK)
        ]
        return torch.stack(parts).sum(0) / n


def _check_heads(heads) -> tuple[int, ...]:
    rule = "heads must be a non-empty sequence of positive ints, the heads of each layer, e.g. (1, 1)"
    try:
        out = tuple(operator.index(m) for m in heads)
    except TypeError as exc:
        raise TypeError(f"{rule}; got heads={heads!r}") from exc
    if not out or any(m < 1 for m in out):
        raise ValueError(f"{rule}; got heads={heads!r}")
    return out


def block_slices(S: int, T: int, heads: Sequence[int], layer: int) -> list[tuple[str, slice]]:
    """Named blocks of layer ``layer``'s input width (1-indexed), for labelling heatmaps (chapter 3).

    Layer 1's input is ``[tok | pos]``; each head appends its own ``[tok | pos | …]`` copy of the
    previous stream, so names nest: ``"L1h0·tok"`` is the token part of layer-1 head 0's output.
    """
    names = [("tok", slice(0, S)), ("pos", slice(S, S + T))]
    for l in range(layer - 1):
        d = names[-1][1].stop
        new = list(names)
        for h in range(heads[l]):
            off = d * (h + 1)
            new += [(f"L{l + 1}h{h}·{nm}", slice(s.start + off, s.stop + off)) for nm, s in names]
        names = new
    return names


def induction_head(
    S: int, T: int, parents: Sequence[int], beta: float = 20.0, c: float = 5.0, mask_roots: bool = True
) -> DisentangledTransformer:
    """The induction head built by hand (chapter 3): a heads-(1, 1) disentangled transformer.

    * Layer 1 (position × position block): ``A1[S+i, S+p(i)] = β`` — each child attends to its parent
      and copies the parent's token into its own layer-1 output.
    * Layer 2 (query token × layer-1 token output): ``A2[s, d0 + s] = β`` — the query attends to
      positions whose *parent token* equals the query token. With ``mask_roots`` the query's
      position row also gets ``-β`` on roots and on itself (they have no parent to match).
    * Read-out: ``W`` maps the token part of layer 2's average of ``x̃`` to the logits, times ``c``.

    As ``β → ∞`` layer 2's output becomes the matching-children average ``v`` and the prediction
    ``softmax(c·v)``, whose best loss over ``c`` is the read-out floor.
    """
    p = validate_parents(parents, T)
    model = DisentangledTransformer(S, T, heads=(1, 1))
    d0 = S + T
    with torch.no_grad():
        A1 = model.head(1)
        for i, pi in enumerate(p):
            if pi >= 0:
                A1[S + i, S + pi] = beta
        A2 = model.head(2)
        for s in range(S):
            A2[s, d0 + s] = beta
        if mask_roots:
            for j in [i for i, pi in enumerate(p) if pi < 0] + [T - 1]:
                A2[S + T - 1, S + j] = -beta
        d1 = 2 * d0
        for s in range(S):
            model.W[d1 + s, s] = c
    return model


# =============================================================================================
class ReducedModel(_Model):
    """The reduced model of the theory (the paper's Algorithm 1; our reconstruction).

    Layer 1 attends by position only (``A1 (T, T)``), so ``ê_i = Σ_j softmax(A1)_{ij} e_{s_j}``;
    layer 2 scores position ``j`` by ``e_{s_i}ᵀ A2 ê_j`` (``A2 (S, S)``; the prediction reads the
    query ``i = T-1``), and the prediction is the attention-weighted average ``f`` of one-hot
    tokens, mixed with ``eps`` of the uniform law so the log loss stays finite.

    Its logits are log-probabilities: ``forward`` returns ``log((1 - eps) f + eps / S)``, so
    ``softmax(logits)`` is the prediction itself (its rows already sum to 1).

    The **prior position** (``prior_weight = w > 0``; beyond the paper, off by default) adds to
    layer 2 one virtual position that every query ``i`` can attend to: a pseudo-observation "``s_i``
    followed by a uniformly drawn token" of weight ``w``. Its layer-1 output is ``e_{s_i}`` (so its
    score is ``A2[s_i, s_i] + log w``) and its value is the uniform law ``1/S``. With ``A2 = β I`` and
    ``β → ∞`` the query then puts weight ``w / (n + w)`` on the uniform law and ``1 / (n + w)`` on each
    of its ``n`` matching positions: with ``w = S α`` this is the in-context estimator's Dirichlet
    smoothing ``(count + α) / (n + S α)``, which the paper's reduced model (``w = 0``) cannot express.

    Args:
        S: vocabulary size (an int ≥ 2). T: sequence length (an int ≥ 3).
        beta0: the initial ``A2 = beta0 · I`` (a finite number ≥ 0); ``A1`` starts at zero.
        eps: the weight of the uniform law, ``0 < eps < 1``.
        prior_weight: the prior position's weight ``w`` (a finite number ≥ 0; 0, the default, is the
            paper's model without it).

    Cache of :meth:`run_with_cache`: ``resid`` 0 the one-hot tokens ``(n, T, S)``, ``resid`` 1 the
    layer-1 output ``ê`` ``(n, T, S)``, ``resid`` 2 layer 2's average of one-hot tokens at every
    position ``(n, T, S)`` (the query's row is ``f``, the prior position's share included); ``attn`` 1
    is the position-only pattern expanded to ``(n, T, T)``, ``attn`` 2 the layer-2 pattern of every
    position over the real positions (causal; with a prior position its rows sum to one minus the
    prior position's weight, which is ``("prior", 2)`` ``(n, T)``).
    """

    def __init__(self, S: int, T: int, beta0: float = 0.1, eps: float = 1e-3, prior_weight: float = 0.0):
        super().__init__()
        self.S = check_vocab(S)
        self.T = check_length(T)
        beta0 = check_nonnegative_float("beta0", beta0)
        self.prior_weight = check_nonnegative_float("prior_weight", prior_weight)
        rule = "eps (the weight of the uniform law) must be a number with 0 < eps < 1"
        try:
            self.eps = float(eps)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{rule}, got eps={eps!r}") from exc
        if isinstance(eps, bool) or not 0 < self.eps < 1:
            raise ValueError(f"{rule}, got eps={eps!r}")
        self.heads = (1, 1)
        self.widths = [S, S, S]
        self.A1 = nn.Parameter(torch.zeros(T, T))
        self.A2 = nn.Parameter(beta0 * torch.eye(S))

    def _head(self, layer: int, h: int) -> nn.Parameter:
        return self.A1 if layer == 1 else self.A2

    def param_groups(self) -> dict[str, list[str]]:
        """Parameter names by layer, for staged training (the paper's Algorithm 1): ``{"A1": ["A1"], "A2": ["A2"]}``."""
        return {"A1": ["A1"], "A2": ["A2"]}

    def config(self) -> dict:
        """What rebuilds the architecture (saved with checkpoints)."""
        return {"model": "reduced", "S": self.S, "T": self.T, "prior_weight": self.prior_weight}

    def layer1(self) -> torch.Tensor:
        """Layer 1's position-only attention ``softmax(mask(A1))`` ``(T, T)`` (the paper's Algorithm 1)."""
        return _masked_softmax(self.A1, _causal_mask(self.T, self.A1.device))

    def run_with_cache(self, tokens: torch.Tensor) -> tuple[torch.Tensor, Cache]:
        """Logits ``(n, S)`` (the log-probabilities ``log((1 - eps) f + eps / S)``) and every
        intermediate (the paper's Algorithm 1; the cache is described in the class docstring). Runs under the
        caller's grad mode."""
        tokens = check_tokens(tokens, self.S, self.T)
        n, T = tokens.shape
        onehot = F.one_hot(tokens, self.S).to(self.A1.dtype)  # (n, T, S)
        P1 = self.layer1()  # (T, T)
        e_hat = torch.einsum("ij,njs->nis", P1, onehot)  # (n, T, S)
        scores = torch.einsum("nis,st,njt->nij", onehot, self.A2, e_hat)  # (n, T, T)
        mask = _causal_mask(T, tokens.device)
        if self.prior_weight > 0:
            # The prior position: its layer-1 output is the query's own token, its value the uniform
            # law, its log-weight log(w), so its score is A2[s_i, s_i] + log(w).
            prior_score = onehot @ self.A2.diagonal() + math.log(self.prior_weight)  # (n, T)
            both = torch.cat([scores.masked_fill(~mask, float("-inf")), prior_score.unsqueeze(-1)], -1)
            att_all = torch.softmax(both, dim=-1)
            att, prior = att_all[..., :T], att_all[..., T]
            f_all = att @ onehot + prior.unsqueeze(-1) / self.S
        else:
            att = _masked_softmax(scores, mask)
            prior = None
            f_all = att @ onehot  # (n, T, S)
        probs = (1 - self.eps) * f_all[:, -1] + self.eps / self.S
        cache: Cache = {
            ("resid", 0): onehot,
            ("attn", 1, 0): P1.expand(n, T, T),
            ("resid", 1): e_hat,
            ("attn", 2, 0): att,
            ("resid", 2): f_all,
        }
        if prior is not None:
            cache["prior", 2] = prior
        return probs.log(), cache


# =============================================================================================
class StandardTransformer(_Model):
    """A standard transformer, built as the paper's research code builds it for its Fig. 8.

    Token and position embeddings ``N(0, 1/d)``, **added** and **trained**; width ``d`` (``S + T`` by
    default, 30 for the paper's ``S = 10``, ``T = 20``). Each layer is one residual update
    ``h ← h + MLP(softmax(mask(h A hᵀ)) h V)``: attention with a bilinear ``A`` that starts at
    **zero** (so its first pattern is the causal average), values ``V ~ N(0, 1/d)``, then a ReLU MLP
    ``d → d → d`` whose first layer starts ``N(0, 1/d)`` and whose **last layer starts at zero**
    (biases zero). The MLP is µP-style scaled as in the research code: a layer ``n_in → n_out``
    applies ``x (W √(n_out/n_in)) + b √n_out`` with stored ``W ~ N(0, 1/n_out)``; for these square
    layers that is ``x W + b √d``, so a bias's step is ``√d`` times larger in effect. The read-out
    ``W`` starts at zero, so the first prediction is uniform. Logits ``h_{T-1} W``, read at the last
    position. One head per layer: :meth:`~StandardTransformer.head` ``(l)`` is ``A[l-1]``.

    Args:
        S: vocabulary size (an int ≥ 2). T: sequence length (an int ≥ 3).
        d: the width (a positive int; ``None`` for ``S + T``). layers: the number of layers (a positive int).
        generator: the ``torch.Generator`` for the random initial weights.

    Cache of :meth:`run_with_cache`: ``resid`` 0 the embedding ``(n, T, d)``, ``resid`` ``l`` the
    stream after layer ``l``, ``attn`` ``(l, 0)`` layer ``l``'s pattern.
    """

    def __init__(
        self,
        S: int,
        T: int,
        d: int | None = None,
        layers: int = 2,
        generator: torch.Generator | None = None,
        runs: int | None = None,
    ):
        super().__init__()
        self.S = check_vocab(S)
        self.T = check_length(T)
        self.d = S + T if d is None else check_positive_int("d", d, "the width")
        d = self.d
        layers = check_positive_int("layers", layers, "the number of layers")
        self.runs = _check_runs(runs)
        lead = () if self.runs is None else (self.runs,)
        self.heads = (1,) * layers
        self.widths = [d] * (layers + 1)

        def normal(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.randn(*lead, *shape, generator=generator) / math.sqrt(d))

        def zeros(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.zeros(*lead, *shape))

        self.A = nn.ParameterList([zeros(d, d) for _ in range(layers)])
        self.V = nn.ParameterList()
        self.mlp = nn.ModuleList()
        for _ in range(layers):
            self.V.append(normal(d, d))
            self.mlp.append(_MuMLP(normal(d, d), zeros(d, d), zeros(d), zeros(d)))
        self.W = zeros(d, S)
        self.tok_emb = normal(S, d)
        self.pos_emb = normal(T, d)

    def _kwargs(self) -> dict:
        return {"S": self.S, "T": self.T, "d": self.d, "layers": len(self.A)}

    def _head(self, layer: int, h: int) -> nn.Parameter:
        return self.A[layer - 1]

    def param_groups(self) -> dict[str, list[str]]:
        """Parameter names by kind and layer (the paper's Fig. 8): ``"A1", "A2", …`` (attention), ``"V1", …``
        (values), ``"mlp1", …`` (each layer's MLP weights and biases), ``"W"`` (the read-out) and
        ``"embed"`` (the token and position embeddings)."""
        out: dict[str, list[str]] = {}
        for name, _ in self.named_parameters():
            kind, *rest = name.split(".")
            if kind in ("tok_emb", "pos_emb"):
                key = "embed"
            else:
                key = kind if not rest else f"{kind}{int(rest[0]) + 1}"
            out.setdefault(key, []).append(name)
        return out

    def config(self) -> dict:
        """What rebuilds the architecture (saved with checkpoints)."""
        out = {"model": "standard", "S": self.S, "T": self.T, "d": self.d, "layers": len(self.A)}
        return out if self.runs is None else {**out, "runs": self.runs}

    def run_with_cache(self, tokens: torch.Tensor) -> tuple[torch.Tensor, Cache]:
        """Logits ``(n, S)`` and every intermediate (the paper's Fig. 8; the cache is described in the class
        docstring; with a run axis every entry has a leading ``R``). Runs under the caller's grad mode."""
        tokens = self._check_tokens(tokens)
        if self.runs is None:
            h = self.tok_emb[tokens] + self.pos_emb
        else:  # run r looks its tokens up in its own embedding
            run = torch.arange(self.runs, device=tokens.device).view(-1, 1, 1)
            h = self.tok_emb[run, tokens] + self._per_run(self.pos_emb, 1)
        mask = _causal_mask(self.T, tokens.device)
        cache: Cache = {("resid", 0): h}
        for l, (A, V, mlp) in enumerate(zip(self.A, self.V, self.mlp), start=1):
            att = _masked_softmax(h @ self._per_run(A, 1) @ h.transpose(-1, -2), mask)
            cache["attn", l, 0] = att
            h = h + mlp(att @ h @ self._per_run(V, 1), self._per_run)
            cache["resid", l] = h
        return h[..., -1, :] @ self.W, cache


class _MuMLP(nn.Module):
    """The standard transformer's MLP ``d → d → d``: ``relu(x W1 + b1 √d) W2 + b2 √d`` (µP-style scaled
    biases, as the research code has them; weights and biases are the stored parameters, with the model's run axis
    if it has one)."""

    def __init__(self, W1: nn.Parameter, W2: nn.Parameter, b1: nn.Parameter, b2: nn.Parameter):
        super().__init__()
        self.W1, self.W2, self.b1, self.b2 = W1, W2, b1, b2

    def forward(self, x: torch.Tensor, per_run) -> torch.Tensor:
        """``x (…, n, T, d)``; ``per_run(p, k)`` views a parameter to broadcast over ``k`` batch axes."""
        d1, d2 = self.b1.shape[-1], self.b2.shape[-1]
        h = torch.relu(x @ per_run(self.W1, 1) + per_run(self.b1, 2) * math.sqrt(d1))
        return h @ per_run(self.W2, 1) + per_run(self.b2, 2) * math.sqrt(d2)
