"""Reading the induction-head circuit: the hand-built head (chapter 3) and the trained one (chapter 4).

Chapter 3 (``book/03_disentangled_transformer``) uses the first half of this module: the residual
stream a layer-2 head reads, the query's layer-2 output, the loss of the hand-built head as ``β``
grows, and why the softmax read-out cannot count. Chapter 4 (``book/04_learning_induction_head``)
uses the second half: snapshots of ``A1``, ``A2``, ``W`` through training, the step at which the
layer-1 position block locks onto the parents, and the comparison with the paper-scale run.

The ``plot_*`` functions draw the chapters' figures in the book's style (:mod:`causal_tutorial.plots`);
each title states what the figure shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from .estimators import matching_children_average, soft_cross_entropy, soft_cross_entropy_from_logits
from .graphs import validate_parents
from .models import DisentangledTransformer, block_slices, induction_head
from .plots import BASELINE_LABELS, block_heatmap, loss_curve, matrix_heatmap

__all__ = [
    # chapter 3
    "residual_stream",
    "query_layer2_token_average",
    "smooth_like_estimator",
    "induction_head_losses",
    "readout_loss",
    "ideal_readout",
    "agreeing_children_prediction",
    "loss_by_match_count",
    "matching_children_mask",
    "pick_example",
    "plot_residual_stream",
    "plot_attention_example",
    "plot_circuit_matrices",
    "plot_loss_vs_beta",
    "plot_counting",
    # chapter 4
    "ParameterSnapshots",
    "lock_step",
    "first_step_above",
    "layer2_attention_by_count",
    "plot_by_match_count",
    "circuit_blocks",
    "rows_on_parent",
    "load_result",
    "plot_snapshots",
    "plot_locking",
    "plot_book_vs_paper",
]

_BASELINE_COLORS = {"uniform": "0.6", "unigram": "0.45", "estimator": "tab:red", "readout_floor": "tab:green",
                    "bayes": "black", "estimator_roots_counted": "tab:olive"}


# ==== chapter 3: the hand-built induction head ===============================================

def residual_stream(model: DisentangledTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """Layer 2's input ``h⁽¹⁾ = [x̃, attn(x̃; A1) x̃, …]`` of shape ``(n, T, d_1)`` (chapter 3).

    Its column blocks are named by :func:`causal_tutorial.models.block_slices` (``layer=2``).
    """
    with torch.no_grad():
        x = model.embed(tokens)
        maps = model.attention(tokens)
        return torch.cat([x] + [maps[(1, h)] @ x for h in range(model.heads[0])], dim=-1)


def query_layer2_token_average(model: DisentangledTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """The token part of the query's layer-2 output, ``Σ_j att2[T-1, j] e_{s_j}`` ``(n, S)`` (chapter 3).

    For the hand-built head with large ``β`` this is the matching-children average ``v``.
    """
    att2 = model.attention(tokens)[(2, 0)][:, -1]  # (n, T): the query's layer-2 attention
    return torch.einsum("nt,nts->ns", att2, F.one_hot(tokens, model.S).to(att2.dtype))


def smooth_like_estimator(v: torch.Tensor, counts: torch.Tensor, alpha: float) -> torch.Tensor:
    """``(N·v + α) / (N + Sα)``: the Dirichlet smoothing that turns an average ``v`` of ``N`` next tokens
    into the in-context estimator (chapter 3). ``v (n, S)``, ``counts (n,)``."""
    S = v.shape[-1]
    N = counts.to(v.dtype).unsqueeze(-1)
    return (N * v + alpha) / (N + S * alpha)


def induction_head_losses(tokens: torch.Tensor, labels: torch.Tensor, parents: Sequence[int], S: int,
                          betas: Sequence[float], c: float) -> list[float]:
    """Test loss of :func:`~causal_tutorial.models.induction_head` for each ``β`` at read-out scale ``c``
    (chapter 3). On sequences with a matching child it settles on the read-out floor as ``β`` grows."""
    T = tokens.shape[1]
    out = []
    with torch.no_grad():
        for b in betas:
            model = induction_head(S, T, parents, beta=float(b), c=float(c)).to(tokens.device)
            out.append(float(soft_cross_entropy_from_logits(model(tokens), labels)))
    return out


def readout_loss(v: torch.Tensor, labels: torch.Tensor, c: float) -> float:
    """Loss of the softmax read-out ``softmax(c·v)`` of an average ``v (n, S)`` (chapter 3).

    Minimised over ``c`` this is the read-out floor (:func:`causal_tutorial.estimators.readout_floor`).
    """
    return float(soft_cross_entropy_from_logits(float(c) * v, labels))


def ideal_readout(v: torch.Tensor, counts: torch.Tensor, c: float) -> torch.Tensor:
    """The ideal read-out of chapters 3 and 4: ``softmax(c·v)`` where at least one child matches, and the
    uniform law where none does (as the estimator). ``v (n, S)``, ``counts (n,)``; returns ``(n, S)``.

    With ``c`` the read-out floor's scale fitted on the sequences with a match, its loss there is the
    read-out floor; where nothing matches it makes the estimator's choice, which the hand-built head cannot.
    """
    f = torch.softmax(float(c) * v, -1)
    return torch.where(counts.unsqueeze(-1) > 0, f, torch.full_like(f, 1.0 / v.shape[-1]))


def agreeing_children_prediction(S: int, alpha: float, c: float, n_max: int = 10) -> dict:
    """When ``N`` matching children all continue with the same token ``a``: the probability the
    in-context estimator puts on ``a``, ``(N + α)/(N + Sα)``, and the softmax read-out's,
    ``e^c / (e^c + S - 1)`` (the same for every ``N ≥ 1``: the read-out cannot count; chapter 3)."""
    N = np.arange(1, n_max + 1)
    est = (N + alpha) / (N + S * alpha)
    soft = np.full(N.shape, np.exp(c) / (np.exp(c) + S - 1))
    return {"N": N, "estimator": est, "readout": soft}


def matching_children_mask(tokens: torch.Tensor, parents: Sequence[int]) -> torch.Tensor:
    """``(n, T)`` booleans: position ``j`` is a matching child, a child whose parent token equals the
    query token ``s_{T-1}`` (chapter 3)."""
    p = validate_parents(parents, tokens.shape[1])
    kids = torch.tensor([i for i, pi in enumerate(p) if pi >= 0], dtype=torch.long, device=tokens.device)
    par = torch.tensor([p[i] for i in kids.tolist()], dtype=torch.long, device=tokens.device)
    out = torch.zeros_like(tokens, dtype=torch.bool)
    out[:, kids] = tokens[:, par] == tokens[:, -1:]
    return out


def _count_buckets(counts: torch.Tensor, max_count: int) -> tuple[list[str], list[torch.Tensor]]:
    names = [str(k) for k in range(max_count)] + [f"{max_count}+"]
    sels = [counts == k for k in range(max_count)] + [counts >= max_count]
    return names, sels


def loss_by_match_count(tokens: torch.Tensor, labels: torch.Tensor, parents: Sequence[int], S: int,
                        predictions: dict[str, torch.Tensor], max_count: int = 6) -> dict[str, list]:
    """Mean loss of each predictor (``name -> probs (n, S)``) by the number ``N`` of matching children
    (buckets ``0 … max_count-1`` and ``max_count+``), with the share of sequences in each bucket
    (chapters 3, 4). Returns columns: ``"N"``, ``"share"``, then one per predictor."""
    _, counts = matching_children_average(tokens, parents, S)
    names, sels = _count_buckets(counts, max_count)
    out: dict[str, list] = {"N": names, "share": [float(m.float().mean()) for m in sels]}
    for name, f in predictions.items():
        per = soft_cross_entropy(f, labels, reduction="none")
        out[name] = [float(per[m].mean()) if m.any() else float("nan") for m in sels]
    return out


def pick_example(tokens: torch.Tensor, parents: Sequence[int], S: int, min_matches: int = 3) -> int:
    """Index of the first sequence whose query token has at least ``min_matches`` matching children
    (a readable example for the attention figures of chapter 3)."""
    _, counts = matching_children_average(tokens, parents, S)
    idx = torch.nonzero(counts >= min_matches).flatten()
    if idx.numel() == 0:
        raise ValueError(f"no sequence has {min_matches} matching children; lower min_matches")
    return int(idx[0])


def _token_ticks(ax, tokens_1d, axis: str, every: int = 1):
    labels = [f"{i}:{s}" for i, s in enumerate(torch.as_tensor(tokens_1d).tolist())]
    pos = list(range(len(labels)))[::every]
    if axis == "x":
        ax.set_xticks(pos, [labels[p] for p in pos], rotation=90, fontsize=7)
    else:
        ax.set_yticks(pos, [labels[p] for p in pos], fontsize=7)


def plot_residual_stream(model: DisentangledTransformer, tokens_1: torch.Tensor, ax=None):
    """Heatmap of one sequence's layer-2 input ``h⁽¹⁾`` (positions × named blocks; chapter 3)."""
    S, T = model.S, model.T
    h = residual_stream(model, tokens_1.view(1, -1))[0].cpu().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.2))
    blocks = block_slices(S, T, model.heads, layer=2)
    block_heatmap(h, [("", slice(0, T))], blocks, ax=ax, center=None,
                  title="Layer 1 copies each parent's token into its child (block L1h0·tok)")
    # block_heatmap puts the column names on the x axis; rows are positions, labelled "i:token"
    ax.images[0].set_cmap("Blues")  # white background, so the block separators stay visible
    _token_ticks(ax, tokens_1, "y")
    ax.set_xticks([(sl.start + sl.stop - 1) / 2 for _, sl in blocks],
                  [f"{nm}\n({sl.stop - sl.start} cols)" for nm, sl in blocks], rotation=0, fontsize=8)
    ax.set_ylabel("position i : token $s_i$")
    ax.set_xlabel("column block of $h^{(1)}_i$  (width 2(S+T))")
    return ax


def plot_attention_example(model: DisentangledTransformer, tokens_1: torch.Tensor, parents: Sequence[int]):
    """Layer-1 pattern and the query's layer-2 attention on one sequence (chapter 3).

    Bars of positions whose parent token equals the query token are highlighted.
    """
    p = validate_parents(parents, model.T)
    maps = model.attention(tokens_1.view(1, -1))
    att1, att2 = maps[(1, 0)][0].cpu().numpy(), maps[(2, 0)][0, -1].cpu().numpy()
    q = int(tokens_1[-1])
    toks = tokens_1.tolist()
    match = np.array([pi >= 0 and toks[pi] == q for pi in p] + [False])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1, 1.35]})
    matrix_heatmap(att1, ax=a1, title="Layer 1: position i attends to its parent p(i)", cmap="Blues",
                   xlabel="attended position j : token", ylabel="position i : token")
    _token_ticks(a1, tokens_1, "x")
    _token_ticks(a1, tokens_1, "y")
    x = np.arange(model.T)
    a2.bar(x[~match], att2[~match], color="0.7", label="other positions")
    a2.bar(x[match], att2[match], color="tab:orange", label=f"parent token = query token ({q})")
    _token_ticks(a2, tokens_1, "x")
    a2.set_ylim(0, 1.05)
    a2.set_xlabel("attended position j : token")
    a2.set_ylabel("layer-2 attention of the query")
    a2.set_title(f"Layer 2: the query ({q}) attends to children of earlier {q}s")
    a2.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_circuit_matrices(model: DisentangledTransformer, suptitle: str, axes=None):
    """Heatmaps of ``A1``, ``A2`` and ``W`` with their token/position blocks labelled (chapters 3, 4).

    Rows of ``A1``/``A2`` are the query's features and columns the key's; rows of ``W`` are the
    features of the last position's residual stream, columns the next token.
    """
    S, T, heads = model.S, model.T, model.heads
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), layout="constrained",
                                 gridspec_kw={"width_ratios": [1, 1, 0.42]})
    else:
        fig = axes[0].figure
    A1 = model.head(0).detach().cpu().numpy()
    A2 = model.head(1).detach().cpu().numpy()
    W = model.W.detach().cpu().numpy()
    block_heatmap(A1, block_slices(S, T, heads, 1), ax=axes[0], title="$A^{(1)}$: query row × key column")
    block_heatmap(A2, block_slices(S, T, heads, 2), ax=axes[1], title="$A^{(2)}$: query row × key column")
    block_heatmap(W, block_slices(S, T, heads, 3), [("next token", slice(0, S))], ax=axes[2],
                  title="$W$: feature × next token")
    axes[2].set_aspect("auto")
    axes[2].tick_params(axis="x", rotation=0)
    if suptitle:
        fig.suptitle(suptitle, fontweight="bold")
    return fig


def plot_loss_vs_beta(betas: Sequence[float], losses: Sequence[float], baselines: dict, ax=None,
                      keys: Sequence[str] = ("uniform", "readout_floor", "estimator", "bayes")):
    """Loss of the hand-built head against ``β``, with the baselines as horizontal lines (chapter 3)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.3))
    ax.plot(betas, losses, "o-", color="tab:blue", lw=2, label="hand-built induction head")
    for k in keys:
        if k in baselines:
            ax.axhline(baselines[k], ls=":" if k == "bayes" else "--", lw=1.4, color=_BASELINE_COLORS.get(k, "0.3"),
                       label=f"{BASELINE_LABELS.get(k, k)}: {baselines[k]:.3f}")
    ax.set_xlabel("attention sharpness β")
    ax.set_ylabel("test cross-entropy (nats)")
    ax.set_title("As β grows the hand-built head settles on the read-out floor, above the estimator")
    ax.legend(fontsize=8)
    return ax


def plot_counting(S: int, alpha: float, c: float, n_max: int = 10, ax=None):
    """Probability on the agreed next token vs the number ``N`` of agreeing children (chapter 3)."""
    d = agreeing_children_prediction(S, alpha, c, n_max)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(d["N"], d["estimator"], "o-", color="tab:red", label="in-context estimator $(N+α)/(N+Sα)$")
    ax.plot(d["N"], d["readout"], "s-", color="tab:green", label=f"softmax read-out, c = {c:.2f}")
    ax.set_xlabel("number N of matching children, all followed by the same token a")
    ax.set_ylabel("probability predicted for a")
    ax.set_title("The estimator grows surer with N; the softmax read-out cannot count")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower right")
    return ax


# ==== chapter 4: watching the circuit form ====================================================

class ParameterSnapshots:
    """A :func:`~causal_tutorial.training.train` callback that keeps a copy of ``A1``, ``A2`` and ``W``
    (CPU tensors) at every evaluation step (chapter 4). ``snaps[step]`` gives ``{"A1", "A2", "W"}``."""

    def __init__(self):
        self.params: dict[int, dict[str, torch.Tensor]] = {}

    def __call__(self, step: int, model, record: dict) -> None:
        self.params[int(step)] = {"A1": model.head(0).detach().cpu().clone(),
                                  "A2": model.head(1).detach().cpu().clone(),
                                  "W": model.W.detach().cpu().clone()}

    @property
    def steps(self) -> list[int]:
        return sorted(self.params)

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        return self.params[step]

    def model_at(self, step: int, S: int, T: int) -> DisentangledTransformer:
        """A heads-(1, 1) disentangled transformer holding the parameters of ``step``."""
        m = DisentangledTransformer(S, T, heads=(1, 1))
        with torch.no_grad():
            m.head(0).copy_(self.params[step]["A1"])
            m.head(1).copy_(self.params[step]["A2"])
            m.W.copy_(self.params[step]["W"])
        return m


def lock_step(history: Sequence[dict]) -> int | None:
    """The first evaluation step at which the row-wise argmax of the layer-1 position block equals the
    parent at every child (``parent_recovered == 1``), or ``None`` (chapter 4)."""
    for rec in history:
        if rec.get("parent_recovered") == 1.0:
            return int(rec["step"])
    return None


def first_step_above(history: Sequence[dict], key: str, value: float) -> int | None:
    """The first evaluation step at which ``record[key] >= value``, or ``None`` (chapter 4)."""
    for rec in history:
        if rec.get(key) is not None and rec[key] >= value:
            return int(rec["step"])
    return None


def circuit_blocks(model: DisentangledTransformer) -> dict[str, torch.Tensor]:
    """The three blocks the hand-built induction head uses, read from any heads-(1, 1) model (chapters 3, 4):

    * ``"A1 pos×pos"`` ``(T, T)``: row ``i`` should peak at ``p(i)``;
    * ``"A2 tok×L1h0·tok"`` ``(S, S)``: query token × the token a key gathered in layer 1 (a diagonal);
    * ``"W L2h0·tok"`` ``(S, S)``: the token part of layer 2's output × next token (a diagonal).
    """
    S, T, heads = model.S, model.T, model.heads
    b2 = dict(block_slices(S, T, heads, 2))
    b3 = dict(block_slices(S, T, heads, 3))
    A1, A2, W = (x.detach().cpu() for x in (model.head(0), model.head(1), model.W))
    return {"A1 pos×pos": A1[b2["pos"], b2["pos"]],
            "A2 tok×L1h0·tok": A2[b2["tok"], b2["L1h0·tok"]],
            "W L2h0·tok": W[b3["L2h0·tok"], :]}


def layer2_attention_by_count(model: DisentangledTransformer, tokens: torch.Tensor, parents: Sequence[int],
                              max_count: int = 6) -> dict[str, list]:
    """Where the query's layer-2 attention goes, by the number ``N`` of matching children (chapter 4):
    mean mass on the matching children, on the query position itself, and elsewhere."""
    att = model.attention(tokens)[(2, 0)][:, -1]  # (n, T)
    match = matching_children_mask(tokens, parents)
    counts = match.sum(-1)
    on_match = (att * match).sum(-1)
    on_self = att[:, -1]
    names, sels = _count_buckets(counts, max_count)
    mean = lambda x, m: float(x[m].mean()) if m.any() else float("nan")  # noqa: E731
    return {"N": names, "on matching children": [mean(on_match, m) for m in sels],
            "on the query itself": [mean(on_self, m) for m in sels],
            "elsewhere": [mean(1 - on_match - on_self, m) for m in sels]}


def rows_on_parent(snapshots: ParameterSnapshots, parents: Sequence[int], S: int) -> dict[int, int]:
    """For each snapshot step, how many children's rows of the ``A1`` position block peak at the parent
    (chapter 4). Rows whose entries are all equal (the zero initialisation) count as not locked."""
    p = validate_parents(parents)
    T = len(p) + 1
    kids = [i for i, pi in enumerate(p) if pi >= 0]
    out = {}
    for step in snapshots.steps:
        B = snapshots[step]["A1"][S:S + T, S:S + T]
        n = 0
        for i in kids:
            row = B[i, : i + 1]  # the causal part of the row
            if row.max() > row.min() and int(row.argmax()) == p[i]:
                n += 1
        out[step] = n
    return out


def load_result(path: str | Path) -> dict | None:
    """A ``result.json`` written by :func:`~causal_tutorial.experiments.run_experiment`, or ``None`` when the
    file does not exist (chapter 4 plots the paper-scale run beside the book run when there is one)."""
    p = Path(path)
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def plot_snapshots(snapshots: ParameterSnapshots, steps: Sequence[int], S: int, T: int, suptitle: str = ""):
    """``A1``, ``A2`` and ``W`` at several training steps, one row per step, blocks labelled (chapter 4)."""
    fig, axes = plt.subplots(len(steps), 3, figsize=(15, 5.0 * len(steps)), layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1, 0.42]}, squeeze=False)
    for row, step in zip(axes, steps):
        plot_circuit_matrices(snapshots.model_at(step, S, T), "", axes=row)
        for ax in row:
            ax.set_title(f"step {step}: " + ax.get_title())
    if suptitle:
        fig.suptitle(suptitle, fontweight="bold")
    return fig


def plot_locking(history: Sequence[dict], rows: dict[int, int], n_children: int, lock: int | None,
                 xmax: int | None = None, suptitle: str = ""):
    """Test loss, mean layer-1 attention on the parent and the number of locked rows against the step,
    with the lock step marked (chapter 4). ``xmax`` zooms into the early steps."""
    hist = [h for h in history if xmax is None or h["step"] <= xmax]
    steps = [h["step"] for h in hist]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), layout="constrained")
    axes[0].plot(steps, [h["test_loss"] for h in hist], "o-", ms=3, color="tab:blue")
    axes[0].set_ylabel("test cross-entropy (nats)")
    axes[0].set_title("Test loss")
    axes[1].plot(steps, [h["attn_on_parent"] for h in hist], "o-", ms=3, color="tab:blue")
    axes[1].set_ylim(0, 1.02)
    axes[1].set_ylabel("mean layer-1 attention on the parent")
    axes[1].set_title("Attention on the parent (test sequences)")
    rs = [s for s in rows if xmax is None or s <= xmax]
    axes[2].plot(rs, [rows[s] for s in rs], "o-", ms=3, color="tab:purple")
    axes[2].axhline(n_children, ls=":", color="0.4", lw=1)
    axes[2].set_ylim(0, n_children + 1)
    axes[2].set_ylabel(f"rows peaking at p(i) (of {n_children})")
    axes[2].yaxis.get_major_locator().set_params(integer=True)
    axes[2].set_title("Rows of A1's pos×pos block whose argmax is p(i)")
    for ax in axes:
        ax.set_xlabel("training step")
        if lock is not None:
            ax.axvline(lock, color="tab:red", ls="--", lw=1.2, label=f"lock: step {lock}")
            ax.legend(fontsize=8, loc="center right")
    if suptitle:
        fig.suptitle(suptitle, fontweight="bold")
    return fig


def plot_by_match_count(losses: dict[str, list], attention: dict[str, list] | None = None, suptitle: str = "",
                        relative_to: str | None = "in-context estimator"):
    """Loss by the number of matching children (and, if given, where the query's layer-2 attention goes)
    (chapter 4). ``losses`` from :func:`loss_by_match_count`, ``attention`` from
    :func:`layer2_attention_by_count`. With ``relative_to`` the losses are drawn as excess over that
    predictor's, which makes small differences visible."""
    ncol = 1 if attention is None else 2
    fig, axes = plt.subplots(1, ncol, figsize=(6.5 * ncol, 4.2), layout="constrained", squeeze=False)
    ax = axes[0, 0]
    x = np.arange(len(losses["N"]))
    styles = {"in-context estimator": ("tab:red", "o"), "estimator": ("tab:red", "o"),
              "read-out floor": ("tab:green", "s"), "hand-built head": ("tab:olive", "v"),
              "trained model": ("tab:blue", "D")}
    ref = np.asarray(losses[relative_to]) if relative_to else 0.0
    for name in [k for k in losses if k not in ("N", "share")]:
        color, marker = styles.get(name, ("0.4", "^"))
        ax.plot(x, np.asarray(losses[name]) - ref, marker=marker, color=color, label=name)
    ax.set_xticks(x, [f"{n}\n({100 * s:.0f}%)" for n, s in zip(losses["N"], losses["share"])])
    ax.set_xlabel("matching children N  (share of test sequences)")
    if relative_to:
        ax.set_ylabel(f"excess loss over the {relative_to} (nats)")
        ax.set_title(f"Mean loss by N, minus the {relative_to}'s")
    else:
        ax.set_ylabel("mean test cross-entropy (nats)")
        ax.set_title("Loss by the number of matching children")
    ax.legend(fontsize=8)
    if attention is not None:
        ax = axes[0, 1]
        for name, color in (("on matching children", "tab:orange"), ("on the query itself", "tab:purple"),
                            ("elsewhere", "0.6")):
            ax.plot(x, attention[name], "o-", color=color, label=name)
        ax.set_xticks(x, attention["N"])
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("matching children N")
        ax.set_ylabel("query's layer-2 attention")
        ax.set_title("The query keeps a share of attention on itself")
        ax.legend(fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontweight="bold")
    return fig


def plot_book_vs_paper(book: dict, paper: dict):
    """Two loss curves side by side: the book-scale run and the paper-scale run (chapter 4)."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.3))
    for ax, res, name in ((axes[0], book, "book scale (AdamW)"), (axes[1], paper, "paper scale (SGD)")):
        loss_curve(res["history"], res["baselines"], ax=ax,
                   title=f"{name}: final loss {res['history'][-1]['test_loss']:.3f} vs estimator "
                         f"{res['baselines']['estimator']:.3f}")
    fig.tight_layout()
    return fig
