"""Figures of chapters 1 and 2: parent arrays drawn as graphs and as adjacency matrices, and the
figures the two chapters use to look at the task and its baselines.

Chapter 2 (``book/02_causal_graphs``, "Causal graphs") introduces :func:`draw_parents`,
:func:`draw_adjacency` and :func:`draw_graph_gallery`; chapter 1 (``book/01_markov_chains``,
"In-context Markov chains") uses the others. Every function draws into a given matplotlib ``ax``
(or makes a new figure), sets a title and axis labels, and returns the axes (or the figure, for
the multi-panel ones). Matplotlib only: no graph library is needed, because a parent array is a
forest whose edges always point from a lower to a higher position, so the positions laid out on a
line with an arc from each parent to its child show the whole graph.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from .graphs import adjacency, validate_parents
from .plots import BASELINE_LABELS

__all__ = [
    "ROOT_COLOR",
    "QUERY_COLOR",
    "draw_parents",
    "draw_adjacency",
    "draw_graph_gallery",
    "plot_transition_rows",
    "plot_token_sequences",
    "plot_mixing",
    "plot_bayes_convergence",
    "plot_baselines",
    "plot_family_baselines",
    "plot_gap_vs_roots",
    "plot_graph_mismatch",
]

ROOT_COLOR = "tab:orange"
QUERY_COLOR = "tab:red"
CHILD_COLOR = "white"
_ARC_RAD = -0.45  # arc3 curvature: negative bends an arc drawn left-to-right upwards


def _new_ax(ax, figsize):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def draw_parents(parents: Sequence[int], ax=None, title: str | None = None, tokens: Sequence[int] | None = None,
                 show_query: bool = True, legend: bool = True, node_size: float = 170.0, fontsize: float = 7.0):
    """Draw a parent array as a graph on a line (chapter 2, "Causal graphs").

    Positions ``0 … T-1`` sit left to right; an arc with an arrow head runs from ``parents[i]`` to
    ``i`` (the taller the arc, the further back the parent). Roots are filled orange, children
    white, and the query ``T-1`` (which has no parent: it is drawn uniformly) is a red square.
    With ``tokens`` (one sequence of length ``T``), each node shows its token.
    """
    p = validate_parents(parents)
    T = len(p) + 1
    if tokens is not None and len(tokens) != T:
        raise ValueError(f"tokens must have length T = {T} (one per position), got {len(tokens)}")
    ax = _new_ax(ax, (min(0.55 * T + 1, 14), 2.6))
    span = max([i - q for i, q in enumerate(p) if q >= 0], default=1)
    for i, q in enumerate(p):
        if q < 0:
            continue
        ax.add_patch(FancyArrowPatch((q, 0), (i, 0), connectionstyle=f"arc3,rad={_ARC_RAD}", arrowstyle="-|>",
                                     mutation_scale=8, lw=1.0, color="0.35", shrinkA=5, shrinkB=5, zorder=1))
    xs = np.arange(T)
    colors = [ROOT_COLOR if q < 0 else CHILD_COLOR for q in p]
    ax.scatter(xs[:-1], np.zeros(T - 1), s=node_size, c=colors, edgecolors="k", linewidths=0.8, zorder=2)
    if show_query:
        ax.scatter([T - 1], [0], s=node_size, marker="s", c=QUERY_COLOR, edgecolors="k", linewidths=0.8, zorder=2)
    if tokens is not None:
        for i, s in enumerate(tokens):
            ax.text(i, 0, str(int(s)), ha="center", va="center", fontsize=fontsize, zorder=3,
                    color="white" if i == T - 1 else "black")
    top = 0.5 * abs(_ARC_RAD) * span + 0.6
    ax.set_xlim(-0.8, T - 0.2)
    ax.set_ylim(-0.6, top)
    ax.set_yticks([])
    step = 1 if T <= 24 else 2
    ax.set_xticks(range(0, T, step))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("position i")
    ax.grid(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    n_roots = sum(q < 0 for q in p)
    ax.set_title(title if title is not None else f"{n_roots} root{'s' if n_roots != 1 else ''}, "
                 f"{T - 1 - n_roots} children")
    if legend:
        handles = [Line2D([], [], marker="o", ls="", mfc=ROOT_COLOR, mec="k", label="root"),
                   Line2D([], [], marker="o", ls="", mfc=CHILD_COLOR, mec="k", label="child")]
        if show_query:
            handles.append(Line2D([], [], marker="s", ls="", mfc=QUERY_COLOR, mec="k", label="query"))
        ax.legend(handles=handles, loc="upper left", fontsize=7, frameon=True, ncol=len(handles))
    return ax


def draw_adjacency(parents: Sequence[int], ax=None, title: str | None = None, mark_roots: bool = True):
    """The ``T × T`` parent adjacency ``M[i, p(i)] = 1`` as a picture (chapter 2, "Causal graphs").

    Row ``i`` is the child, column ``j`` the parent: each child's row has exactly one dark cell,
    left of the diagonal. Rows of roots (and of the query, the last row) are empty; roots are marked
    with an orange dot left of the matrix. This is the picture the trained layer-1 attention is
    compared with in later chapters.
    """
    p = validate_parents(parents)
    T = len(p) + 1
    M = adjacency(p).numpy()
    ax = _new_ax(ax, (3.6, 3.4))
    ax.imshow(M, cmap="Greys", vmin=0, vmax=1.25, interpolation="nearest")
    ax.plot([-0.5, T - 0.5], [-0.5, T - 0.5], color="0.8", lw=0.6)
    if mark_roots:
        roots = [i for i, q in enumerate(p) if q < 0]
        ax.scatter([-1.4] * len(roots), roots, s=14, c=ROOT_COLOR, edgecolors="k", linewidths=0.5, clip_on=False)
        ax.scatter([-1.4], [T - 1], s=14, marker="s", c=QUERY_COLOR, edgecolors="k", linewidths=0.5, clip_on=False)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(T - 0.5, -0.5)
    ticks = list(range(0, T, 5))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.tick_params(labelsize=8)
    ax.set_xlabel("parent position j")
    ax.set_ylabel("child position i")
    ax.grid(False)
    ax.set_title(title if title is not None else "adjacency: M[i, p(i)] = 1")
    return ax


def draw_graph_gallery(graphs: Mapping[str, Sequence[int]], suptitle: str | None = None):
    """One row per graph: the arcs on the left, the adjacency matrix on the right (chapter 2).

    ``graphs`` maps a name to a parent array. Returns the figure.
    """
    n = len(graphs)
    fig, axes = plt.subplots(n, 2, figsize=(12, 2.9 * n), gridspec_kw={"width_ratios": [3.3, 1]}, squeeze=False)
    for row, (name, parents) in enumerate(graphs.items()):
        p = validate_parents(parents)
        n_roots = sum(q < 0 for q in p)
        draw_parents(p, ax=axes[row, 0], legend=row == 0,
                     title=f"{name}: {n_roots} root{'s' if n_roots != 1 else ''}, {len(p) - n_roots} children")
        draw_adjacency(p, ax=axes[row, 1], title=f"{name}: adjacency")
    if suptitle:
        fig.suptitle(suptitle, fontweight="bold")
    fig.tight_layout()
    return fig


# --- chapter 1 -------------------------------------------------------------------------------------
def plot_transition_rows(matrices: Mapping[float, np.ndarray], title: str | None = None):
    """One transition matrix ``π`` per concentration ``α``, side by side as heatmaps (chapter 1).

    ``matrices`` maps ``α`` to an ``S × S`` row-stochastic matrix. Returns the figure.
    """
    n = len(matrices)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n + 0.8, 3.5), squeeze=False)
    for ax, (alpha, P) in zip(axes[0], matrices.items()):
        P = np.asarray(P, dtype=float)
        im = ax.imshow(P, cmap="magma_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"α = {alpha:g}")
        ax.set_xlabel("next token s'")
        ax.set_ylabel("current token s")
        ax.set_xticks(range(P.shape[1]))
        ax.set_yticks(range(P.shape[0]))
        ax.tick_params(labelsize=7)
        ax.grid(False)
    fig.colorbar(im, ax=axes[0].tolist(), fraction=0.02, pad=0.02, label="π[s, s']")
    if title:
        fig.suptitle(title, fontweight="bold")
    return fig


def plot_token_sequences(tokens, ax=None, title: str = "", S: int | None = None):
    """A few sequences as a grid of tokens, one row per sequence; the last column is the query (chapter 1)."""
    tok = np.asarray(tokens)
    n, T = tok.shape
    S = int(tok.max()) + 1 if S is None else S
    ax = _new_ax(ax, (0.42 * T + 1, 0.42 * n + 1.1))
    ax.imshow(tok, cmap="tab10" if S <= 10 else "tab20", vmin=-0.5, vmax=(10 if S <= 10 else 20) - 0.5,
              interpolation="nearest", aspect="auto")
    for r in range(n):
        for c in range(T):
            ax.text(c, r, str(int(tok[r, c])), ha="center", va="center", fontsize=7, color="white")
    ax.axvline(T - 1.5, color="k", lw=1.5)
    ax.set_xticks(range(T))
    ax.set_xticklabels([str(i) if i < T - 1 else "q" for i in range(T)], fontsize=7)
    ax.set_yticks(range(n))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("position i (q = the query, drawn uniformly)")
    ax.set_ylabel("sequence")
    ax.grid(False)
    ax.set_title(title)
    return ax


def plot_mixing(gaps: Mapping[str, np.ndarray], residuals: Mapping[str, np.ndarray], title: str | None = None):
    """Left: histograms of the spectral gap ``1 - |λ₂|``; right: of ``log10 ‖πᵀμ - μ‖₁`` per method (chapter 1).

    ``gaps`` maps a label (e.g. ``"α = 0.1"``) to the gaps of a batch of chains; ``residuals`` maps a
    method's name to its residuals on one batch. Returns the figure.
    """
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    bins = np.linspace(-2.5, 0, 41)
    for label, gap in gaps.items():
        a.hist(np.log10(np.clip(np.asarray(gap, dtype=float), 10**-2.5, 1)), bins=bins, alpha=0.55, label=label)
    a.set_xlabel("log10 spectral gap 1 − |λ₂|  (small: mixes slowly)")
    a.set_ylabel("number of chains")
    a.set_title("Sparse rows make slowly mixing chains")
    a.legend(fontsize=8)
    rbins = np.linspace(-18, 0, 55)
    for name, r in residuals.items():
        b.hist(np.log10(np.clip(np.asarray(r, dtype=float), 1e-18, 1)), bins=rbins, alpha=0.55, label=name)
    b.set_xlabel("log10 residual ‖πᵀμ − μ‖₁")
    b.set_ylabel("number of chains")
    b.set_title("GTH is exact to rounding error")
    b.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def plot_bayes_convergence(curve: Mapping[int, tuple[float, float]], lines: Mapping[str, float] | None = None,
                           ax=None, title: str = "The Bayes estimate converges from above"):
    """Loss of the importance-sampled Bayes predictor against the number of draws ``K`` (chapter 1).

    ``curve`` is :func:`causal_tutorial.estimators.bayes_loss_curve`'s ``{K: (mean, standard error)}``;
    ``lines`` maps baseline names (keys of :data:`causal_tutorial.plots.BASELINE_LABELS`) to losses
    drawn as horizontal lines.
    """
    ax = _new_ax(ax, (6.5, 3.8))
    K = sorted(curve)
    m = np.array([curve[k][0] for k in K])
    se = np.array([curve[k][1] for k in K])
    ax.errorbar(K, m, yerr=se, marker="o", color="black", capsize=3, label="Bayes predictor, K draws (± s.e.)")
    styles = {"estimator": ("tab:red", "--"), "estimator_roots_counted": ("tab:olive", ":")}
    for name, value in (lines or {}).items():
        color, ls = styles.get(name, ("0.5", "-."))
        ax.axhline(value, color=color, ls=ls, lw=1.3, label=f"{BASELINE_LABELS.get(name, name)}: {value:.3f}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(K, [str(k) for k in K])
    ax.set_xlabel("importance draws K per sequence")
    ax.set_ylabel("test cross-entropy (nats)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_baselines(table, ax=None, title: str = "", xlim: tuple[float, float] | None = None):
    """A horizontal dot plot of baseline losses with ± 2 standard errors (chapters 1 and 2).

    ``table`` is a pandas DataFrame indexed by baseline name with columns ``loss`` and ``se``.
    """
    ax = _new_ax(ax, (7, 0.45 * len(table) + 1.4))
    y = np.arange(len(table))
    ax.errorbar(table["loss"], y, xerr=2 * table["se"], fmt="o", color="black", capsize=3)
    for yi, v in zip(y, table["loss"]):
        ax.annotate(f"{v:.3f}", (v, yi), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    ax.set_yticks(y, [BASELINE_LABELS.get(i, i) for i in table.index])
    ax.invert_yaxis()
    if xlim:
        ax.set_xlim(*xlim)
    ax.set_xlabel("test cross-entropy (nats), ± 2 s.e.")
    ax.set_title(title)
    return ax


def plot_family_baselines(table, keys: Sequence[str] = ("unigram", "estimator", "bayes"), ax=None,
                          title: str = ""):
    """Baseline losses per graph family (chapter 2): one column of dots per family, ``log S`` as a line.

    ``table`` is a DataFrame indexed by family with a column per baseline (and ``<name>_se``), a
    ``uniform`` column and a ``roots`` column, which labels the x axis.
    """
    ax = _new_ax(ax, (7.5, 4))
    x = np.arange(len(table))
    markers = {"unigram": "x", "estimator": "o", "bayes": "s", "estimator_roots_counted": "^", "readout_floor": "D"}
    colors = {"unigram": "0.45", "estimator": "tab:red", "bayes": "black", "estimator_roots_counted": "tab:olive",
              "readout_floor": "tab:green"}
    offsets = np.linspace(-0.15, 0.15, len(keys))
    for off, k in zip(offsets, keys):
        se = table[f"{k}_se"] if f"{k}_se" in table else None
        ax.errorbar(x + off, table[k], yerr=None if se is None else 2 * se, fmt=markers.get(k, "o"), ms=7,
                    color=colors.get(k, "0.3"), capsize=2, label=BASELINE_LABELS.get(k, k))
    if "uniform" in table:
        ax.axhline(float(table["uniform"].iloc[0]), color="0.6", ls="--", lw=1.2, label=BASELINE_LABELS["uniform"])
    ax.set_xticks(x, [f"{f}\n({r} root{'s' if r != 1 else ''})" for f, r in zip(table.index, table["roots"])])
    ax.set_xlabel("graph family")
    ax.set_ylabel("test cross-entropy (nats), ± 2 s.e.")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(0.01, 0.39), ncol=2)
    return ax


def plot_gap_vs_roots(table, ax=None, title: str = ""):
    """The estimator's excess loss over the Bayes estimate against the number of roots (chapter 2).

    ``table`` is a DataFrame indexed by family with columns ``roots``, ``gap`` (estimator minus Bayes,
    per-sequence differences averaged) and ``gap_se`` (their standard error).
    """
    ax = _new_ax(ax, (5.5, 3.8))
    ax.errorbar(table["roots"], table["gap"], yerr=2 * table["gap_se"], fmt="o", color="black", capsize=3)
    for name, r, g in zip(table.index, table["roots"], table["gap"]):
        ax.annotate(name, (r, g), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.axhline(0, color="tab:red", ls="--", lw=1.2, label="no gap")
    ax.set_xlabel("number of roots in the graph")
    ax.set_ylabel("estimator − Bayes (nats), ± 2 s.e.")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_graph_mismatch(table, ax=None, title: str = ""):
    """The in-context estimator with the true graph against the chain's graph, per family (chapter 2).

    ``table`` is a DataFrame indexed by family with columns ``true graph``, ``chain graph``,
    ``unigram`` and ``uniform`` (losses in nats).
    """
    ax = _new_ax(ax, (7, 3.8))
    x = np.arange(len(table))
    w = 0.38
    ax.bar(x - w / 2, table["true graph"], w, color="tab:red", label="estimator with the true graph")
    ax.bar(x + w / 2, table["chain graph"], w, color="tab:blue", alpha=0.7, label="estimator assuming the chain")
    ax.axhline(float(table["uniform"].iloc[0]), color="0.6", ls="--", lw=1.2, label="uniform (log S)")
    lo = min(table["true graph"].min(), table["chain graph"].min())
    hi = max(table["chain graph"].max(), float(table["uniform"].iloc[0]))
    ax.set_ylim(lo - 0.15, hi + 0.12)
    ax.set_xticks(x, list(table.index))
    ax.set_xlabel("graph family the data come from")
    ax.set_ylabel("test cross-entropy (nats)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return ax
