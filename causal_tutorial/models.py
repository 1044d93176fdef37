"""The models: the disentangled transformer, the hand-built induction head, the reduced model of the
theory, and a standard transformer.

Chapter 3 (``book/03_disentangled_transformer``) explains the disentangled transformer and builds
the induction head by hand; chapter 5 uses the reduced model; chapter 8 the standard transformer.

Notation (DESIGN 2.4): ``S`` tokens, ``T`` positions, input ``x̃_i = [e_{s_i}; e_i] ∈ R^{S+T}``.
A layer with ``m`` heads maps ``h (n, T, d)`` to ``[h, attn(h; A_1), …, attn(h; A_m)]`` with
``attn(h; A) = softmax(mask(h A hᵀ)) h``, so widths grow ``d_l = d_{l-1} (1 + m_l)``. The output is
``softmax(h⁽ᴸ⁾_{T-1} W)``, read at the last position only.

Two formulations of the same function live here:

* :meth:`DisentangledTransformer.forward_plain` — the readable one the book shows: one-hot inputs,
  full bilinear attention at every position, every layer at every position.
* :meth:`DisentangledTransformer.forward` — the fast path training uses: layer-1 scores by
  gathers (the inputs are one-hot), and the last layer and the read-out only at the last position,
  the only one the loss reads. ``tests/test_models.py`` proves both give the same logits and gradients.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .graphs import validate_parents
from .tasks import check_vocab

__all__ = [
    "DisentangledTransformer",
    "ReducedModel",
    "StandardTransformer",
    "induction_head",
    "block_slices",
    "check_model_matches_data",
]


def _causal_mask(T: int, device) -> torch.Tensor:
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def _masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


def check_model_matches_data(model: nn.Module, tokens: torch.Tensor) -> None:
    """Raise a clear error when ``tokens`` do not fit the model's ``S`` and ``T``."""
    if tokens.dim() != 2:
        raise ValueError(f"tokens must have shape (n, T), got {tuple(tokens.shape)}")
    if tokens.shape[1] != model.T:
        raise ValueError(f"tokens have T={tokens.shape[1]} positions but the model was built for T={model.T}")
    if tokens.numel() and (int(tokens.max()) >= model.S or int(tokens.min()) < 0):
        raise ValueError(f"tokens must lie in 0..S-1 = 0..{model.S - 1} for this model (S={model.S})")


class DisentangledTransformer(nn.Module):
    """The disentangled transformer of the paper (DESIGN 2.4; chapter 3).

    Args:
        S: vocabulary size. T: sequence length (the read-out is at position ``T-1``).
        heads: heads per layer, e.g. ``(1, 1)`` (two layers, one head each) or ``(2, 1)``.
        init_std: 0 for the zero initialisation of the single-parent runs; otherwise every ``A``
            is drawn ``init_std · N(0, 1)`` and ``W`` starts at zero (the multi-parent runs).
        generator: the ``torch.Generator`` for a random initialisation.

    Parameters: ``A[l][h]`` of shape ``(d_l, d_l)`` (layer ``l``'s input width) and ``W (d_L, S)``.
    """

    def __init__(self, S: int, T: int, heads: Sequence[int] = (1, 1), init_std: float = 0.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.S = check_vocab(S)
        if isinstance(T, bool) or not isinstance(T, int) or T < 2:
            raise ValueError(f"T must be an int >= 2, got T={T!r}")
        self.T = T
        heads = tuple(int(m) for m in heads)
        if not heads or any(m < 1 for m in heads):
            raise ValueError(f"heads must be a non-empty list of positive head counts per layer, got {heads}")
        if not math.isfinite(init_std) or init_std < 0:
            raise ValueError(f"init_std must be a finite number >= 0, got {init_std}")
        self.heads = heads
        self.widths = [S + T]
        for m in heads:
            self.widths.append(self.widths[-1] * (1 + m))
        self.A = nn.ParameterList()
        for l, m in enumerate(heads):
            d = self.widths[l]
            for _ in range(m):
                a = torch.zeros(d, d)
                if init_std > 0:
                    a = init_std * torch.randn(d, d, generator=generator)
                self.A.append(nn.Parameter(a))
        self.W = nn.Parameter(torch.zeros(self.widths[-1], S))

    # -- parameter access -------------------------------------------------------------------
    def head(self, layer: int, h: int = 0) -> nn.Parameter:
        """The attention matrix of head ``h`` of layer ``layer`` (both 0-indexed)."""
        return self.A[sum(self.heads[:layer]) + h]

    def param_groups(self) -> dict[str, list[str]]:
        """Parameter names by layer, for staged training: ``{"A1": [...], "A2": [...], "W": ["W"]}``."""
        out: dict[str, list[str]] = {}
        k = 0
        for l, m in enumerate(self.heads):
            out[f"A{l + 1}"] = [f"A.{k + h}" for h in range(m)]
            k += m
        out["W"] = ["W"]
        return out

    def config(self) -> dict:
        return {"model": "disentangled", "S": self.S, "T": self.T, "heads": list(self.heads)}

    # -- the readable formulation -------------------------------------------------------------
    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``x̃ (n, T, S+T)``: one-hot token ⊕ one-hot position."""
        n, T = tokens.shape
        tok = F.one_hot(tokens, self.S).to(self.W.dtype)
        pos = torch.eye(T, dtype=self.W.dtype, device=tokens.device).expand(n, T, T)
        return torch.cat([tok, pos], dim=-1)

    def forward_plain(self, tokens: torch.Tensor, return_attention: bool = False):
        """Logits ``(n, S)`` at the last position, computed the readable way (every position).

        With ``return_attention=True`` also returns ``{(layer, head): (n, T, T)}`` (1-indexed layers).
        """
        check_model_matches_data(self, tokens)
        h = self.embed(tokens)
        mask = _causal_mask(self.T, tokens.device)
        attn_maps = {}
        k = 0
        for l, m in enumerate(self.heads):
            outs = [h]
            for j in range(m):
                A = self.A[k]
                k += 1
                scores = h @ A @ h.transpose(1, 2)  # (n, T, T)
                att = _masked_softmax(scores, mask)
                attn_maps[(l + 1, j)] = att
                outs.append(att @ h)
            h = torch.cat(outs, dim=-1)
        logits = h[:, -1] @ self.W
        return (logits, attn_maps) if return_attention else logits

    def attention(self, tokens: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
        """Every attention pattern, ``{(layer, head): (n, T, T)}``, layers numbered from 1."""
        with torch.no_grad():
            return self.forward_plain(tokens, return_attention=True)[1]

    # -- the fast path ------------------------------------------------------------------------
    def forward(self, tokens: torch.Tensor, check: bool = False) -> torch.Tensor:
        """Logits ``(n, S)`` at the last position: the fast path (same function as :meth:`forward_plain`).

        Delegates to :func:`causal_tutorial.fastpath.fast_logits`: layer 1 by table look-ups (the
        inputs are one-hot), the last layer and the read-out at the query position only, and for
        two-layer models a hand-derived backward pass.
        """
        from .fastpath import fast_logits

        if check:
            check_model_matches_data(self, tokens)
        return fast_logits(self, tokens)


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


def induction_head(S: int, T: int, parents: Sequence[int], beta: float = 20.0, c: float = 5.0,
                   mask_roots: bool = True) -> DisentangledTransformer:
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
        A1 = model.A[0]
        for i, pi in enumerate(p):
            if pi >= 0:
                A1[S + i, S + pi] = beta
        A2 = model.A[1]
        for s in range(S):
            A2[s, d0 + s] = beta
        if mask_roots:
            for j in [i for i, pi in enumerate(p) if pi < 0] + [T - 1]:
                A2[S + T - 1, S + j] = -beta
        d1 = 2 * d0
        for s in range(S):
            model.W[d1 + s, s] = c
    return model


class ReducedModel(nn.Module):
    """The reduced model of the theory (DESIGN 2.5; chapter 5; our reconstruction).

    Layer 1 attends by position only (``A1 (T, T)``), so ``ê_i = Σ_j softmax(A1)_{ij} e_{s_j}``;
    layer 2 scores position ``j`` by ``e_{s_{T-1}}ᵀ A2 ê_j`` (``A2 (S, S)``) and the prediction is the
    attention-weighted average of one-hot tokens, mixed with ``eps`` of the uniform law so the log
    loss stays finite. ``forward`` returns *probabilities*, not logits.
    """

    returns_probs = True

    def __init__(self, S: int, T: int, beta0: float = 0.1, eps: float = 1e-3):
        super().__init__()
        self.S = check_vocab(S)
        self.T = T
        self.eps = float(eps)
        self.A1 = nn.Parameter(torch.zeros(T, T))
        self.A2 = nn.Parameter(beta0 * torch.eye(S))

    def config(self) -> dict:
        return {"model": "reduced", "S": self.S, "T": self.T}

    def layer1(self) -> torch.Tensor:
        return _masked_softmax(self.A1, _causal_mask(self.T, self.A1.device))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(tokens, self.S).to(self.A1.dtype)  # (n, T, S)
        e_hat = torch.einsum("ij,njs->nis", self.layer1(), onehot)  # (n, T, S)
        q = onehot[:, -1]  # (n, S)
        scores = torch.einsum("ns,st,njt->nj", q, self.A2, e_hat)
        att = torch.softmax(scores, dim=-1)
        f = torch.einsum("nj,njs->ns", att, onehot)
        return (1 - self.eps) * f + self.eps / self.S


class StandardTransformer(nn.Module):
    """A standard transformer (the paper's Fig. 8; chapter 8).

    Fixed random Gaussian token and position embeddings added (width ``d``); each layer
    ``h ← h + softmax(mask(h A hᵀ)) h V`` then ``h ← h + MLP(h)`` (ReLU, ``d → d → d``); logits
    ``h_{T-1} W``. Attention maps per layer via :meth:`attention`.
    """

    def __init__(self, S: int, T: int, d: int = 30, layers: int = 2, generator: torch.Generator | None = None,
                 init_std: float | None = None):
        super().__init__()
        self.S = check_vocab(S)
        self.T = T
        self.d = d
        std = (1.0 / math.sqrt(d)) if init_std is None else init_std
        self.register_buffer("tok_emb", torch.randn(S, d, generator=generator))
        self.register_buffer("pos_emb", torch.randn(T, d, generator=generator))
        self.A = nn.ParameterList([nn.Parameter(std * torch.randn(d, d, generator=generator)) for _ in range(layers)])
        self.V = nn.ParameterList([nn.Parameter(std * torch.randn(d, d, generator=generator)) for _ in range(layers)])
        self.mlp = nn.ModuleList()
        for _ in range(layers):
            lin1, lin2 = nn.Linear(d, d), nn.Linear(d, d)
            with torch.no_grad():
                for lin in (lin1, lin2):
                    lin.weight.copy_(std * torch.randn(d, d, generator=generator))
                    lin.bias.zero_()
            self.mlp.append(nn.Sequential(lin1, nn.ReLU(), lin2))
        self.W = nn.Parameter(torch.zeros(d, S))

    def config(self) -> dict:
        return {"model": "standard", "S": self.S, "T": self.T, "d": self.d, "layers": len(self.A)}

    def _run(self, tokens: torch.Tensor, keep: dict | None):
        h = self.tok_emb[tokens] + self.pos_emb
        mask = _causal_mask(self.T, tokens.device)
        for l, (A, V, mlp) in enumerate(zip(self.A, self.V, self.mlp)):
            att = _masked_softmax(h @ A @ h.transpose(1, 2), mask)
            if keep is not None:
                keep[(l + 1, 0)] = att
            h = h + att @ h @ V
            h = h + mlp(h)
        return h[:, -1] @ self.W

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._run(tokens, None)

    def attention(self, tokens: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
        keep: dict = {}
        with torch.no_grad():
            self._run(tokens, keep)
        return keep
