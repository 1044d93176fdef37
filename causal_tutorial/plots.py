"""Every figure of the book, in one style: the style itself, the baseline table, and each chapter's figures.

``set_style()`` is called once at the top of each chapter (by :func:`causal_tutorial.book.setup`).
Every figure states its finding in its title, labels its axes, marks token/position blocks where a
matrix has them, and fits the book's column (at most 7 inches wide; no text under 8 pt). The
numbers behind the figures come from :mod:`causal_tutorial.analysis` and
:mod:`causal_tutorial.estimators`; nothing is computed here beyond what a picture needs.

:data:`BASELINES` is the one table of how each predictor is drawn (label, colour, line style and
marker, by the keys of :func:`causal_tutorial.estimators.baseline_losses`); every figure uses it.

Graphs are drawn with matplotlib alone: a parent array is a forest whose edges always point from
a lower to a higher position, so the positions laid out on a line with an arc from each parent to
its child show the whole graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch
from matplotlib.ticker import MaxNLocator

from .analysis import ParameterSnapshots, agreeing_children_prediction, circuit_blocks, residual_stream
from .graphs import adjacency, validate_parents
from .models import DisentangledTransformer, block_slices

__all__ = [
    "BaselineStyle",
    "BASELINES",
    "BASELINE_LABELS",
    "ROOT_COLOR",
    "QUERY_COLOR",
    "PAGE_WIDTH",
    "set_style",
    "loss_curve",
    "matrix_heatmap",
    "block_heatmap",
    # graphs and the task (chapters 1, 2)
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
    # circuits (chapters 3, 4)
    "plot_residual_stream",
    "plot_attention_example",
    "plot_circuit_matrices",
    "plot_loss_vs_beta",
    "plot_counting",
    "plot_snapshots",
    "plot_locking",
    "plot_by_match_count",
    "plot_book_vs_paper",
    # why gradient descent finds the graph (chapter 5)
    "plot_gradient_vs_formula",
    "plot_margin",
    "plot_algorithm1",
    "plot_learned_graphs",
    "plot_family_losses",
    "plot_forests",
    # a standard transformer, out of distribution (chapter 8)
    "plot_attention_map",
    "plot_loss_curves",
    "plot_ood",
    # several parents (chapter 7)
    "plot_multiparent_training",
    "plot_head_blocks",
    # experiment results
    "experiment_figures",
    # sweeps (chapter 10)
    "PHASE_PANELS",
    "plot_phase_diagram",
    "plot_recovery_vs_margin",
]

#: The widest figure that fits the book's text column, in inches.
PAGE_WIDTH = 7.0


@dataclass(frozen=True)
class BaselineStyle:
    """How one predictor is drawn: its legend label, colour, line style (for a horizontal line or a
    curve) and marker (for a dot plot)."""

    label: str
    color: str
    ls: str
    marker: str


#: The one style table, with which every figure draws each predictor.
BASELINES: dict[str, BaselineStyle] = {
    "uniform": BaselineStyle("uniform (log S)", "0.6", "--", "x"),
    "unigram": BaselineStyle("in-context unigram", "0.4", "-.", "x"),
    "one_parent": BaselineStyle("one-parent estimator", "tab:purple", "--", "v"),
    "estimator": BaselineStyle("in-context estimator (paper's line)", "tab:red", "--", "o"),
    "estimator_roots_counted": BaselineStyle("estimator, roots counted (research code)", "tab:olive", ":", "^"),
    "readout_floor": BaselineStyle("read-out floor", "tab:green", "-.", "s"),
    "bayes": BaselineStyle("Bayes floor (importance-sampled)", "black", ":", "s"),
    "hand_built": BaselineStyle("hand-built induction head", "tab:orange", "-", "v"),
    "model": BaselineStyle("trained model", "tab:blue", "-", "D"),
    "reduced_limit": BaselineStyle("hand-built reduced model", "tab:brown", "-.", "P"),
    "reduced_limit_prior": BaselineStyle("hand-built, prior position", "tab:pink", "-.", "P"),
}

#: ``{key: label}`` of :data:`BASELINES`, for tables.
BASELINE_LABELS = {k: v.label for k, v in BASELINES.items()}

ROOT_COLOR = "tab:orange"
QUERY_COLOR = "tab:red"
CHILD_COLOR = "white"
_ARC_RAD = -0.45  # arc3 curvature: negative bends an arc drawn left-to-right upwards


def _style(key: str) -> BaselineStyle:
    """The style of ``key``; an unknown key is drawn grey with its own name as the label."""
    return BASELINES.get(key, BaselineStyle(key, "0.3", "--", "o"))


def _hline(ax, key: str, value: float, lw: float = 1.3) -> None:
    """A predictor's loss as a horizontal line, labelled with its value."""
    st = _style(key)
    ax.axhline(value, ls=st.ls, lw=lw, color=st.color, label=f"{st.label}: {value:.3f}")


# ==== the style and the building blocks ====


def set_style() -> None:
    """The book's single figure style (seaborn ``whitegrid``), with font sizes set explicitly so that no
    text of a figure at most :data:`PAGE_WIDTH` wide renders under 8 pt in the column."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    matplotlib.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 120,
            "figure.autolayout": False,
            "font.size": 9.5,
            "axes.titlesize": 10,
            "axes.titleweight": "bold",
            "axes.labelsize": 9.5,
            "xtick.labelsize": 8.5,
            "ytick.labelsize": 8.5,
            "legend.fontsize": 8.5,
            "legend.title_fontsize": 9,
            "figure.titlesize": 11,
            "figure.titleweight": "bold",
        }
    )


def _font_points(size) -> float:
    """A font size (points or a name such as ``"large"``) in points."""
    from matplotlib.font_manager import FontProperties

    return FontProperties(size=size).get_size_in_points()


def _wrap(text: str, width_in: float, fontsize) -> str:
    """``text`` wrapped onto as many lines as it needs to fit ``width_in`` inches at ``fontsize`` (bold):
    a title that states a finding wraps rather than shrinks. Lines already broken by hand stay broken."""
    import textwrap

    if not text:
        return text
    chars = max(12, int(width_in * 72 / (0.58 * _font_points(fontsize))))
    lines = text.split("\n")
    return "\n".join(textwrap.fill(line, chars, break_on_hyphens=False) if line.strip() else line for line in lines)


def _axes_size_in(ax) -> tuple[float, float]:
    """The (width, height) of ``ax`` in inches, as placed now (also inside a subfigure)."""
    box = ax.get_position().transformed(ax.figure.transSubfigure)
    dpi = ax.get_figure(root=True).dpi
    return box.width / dpi, box.height / dpi


def _axes_width_in(ax) -> float:
    return _axes_size_in(ax)[0]


def _title(ax, text: str | None, **kw) -> None:
    """Set ``ax``'s title, wrapped to the width of the axes."""
    size = kw.get("fontsize", matplotlib.rcParams["axes.titlesize"])
    # an axes is made with the default subplot margins, wider than those constrained layout leaves
    ax.set_title(_wrap(text or "", _axes_width_in(ax), size), **kw)


def _suptitle(fig, text: str | None) -> None:
    """A bold figure title, wrapped to the figure's width."""
    if text:
        fig.suptitle(_wrap(text, 0.95 * fig.get_figwidth(), matplotlib.rcParams["figure.titlesize"]), fontweight="bold")


def _figure(nrows: int = 1, ncols: int = 1, height: float = 4.0, width: float = PAGE_WIDTH, **kw):
    """A new figure at most :data:`PAGE_WIDTH` wide, laid out by matplotlib's constrained layout."""
    return plt.subplots(nrows, ncols, figsize=(min(width, PAGE_WIDTH), height), layout="constrained", **kw)


def loss_curve(
    history: Sequence[dict],
    baselines: dict | None = None,
    ax=None,
    title: str | None = None,
    keys: Sequence[str] = ("uniform", "unigram", "estimator", "readout_floor", "bayes"),
    label="test loss",
):
    """Test loss through training, with each baseline as a horizontal line (chapters 4, 6, 7)."""
    if ax is None:
        _, ax = _figure(height=4.0)
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["test_loss"] for h in history], color="tab:blue", lw=2, label=label)
    for k in keys:
        if baselines and k in baselines:
            _hline(ax, k, baselines[k])
    ax.set_xlabel("training step")
    ax.set_ylabel("test cross-entropy (nats)")
    _title(ax, title or "Test loss against the baselines")
    ax.legend(fontsize=8, loc="upper right")
    return ax


def matrix_heatmap(
    M,
    ax=None,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    cmap="viridis",
    center: float | None = None,
    ticks: bool = True,
    cbar: bool = True,
):
    """A plain heatmap of a matrix (row index down, column index across)."""
    M = np.asarray(M, dtype=float)
    if ax is None:
        _, ax = _figure(height=4.0, width=4.5)
    if center is not None:
        lim = np.abs(M - center).max() or 1.0
        im = ax.imshow(M, cmap="RdBu_r", vmin=center - lim, vmax=center + lim)
    else:
        im = ax.imshow(M, cmap=cmap)
    if cbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    _title(ax, title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(False)
    if not ticks:
        ax.set_xticks([])
        ax.set_yticks([])
    return ax


def block_heatmap(
    M,
    row_blocks: Sequence[tuple[str, slice]],
    col_blocks: Sequence[tuple[str, slice]] | None = None,
    ax=None,
    title: str = "",
    center: float | None = 0.0,
):
    """A heatmap with named blocks (e.g. ``tok``/``pos``) separated by lines and labelled (chapters 3, 4)."""
    col_blocks = row_blocks if col_blocks is None else col_blocks
    ax = matrix_heatmap(M, ax=ax, title=title, center=center, ticks=False)
    for blocks, axis in ((row_blocks, "y"), (col_blocks, "x")):
        mids, names = [], []
        for name, sl in blocks:
            if sl.start > 0:
                (ax.axhline if axis == "y" else ax.axvline)(sl.start - 0.5, color="k", lw=0.8)
            mids.append((sl.start + sl.stop - 1) / 2)
            names.append(name)
        if axis == "y":
            ax.set_yticks(mids, names, fontsize=8)
        else:
            ax.set_xticks(mids, names, fontsize=8, rotation=90)
    return ax


# ==== graphs (chapter 2) and the task (chapter 1) ====


def _new_ax(ax, figsize):
    if ax is None:
        _, ax = _figure(height=figsize[1], width=figsize[0])
    return ax


def draw_parents(
    parents: Sequence[int],
    ax=None,
    title: str | None = None,
    tokens: Sequence[int] | None = None,
    show_query: bool = True,
    legend: bool = True,
    node_size: float = 170.0,
    fontsize: float = 8.0,
):
    """Draw a parent array as a graph on a line (chapter 2, "Causal graphs").

    Positions ``0 … T-1`` sit left to right; an arc with an arrow head runs from ``parents[i]`` to
    ``i`` (the taller the arc, the further back the parent). Roots are filled orange, children
    white, and the query ``T-1`` (which has no parent: it is drawn uniformly) is a red square.
    With ``tokens`` (one sequence of length ``T``), each node shows its token (at ``fontsize``,
    at least 8 pt). Where the positions are closer than a node's width, the nodes shrink to fit.
    """
    p = validate_parents(parents)
    T = len(p) + 1
    if tokens is not None and len(tokens) != T:
        raise ValueError(f"tokens must have length T = {T} (one per position), got {len(tokens)}")
    ax = _new_ax(ax, (min(0.3 * T + 1, PAGE_WIDTH), 2.6))
    fontsize = max(8.0, fontsize)
    spacing_pt = _axes_width_in(ax) * 72 / (T + 0.6)  # x runs from -0.8 to T - 0.2
    node_size = min(node_size, (0.9 * spacing_pt) ** 2)
    span = max([i - q for i, q in enumerate(p) if q >= 0], default=1)
    for i, q in enumerate(p):
        if q < 0:
            continue
        ax.add_patch(
            FancyArrowPatch(
                (q, 0),
                (i, 0),
                connectionstyle=f"arc3,rad={_ARC_RAD}",
                arrowstyle="-|>",
                mutation_scale=8,
                lw=1.0,
                color="0.35",
                shrinkA=5,
                shrinkB=5,
                zorder=1,
            )
        )
    xs = np.arange(T)
    colors = [ROOT_COLOR if q < 0 else CHILD_COLOR for q in p]
    ax.scatter(xs[:-1], np.zeros(T - 1), s=node_size, c=colors, edgecolors="k", linewidths=0.8, zorder=2)
    if show_query:
        ax.scatter([T - 1], [0], s=node_size, marker="s", c=QUERY_COLOR, edgecolors="k", linewidths=0.8, zorder=2)
    if tokens is not None:
        for i, s in enumerate(tokens):
            ax.text(
                i,
                0,
                str(int(s)),
                ha="center",
                va="center",
                fontsize=fontsize,
                zorder=3,
                color="white" if i == T - 1 else "black",
            )
    top = 0.5 * abs(_ARC_RAD) * span + 0.6
    ax.set_xlim(-0.8, T - 0.2)
    ax.set_ylim(-0.6, top + (0.45 if legend else 0.0))  # room for the legend above the arcs
    ax.set_yticks([])
    step = 1 if T <= 24 else 2
    ax.set_xticks(range(0, T, step))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("position i")
    ax.grid(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    n_roots = sum(q < 0 for q in p)
    _title(
        ax, title if title is not None else f"{n_roots} root{'s' if n_roots != 1 else ''}, {T - 1 - n_roots} children"
    )
    if legend:
        handles = [
            Line2D([], [], marker="o", ls="", mfc=ROOT_COLOR, mec="k", label="root"),
            Line2D([], [], marker="o", ls="", mfc=CHILD_COLOR, mec="k", label="child"),
        ]
        if show_query:
            handles.append(Line2D([], [], marker="s", ls="", mfc=QUERY_COLOR, mec="k", label="query"))
        ax.legend(
            handles=handles,
            loc="upper left",
            fontsize=8,
            frameon=True,
            ncol=len(handles),
            borderpad=0.3,
            handletextpad=0.2,
            columnspacing=0.8,
        )
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
    if mark_roots:  # the root markers sit left of the matrix: move the row labels past them
        ax.tick_params(axis="y", pad=0.9 * _axes_width_in(ax) * 72 / T + 6)
    ax.set_xlabel("parent position j")
    ax.set_ylabel("child position i")
    ax.grid(False)
    _title(ax, title if title is not None else "adjacency: M[i, p(i)] = 1")
    return ax


def draw_graph_gallery(graphs: Mapping[str, Sequence[int]], suptitle: str | None = None):
    """One row per graph: the arcs on the left, the adjacency matrix on the right (chapter 2).

    ``graphs`` maps a name to a parent array. Returns the figure (:data:`PAGE_WIDTH` wide).
    """
    n = len(graphs)
    fig, axes = _figure(
        n, 2, height=2.7 * n + (0.4 if suptitle else 0.0), gridspec_kw={"width_ratios": [2.5, 1]}, squeeze=False
    )
    for row, (name, parents) in enumerate(graphs.items()):
        p = validate_parents(parents)
        n_roots = sum(q < 0 for q in p)
        draw_parents(
            p,
            ax=axes[row, 0],
            legend=row == 0,
            title=f"{name}: {n_roots} root{'s' if n_roots != 1 else ''}, {len(p) - n_roots} children",
        )
        draw_adjacency(p, ax=axes[row, 1], title=f"{name}: adjacency")
    _suptitle(fig, suptitle)
    return fig


def plot_transition_rows(matrices: Mapping[float, np.ndarray], title: str | None = None):
    """One transition matrix ``π`` per concentration ``α`` as heatmaps (chapter 1): side by side for up
    to three, in rows of two for more, with one shared colour bar.

    ``matrices`` maps ``α`` to an ``S × S`` row-stochastic matrix. Returns the figure.
    """
    n = len(matrices)
    ncols = n if n <= 3 else 2
    nrows = -(-n // ncols)
    panel = (PAGE_WIDTH - 0.8) / ncols
    fig, axes = _figure(nrows, ncols, height=nrows * (panel + 0.5) + (0.5 if title else 0.0), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.remove()
    for ax, (alpha, P) in zip(flat, matrices.items()):
        P = np.asarray(P, dtype=float)
        im = ax.imshow(P, cmap="magma_r", vmin=0, vmax=1, interpolation="nearest")
        _title(ax, f"α = {alpha:g}")
        ax.set_xlabel("next token s'")
        ax.set_ylabel("current token s")
        every = 1 if P.shape[0] <= 12 else 2
        ax.set_xticks(range(0, P.shape[1], every))
        ax.set_yticks(range(0, P.shape[0], every))
        ax.tick_params(labelsize=8)
        ax.grid(False)
    fig.colorbar(im, ax=flat[:n].tolist(), fraction=0.03, pad=0.02, label="π[s, s']")
    _suptitle(fig, title)
    return fig


def plot_token_sequences(tokens, ax=None, title: str = "", S: int | None = None):
    """A few sequences as a grid of tokens, one row per sequence; the last column is the query (chapter 1).

    On its own figure each cell is about 0.3 in (room for its 8-pt digit), the figure at most
    :data:`PAGE_WIDTH` wide; for two grids, stack two axes vertically rather than side by side."""
    tok = np.asarray(tokens)
    n, T = tok.shape
    S = int(tok.max()) + 1 if S is None else S
    ax = _new_ax(ax, (min(0.3 * T + 1.0, PAGE_WIDTH), 0.3 * n + 1.3))
    ax.imshow(
        tok,
        cmap="tab10" if S <= 10 else "tab20",
        vmin=-0.5,
        vmax=(10 if S <= 10 else 20) - 0.5,
        interpolation="nearest",
        aspect="auto",
    )
    for r in range(n):
        for c in range(T):
            ax.text(c, r, str(int(tok[r, c])), ha="center", va="center", fontsize=8, color="white")
    ax.axvline(T - 1.5, color="k", lw=1.5)
    ax.set_xticks(range(T))
    ax.set_xticklabels([str(i) if i < T - 1 else "q" for i in range(T)], fontsize=8)
    ax.set_yticks(range(n))
    ax.tick_params(labelsize=8)
    ax.set_xlabel("position i (q = the query, drawn uniformly)")
    ax.set_ylabel("sequence")
    ax.grid(False)
    _title(ax, title)
    return ax


def plot_mixing(gaps: Mapping[str, np.ndarray], residuals: Mapping[str, np.ndarray], title: str | None = None):
    """Top: histograms of the spectral gap ``1 - |λ₂|``; bottom: of ``log10 ‖πᵀμ - μ‖₁`` per method (chapter 1).

    ``gaps`` maps a label (e.g. ``"α = 0.1"``) to the gaps of a batch of chains; ``residuals`` maps a
    method's name to its residuals on one batch. Returns the figure.
    """
    fig, (a, b) = _figure(2, 1, height=6.0 + (0.4 if title else 0.0))
    bins = np.linspace(-2.5, 0, 41)
    for label, gap in gaps.items():
        a.hist(np.log10(np.clip(np.asarray(gap, dtype=float), 10**-2.5, 1)), bins=bins, alpha=0.55, label=label)
    a.set_xlabel("log10 spectral gap 1 − |λ₂|  (small: mixes slowly)")
    a.set_ylabel("number of chains")
    _title(a, "Sparse rows make slowly mixing chains")
    a.legend(fontsize=8)
    rbins = np.linspace(-18, 0, 55)
    for name, r in residuals.items():
        b.hist(np.log10(np.clip(np.asarray(r, dtype=float), 1e-18, 1)), bins=rbins, alpha=0.55, label=name)
    b.set_xlabel("log10 residual ‖πᵀμ − μ‖₁")
    b.set_ylabel("number of chains")
    _title(b, "GTH is exact to rounding error")
    b.legend(fontsize=8)
    _suptitle(fig, title)
    return fig


def plot_bayes_convergence(
    curve: Mapping[int, tuple[float, float]],
    lines: Mapping[str, float] | None = None,
    ax=None,
    title: str = "The Bayes estimate converges from above",
):
    """Loss of the importance-sampled Bayes predictor against the number of draws ``K`` (chapter 1).

    ``curve`` is :func:`causal_tutorial.estimators.bayes_loss_curve`'s ``{K: (mean, standard error)}``;
    ``lines`` maps baseline names (keys of :data:`causal_tutorial.plots.BASELINES`) to losses
    drawn as horizontal lines.
    """
    ax = _new_ax(ax, (6.5, 3.8))
    K = sorted(curve)
    m = np.array([curve[k][0] for k in K])
    se = np.array([curve[k][1] for k in K])
    ax.errorbar(K, m, yerr=se, marker="o", color="black", capsize=3, label="Bayes predictor, K draws (± s.e.)")
    for name, value in (lines or {}).items():
        _hline(ax, name, value)
    ax.set_xscale("log", base=2)
    ax.set_xticks(K, [str(k) for k in K])
    ax.set_xlabel("importance draws K per sequence")
    ax.set_ylabel("test cross-entropy (nats)")
    _title(ax, title)
    ax.legend(fontsize=8)
    return ax


def plot_baselines(table, ax=None, title: str = "", xlim: tuple[float, float] | None = None):
    """A horizontal dot plot of baseline losses with ± 2 standard errors (chapters 1 and 2).

    ``table`` is a pandas DataFrame indexed by baseline name with columns ``loss`` and ``se``.
    """
    ax = _new_ax(ax, (PAGE_WIDTH, 0.45 * len(table) + 1.6))
    y = np.arange(len(table))
    ax.errorbar(table["loss"], y, xerr=2 * table["se"], fmt="o", color="black", capsize=3)
    for yi, v in zip(y, table["loss"]):
        ax.annotate(f"{v:.3f}", (v, yi), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    ax.set_yticks(y, [_style(i).label for i in table.index])
    ax.set_ylim(len(table) - 0.5, -0.7)  # inverted, with room for the top value's label
    if xlim:
        ax.set_xlim(*xlim)
    ax.set_xlabel("test cross-entropy (nats), ± 2 s.e.")
    _title(ax, title)
    return ax


def plot_family_baselines(table, keys: Sequence[str] = ("unigram", "estimator", "bayes"), ax=None, title: str = ""):
    """Baseline losses per graph family (chapter 2): one column of dots per family, ``log S`` as a line.

    ``table`` is a DataFrame indexed by family with a column per baseline (and ``<name>_se``), a
    ``uniform`` column and a ``roots`` column, which labels the x axis.
    """
    ax = _new_ax(ax, (PAGE_WIDTH, 4.2))
    x = np.arange(len(table))
    offsets = np.linspace(-0.15, 0.15, len(keys))
    for off, k in zip(offsets, keys):
        se = table[f"{k}_se"] if f"{k}_se" in table else None
        st = _style(k)
        ax.errorbar(
            x + off,
            table[k],
            yerr=None if se is None else 2 * se,
            fmt=st.marker,
            ms=7,
            color=st.color,
            capsize=2,
            label=st.label,
        )
    if "uniform" in table:
        st = _style("uniform")
        ax.axhline(float(table["uniform"].iloc[0]), color=st.color, ls=st.ls, lw=1.2, label=st.label)
    ax.set_xticks(x, [f"{f}\n({r} root{'s' if r != 1 else ''})" for f, r in zip(table.index, table["roots"])])
    ax.set_xlabel("graph family")
    ax.set_ylabel("test cross-entropy (nats), ± 2 s.e.")
    _title(ax, title)
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
    ax.margins(x=0.15)  # room for the rightmost family's name
    ax.set_xlabel("number of roots in the graph")
    ax.set_ylabel("estimator − Bayes (nats), ± 2 s.e.")
    _title(ax, title)
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_graph_mismatch(table, ax=None, title: str = ""):
    """The in-context estimator with the true graph against the chain's graph, per family (chapter 2).

    ``table`` is a DataFrame indexed by family with columns ``true graph``, ``chain graph``,
    ``unigram`` and ``uniform`` (losses in nats).
    """
    ax = _new_ax(ax, (PAGE_WIDTH, 3.8))
    x = np.arange(len(table))
    w = 0.38
    ax.bar(x - w / 2, table["true graph"], w, color="tab:red", label="estimator with the true graph")
    ax.bar(x + w / 2, table["chain graph"], w, color="tab:blue", alpha=0.7, label="estimator assuming the chain")
    st = _style("uniform")
    ax.axhline(float(table["uniform"].iloc[0]), color=st.color, ls=st.ls, lw=1.2, label=st.label)
    lo = min(table["true graph"].min(), table["chain graph"].min())
    hi = max(table["chain graph"].max(), float(table["uniform"].iloc[0]))
    ax.set_ylim(lo - 0.15, hi + 0.12)
    ax.set_xticks(x, list(table.index))
    ax.set_xlabel("graph family the data come from")
    ax.set_ylabel("test cross-entropy (nats)")
    _title(ax, title)
    ax.legend(fontsize=8, loc="upper left")
    return ax


# ==== circuits (chapters 3, 4) ====


def _token_ticks(ax, tokens_1d, axis: str, every: int = 1):
    labels = [f"{i}:{s}" for i, s in enumerate(torch.as_tensor(tokens_1d).tolist())]
    pos = list(range(len(labels)))[::every]
    if axis == "x":
        ax.set_xticks(pos, [labels[p] for p in pos], rotation=90, fontsize=8)
    else:
        ax.set_yticks(pos, [labels[p] for p in pos], fontsize=8)


def _tick_every(n: int, length_in: float) -> int:
    """Label every k-th of ``n`` positions so that 8-pt labels along ``length_in`` inches do not touch."""
    return max(1, int(np.ceil(n * 11 / max(length_in * 72, 1.0))))


def plot_residual_stream(model: DisentangledTransformer, tokens_1: torch.Tensor, ax=None):
    """Heatmap of one sequence's layer-2 input ``h⁽¹⁾`` (positions × named blocks; chapter 3)."""
    S, T = model.S, model.T
    h = residual_stream(model, tokens_1.view(1, -1))[0].cpu().numpy()
    if ax is None:
        _, ax = _figure(height=max(4.2, 0.17 * T + 1.6))
    blocks = block_slices(S, T, model.heads, layer=2)
    block_heatmap(
        h,
        [("", slice(0, T))],
        blocks,
        ax=ax,
        center=None,
        title="Layer 1 copies each parent's token into its child (block L1h0·tok)",
    )
    ax.set_aspect("auto")  # fill the axes: the rows need the height for their labels
    # block_heatmap puts the column names on the x axis; rows are positions, labelled "i:token"
    ax.images[0].set_cmap("Blues")  # white background, so the block separators stay visible
    _token_ticks(ax, tokens_1, "y", every=_tick_every(T, _axes_size_in(ax)[1]))
    ax.set_xticks(
        [(sl.start + sl.stop - 1) / 2 for _, sl in blocks],
        [f"{nm}\n({sl.stop - sl.start} cols)" for nm, sl in blocks],
        rotation=0,
        fontsize=8,
    )
    ax.set_ylabel("position i : token $s_i$")
    ax.set_xlabel("column block of $h^{(1)}_i$  (width 2(S+T))")
    return ax


def plot_attention_example(model: DisentangledTransformer, tokens_1: torch.Tensor, parents: Sequence[int]):
    """Layer-1 pattern (top) and the query's layer-2 attention (bottom) on one sequence (chapter 3).

    Bars of positions whose parent token equals the query token are highlighted.
    """
    p = validate_parents(parents, model.T)
    maps = model.attention(tokens_1.view(1, -1))
    att1, att2 = maps[(1, 0)][0].cpu().numpy(), maps[(2, 0)][0, -1].cpu().numpy()
    q = int(tokens_1[-1])
    toks = tokens_1.tolist()
    match = np.array([pi >= 0 and toks[pi] == q for pi in p] + [False])
    fig, (a1, a2) = _figure(2, 1, height=9.0, gridspec_kw={"height_ratios": [1.45, 1]})
    matrix_heatmap(
        att1,
        ax=a1,
        title="Layer 1: position i attends to its parent p(i)",
        cmap="Blues",
        xlabel="attended position j : token",
        ylabel="position i : token",
    )
    _token_ticks(a1, tokens_1, "x")
    _token_ticks(a1, tokens_1, "y")
    x = np.arange(model.T)
    a2.bar(x[~match], att2[~match], color="0.7", label="other positions")
    a2.bar(x[match], att2[match], color="tab:orange", label=f"parent token = query token ({q})")
    _token_ticks(a2, tokens_1, "x")
    a2.set_xlim(-0.6, model.T - 0.4)
    a2.set_ylim(0, 1.05)
    a2.set_xlabel("attended position j : token")
    a2.set_ylabel("layer-2 attention of the query")
    _title(a2, f"Layer 2: the query ({q}) attends to children of earlier {q}s")
    a2.legend(fontsize=8, loc="upper left")
    return fig


def plot_circuit_matrices(model: DisentangledTransformer, suptitle: str, axes=None):
    """Heatmaps of ``A1``, ``A2`` and ``W`` with their token/position blocks labelled (chapters 3, 4).

    ``A1`` and ``A2`` sit side by side on top, ``W`` below it, transposed (next token down, feature
    across) so that its long feature axis runs along the page. Rows of ``A1``/``A2`` are the query's
    features and columns the key's. ``axes``: three axes to draw ``A1``, ``A2``, ``Wᵀ`` on.
    """
    S, T, heads = model.S, model.T, model.heads
    if axes is None:
        fig = plt.figure(figsize=(PAGE_WIDTH, 6.6 if suptitle else 6.2), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[1.55, 1])  # type: ignore[misc]
        axes = [*top.subplots(1, 2), bottom.subplots()]
    else:
        fig = axes[0].figure
    A1 = model.head(1).detach().cpu().numpy()
    A2 = model.head(2).detach().cpu().numpy()
    W = model.W.detach().cpu().numpy()
    block_heatmap(A1, block_slices(S, T, heads, 1), ax=axes[0], title="$A^{(1)}$: query row × key column")
    block_heatmap(A2, block_slices(S, T, heads, 2), ax=axes[1], title="$A^{(2)}$: query row × key column")
    block_heatmap(
        W.T,
        [("next\ntoken", slice(0, S))],
        block_slices(S, T, heads, 3),
        ax=axes[2],
        title="$W$, transposed: next token row × feature column",
    )
    axes[2].set_aspect("auto")
    if suptitle:
        _suptitle(fig, suptitle)
    return fig


def plot_loss_vs_beta(
    betas: Sequence[float],
    losses: Sequence[float],
    baselines: dict,
    ax=None,
    keys: Sequence[str] = ("uniform", "readout_floor", "estimator", "bayes"),
):
    """Loss of the hand-built head against ``β``, with the baselines as horizontal lines (chapter 3)."""
    if ax is None:
        _, ax = _figure(height=4.3)
    ax.plot(betas, losses, "o-", color="tab:blue", lw=2, label="hand-built induction head")
    for k in keys:
        if k in baselines:
            _hline(ax, k, baselines[k], lw=1.4)
    ax.set_xlabel("attention sharpness β")
    ax.set_ylabel("test cross-entropy (nats)")
    _title(ax, "As β grows the hand-built head settles on the read-out floor, above the estimator")
    ax.legend(fontsize=8)
    return ax


def plot_counting(S: int, alpha: float, c: float, n_max: int = 10, ax=None):
    """Probability on the agreed next token vs the number ``N`` of agreeing children (chapter 3)."""
    d = agreeing_children_prediction(S, alpha, c, n_max)
    if ax is None:
        _, ax = _figure(height=4.0, width=6.5)
    ax.plot(d["N"], d["estimator"], "o-", color="tab:red", label="in-context estimator $(N+α)/(N+Sα)$")
    ax.plot(d["N"], d["readout"], "s-", color="tab:green", label=f"softmax read-out, c = {c:.2f}")
    ax.set_xlabel("number N of matching children, all followed by the same token a")
    ax.set_ylabel("probability predicted for a")
    _title(ax, "The estimator grows surer with N; the softmax read-out cannot count")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower right")
    return ax


#: The panels of :func:`plot_snapshots`: (key of :func:`causal_tutorial.analysis.circuit_blocks`,
#: short name for the title, y label, x label).
_SNAPSHOT_PANELS = (
    ("A1 pos×pos", "A1 pos×pos", "query position i", "key position j"),
    ("A2 tok×L1h0·tok", "A2 tok×L1h0·tok", "query token", "key's L1h0·tok"),
    ("W L2h0·tok", "W L2h0·tok", "L2h0·tok feature", "next token"),
)


def plot_snapshots(snapshots: ParameterSnapshots, steps: Sequence[int], S: int, T: int, suptitle: str = ""):
    """The three blocks the induction circuit uses (:func:`causal_tutorial.analysis.circuit_blocks`) at
    several training steps, one row per step (chapter 4): ``A1``'s pos × pos block (row ``i`` should
    peak at ``p(i)``), ``A2``'s query token × ``L1h0·tok`` block and ``W``'s ``L2h0·tok`` rows (both
    should become diagonals). Each column shares one colour scale (centred at 0), so the rows compare."""
    blocks = [{k: v.numpy() for k, v in circuit_blocks(snapshots.model_at(step, S, T)).items()} for step in steps]
    n = len(steps)
    fig, axes = _figure(
        n,
        3,
        height=2.25 * n + 1.0 + (0.45 if suptitle else 0.0),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 1, 1]},
    )
    for col, (key, name, ylabel, xlabel) in enumerate(_SNAPSHOT_PANELS):
        lim = max(float(np.abs(b[key]).max()) for b in blocks) or 1.0
        for row, (step, b) in enumerate(zip(steps, blocks)):
            ax = axes[row, col]
            M = b[key]
            im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
            ax.set_title(f"step {step}: {name}", fontsize=9)
            ax.grid(False)
            every = 1 if M.shape[0] <= 10 else 5
            ax.set_xticks(range(0, M.shape[1], every))
            ax.set_yticks(range(0, M.shape[0], every))
            ax.tick_params(labelsize=8)
            ax.set_ylabel(ylabel, fontsize=8.5)
            if row == n - 1:
                ax.set_xlabel(xlabel, fontsize=8.5)
        fig.colorbar(im, ax=axes[:, col].tolist(), location="bottom", shrink=0.85, aspect=18, pad=0.02)
    _suptitle(fig, suptitle)
    return fig


def plot_locking(
    history: Sequence[dict],
    rows: dict[int, int],
    n_children: int,
    lock: int | None,
    xmax: int | None = None,
    suptitle: str = "",
):
    """Test loss, mean layer-1 attention on the parent and the number of locked rows against the step,
    stacked on one shared step axis, with the lock step marked (chapter 4). ``xmax`` zooms into the
    early steps."""
    hist = [h for h in history if xmax is None or h["step"] <= xmax]
    steps = [h["step"] for h in hist]
    fig, axes = _figure(3, 1, height=7.6 + (0.4 if suptitle else 0.0), sharex=True)
    axes[0].plot(steps, [h["test_loss"] for h in hist], "o-", ms=3, color="tab:blue")
    axes[0].set_ylabel("test cross-entropy\n(nats)")
    _title(axes[0], "Test loss")
    axes[1].plot(steps, [h["attn_on_parent"] for h in hist], "o-", ms=3, color="tab:blue")
    axes[1].set_ylim(0, 1.02)
    axes[1].set_ylabel("mean layer-1\nattention on the parent")
    _title(axes[1], "Attention on the parent (test sequences)")
    rs = [s for s in rows if xmax is None or s <= xmax]
    axes[2].plot(rs, [rows[s] for s in rs], "o-", ms=3, color="tab:purple")
    axes[2].axhline(n_children, ls=":", color="0.4", lw=1)
    axes[2].set_ylim(0, n_children + 1)
    axes[2].set_ylabel(f"rows peaking at p(i)\n(of {n_children})")
    axes[2].yaxis.get_major_locator().set_params(integer=True)
    _title(axes[2], "Rows of A1's pos×pos block whose argmax is p(i)")
    axes[2].set_xlabel("training step")
    for ax in axes:
        if lock is not None:
            ax.axvline(lock, color="tab:red", ls="--", lw=1.2, label=f"lock: step {lock}")
            ax.legend(fontsize=8, loc="center right")
    fig.align_ylabels(axes)
    _suptitle(fig, suptitle)
    return fig


def plot_by_match_count(
    losses: dict[str, list],
    attention: dict[str, list] | None = None,
    suptitle: str = "",
    relative_to: str | None = "estimator",
):
    """Loss by the number of matching children (and, if given, below it where the query's layer-2
    attention goes) (chapters 3, 4). ``losses`` from :func:`causal_tutorial.analysis.loss_by_match_count`,
    its predictors named by keys of :data:`BASELINES` (``"estimator"``, ``"readout_floor"``,
    ``"hand_built"``, ``"model"``, …); ``attention`` from
    :func:`causal_tutorial.analysis.layer2_attention_by_count`. With ``relative_to`` (a key) the losses
    are drawn as excess over that predictor's, which makes small differences visible."""
    nrow = 1 if attention is None else 2
    fig, axes = _figure(nrow, 1, height=4.0 * nrow + (0.4 if suptitle else 0.0), squeeze=False)
    ax = axes[0, 0]
    x = np.arange(len(losses["N"]))
    ref = np.asarray(losses[relative_to]) if relative_to else 0.0
    for name in [k for k in losses if k not in ("N", "share")]:
        st = _style(name)
        ax.plot(x, np.asarray(losses[name]) - ref, marker=st.marker, color=st.color, label=st.label)
    ax.set_xticks(x, [f"{n}\n({100 * s:.0f}%)" for n, s in zip(losses["N"], losses["share"])])
    ax.set_xlabel("matching children N  (share of test sequences)")
    if relative_to:
        ref_label = _style(relative_to).label.split(" (")[0]
        ax.set_ylabel(f"excess loss over the {ref_label} (nats)")
        _title(ax, f"Mean loss by N, minus the {ref_label}'s")
    else:
        ax.set_ylabel("mean test cross-entropy (nats)")
        _title(ax, "Loss by the number of matching children")
    ax.legend(fontsize=8)
    if attention is not None:
        ax = axes[1, 0]
        for name, color in (
            ("on matching children", "tab:orange"),
            ("on the query itself", "tab:purple"),
            ("elsewhere", "0.6"),
        ):
            ax.plot(x, attention[name], "o-", color=color, label=name)
        ax.set_xticks(x, attention["N"])
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("matching children N")
        ax.set_ylabel("query's layer-2 attention")
        _title(ax, "The query keeps a share of attention on itself")
        ax.legend(fontsize=8)
    _suptitle(fig, suptitle)
    return fig


def plot_book_vs_paper(book: dict, paper: dict):
    """Two loss curves, one above the other: the book-scale run and the paper-scale run (chapter 4)."""
    fig, axes = _figure(2, 1, height=8.0)
    for ax, res, name in ((axes[0], book, "book scale (AdamW)"), (axes[1], paper, "paper scale (SGD)")):
        loss_curve(
            res["history"],
            res["baselines"],
            ax=ax,
            title=f"{name}: final loss {res['history'][-1]['test_loss']:.3f} vs estimator "
            f"{res['baselines']['estimator']:.3f}",
        )
    return fig


# ==== experiment results ====


def experiment_figures(result: dict, out_dir: str | Path) -> list[Path]:
    """The figures of an experiment's result: its loss curve and, where there is one, the learned graph."""
    out_dir = Path(out_dir)
    paths = []
    if "history" in result:
        fig, ax = _figure(height=4.0)
        loss_curve(
            result["history"],
            result.get("baselines"),
            ax=ax,
            title=f"{result['experiment']} [{result['scale']}]: test loss against the baselines",
        )
        paths.append(out_dir / "loss.png")
        fig.savefig(paths[-1])
        plt.close(fig)
    if "A1_position_block" in result:
        fig, ax = _figure(height=4.3, width=5.0)
        matrix_heatmap(
            result["A1_position_block"],
            ax=ax,
            title="Layer 1, position block: row i → its parent",
            xlabel="attended position j",
            ylabel="position i",
            center=0.0,
        )
        paths.append(out_dir / "A1_position_block.png")
        fig.savefig(paths[-1])
        plt.close(fig)
    return paths


# ==== why gradient descent finds the graph (chapter 5) ====


def plot_gradient_vs_formula(panels: Mapping[str, Sequence], suptitle: str | None = None):
    """For each graph, one row of three small heatmaps: the autograd gradient (rows scaled by ``i+1``
    and centred), the formula (centred) and the true adjacency (chapter 5).

    ``panels`` maps a graph's name to ``(autograd, formula, adjacency)``, three ``(T-1, T-1)`` arrays.
    """
    names = list(panels)
    fig, axes = _figure(len(names), 3, height=2.3 * len(names) + 0.6, squeeze=False)
    heads = ("autograd, ×(i+1), centred", "formula G, centred", "true parent adjacency")
    for r, name in enumerate(names):
        for c, (M, head) in enumerate(zip(panels[name], heads)):
            M = np.asarray(M, dtype=float)
            ax = axes[r, c]
            if c < 2:
                lim = np.abs(M).max() or 1.0
                im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim)
            else:
                im = ax.imshow(M, cmap="Greys", vmin=0, vmax=1)
            ax.grid(False)
            ax.set_xticks([])
            ax.set_yticks([])
            if c < 2:
                cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
                cb.ax.tick_params(labelsize=8)
                cb.ax.yaxis.get_offset_text().set_fontsize(8)
            ax.set_title(f"{name}: {head}", fontsize=8)
            if c == 0:
                ax.set_ylabel("child i", fontsize=8)
            if r == len(names) - 1:
                ax.set_xlabel("earlier position k", fontsize=8)
    _suptitle(fig, suptitle)
    return fig


def plot_margin(table, suptitle: str | None = None):
    """Two panels against α, one line per vocabulary size: ``E[I_χ²]`` on a chain edge and the mean
    margin of a child row (the parent's entry minus the largest other one, chapter 5).

    ``table`` has columns ``S``, ``alpha``, ``edge``, ``edge_se`` and ``margin`` (a DataFrame or a
    mapping of equal-length sequences).
    """
    cols = {k: np.asarray(table[k], dtype=float) for k in ("S", "alpha", "edge", "edge_se", "margin")}
    fig, axes = _figure(1, 2, height=3.4)
    for S in sorted(set(cols["S"].tolist())):
        sel = cols["S"] == S
        a = cols["alpha"][sel]
        axes[0].errorbar(a, cols["edge"][sel], yerr=2 * cols["edge_se"][sel], marker="o", label=f"S = {S:g}")
        axes[1].plot(a, cols["margin"][sel], marker="o", label=f"S = {S:g}")
    for ax, ylabel, title in (
        (axes[0], "E[I_χ²(s_(i-1); s_i)]", "The information on an edge"),
        (axes[1], "parent entry − next best", "The margin of a child row"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("Dirichlet concentration α")
        ax.set_ylabel(ylabel)
        _title(ax, title)
        ax.legend(fontsize=8)
    _suptitle(fig, suptitle)
    return fig


def plot_algorithm1(runs: dict, baselines: dict, tau1: int, title: str | None = None):
    """Test loss through the two stages of Algorithm 1 (chapter 5): one curve per run, a dotted
    vertical line where stage 2 begins (after ``tau1`` steps), and each baseline as a horizontal line.

    ``runs`` maps a label to a training history (dicts with ``step`` and ``test_loss``); ``baselines``
    maps :data:`BASELINES` keys to losses.
    """
    _, ax = _figure(height=3.8)
    colours = ["tab:blue", "tab:cyan", "tab:purple", "tab:gray"]
    for (label, history), colour in zip(runs.items(), colours):
        steps = [h["step"] for h in history]
        ax.plot(steps, [h["test_loss"] for h in history], color=colour, lw=2, label=label)
    for key, value in baselines.items():
        _hline(ax, key, value)
    ax.axvline(tau1, color="0.5", ls=":", lw=1)
    ax.text(tau1, 1.0, " stage 2 →", transform=ax.get_xaxis_transform(), va="top", ha="left", fontsize=8)
    ax.text(tau1, 1.0, "← stage 1 ", transform=ax.get_xaxis_transform(), va="top", ha="right", fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel("test cross-entropy (nats)")
    _title(ax, title or "Algorithm 1: stage 1 trains A⁽¹⁾, stage 2 trains A⁽²⁾")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return ax


# ==== chapter 6: general causal graphs ====


def _masked_softmax_rows(block) -> np.ndarray:
    """Row-wise softmax of a ``T × T`` block over its causal part ``j ≤ i`` (0 above the diagonal)."""
    B = np.asarray(block, dtype=float)
    T = B.shape[0]
    masked = np.where(np.tri(T, dtype=bool), B, -np.inf)
    masked = masked - masked.max(1, keepdims=True)
    e = np.exp(masked)
    return e / e.sum(1, keepdims=True)


def plot_learned_graphs(panels: Mapping[str, tuple], suptitle: str | None = None):
    """For each graph, a column of two panels: the row-wise softmax of the learned position block of
    ``A⁽¹⁾`` (over ``j ≤ i``: where layer 1 would attend by position alone) above the true parent
    adjacency (chapter 6).

    ``panels`` maps a graph's name to ``(block, parents)``: a ``T × T`` position block and the parent
    array (length ``T - 1``).
    """
    names = list(panels)
    fig, axes = _figure(2, len(names), height=3.9, squeeze=False)
    for c, name in enumerate(names):
        block, parents = panels[name]
        P = _masked_softmax_rows(block)
        A = np.zeros_like(P)
        for i, p in enumerate(parents):
            if p >= 0:
                A[i, p] = 1.0
        for r, (M, head) in enumerate(((P, "learned: softmax\nof A⁽¹⁾'s block"), (A, "true parents"))):
            ax = axes[r, c]
            ax.imshow(M, cmap="Greys" if r else "viridis", vmin=0, vmax=1)
            ax.grid(False)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{head}\n(row i, column j)", fontsize=8)
            if r == 1:
                ax.set_xlabel("attends to j", fontsize=8)
    _suptitle(fig, suptitle)
    return fig


def plot_family_losses(
    runs: Mapping[str, tuple],
    keys: Sequence[str] = ("estimator", "estimator_roots_counted", "readout_floor", "bayes"),
    suptitle: str | None = None,
):
    """One panel per graph: the test loss through training against the baselines' lines (chapter 6).

    ``runs`` maps a graph's name to ``(history, baselines)`` (a training history and a dict of
    :data:`BASELINES` keys → losses); one legend for all panels, below them.
    """
    names = list(runs)
    fig, axes = _figure(1, len(names), height=3.4, squeeze=False)
    for ax, name in zip(axes[0], names):
        history, base = runs[name]
        steps = [h["step"] for h in history]
        losses = [h["test_loss"] for h in history]
        ax.plot(steps, losses, color=BASELINES["model"].color, lw=2, label=BASELINES["model"].label)
        for k in keys:
            if k in base:
                st = _style(k)
                ax.axhline(base[k], ls=st.ls, lw=1.3, color=st.color, label=st.label)
        top = max(losses[min(1, len(losses) - 1) :])
        low = min([*losses, *(base[k] for k in keys if k in base)])
        ax.set_ylim(low - 0.05 * (top - low + 0.1), top + 0.05 * (top - low + 0.1))
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.set_title(name, fontsize=9)
    axes[0, 0].set_ylabel("test cross-entropy (nats)", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8)
    _suptitle(fig, suptitle)
    return fig


def plot_forests(
    curve: Mapping[str, Sequence],
    block_metric: Sequence[float],
    sequence_metric: Sequence[float],
    paper: tuple[float, float] | None = None,
    suptitle: str | None = None,
):
    """The paper's Fig. 9, two panels (chapter 6).

    Left: the mean layer-1 attention from position ``i`` to its parent over the graphs where ``i``
    has one, with a ±1 sd band (``curve`` as :func:`causal_tutorial.analysis.curve_over_graphs`
    returns it). Right: each graph's two metrics, the softmax of the position block (the paper's) and
    the attention paid in test sequences (ours), with their mean ± sd over graphs and, if given, the
    paper's reported ``(mean, sd)``.
    """
    fig, (left, right) = _figure(1, 2, height=3.3)
    pos = np.asarray(curve["position"], dtype=float)
    mean, sd = np.asarray(curve["mean"], dtype=float), np.asarray(curve["sd"], dtype=float)
    left.plot(pos, mean, color=BASELINES["model"].color, marker="o", ms=3, lw=1.5, label="mean over graphs")
    left.fill_between(pos, mean - sd, mean + sd, color=BASELINES["model"].color, alpha=0.2, label="±1 sd")
    left.plot(pos, 1 / (pos + 1), color="0.5", ls="--", lw=1, label="uniform start 1/(i+1)")
    left.set_ylim(0, 1.02)
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("position i")
    left.set_ylabel("attention from i to its parent")
    _title(left, "Attention on the parent, by position")
    left.legend(fontsize=8, loc="lower left")
    rng = np.random.default_rng(0)
    for x, (values, colour) in enumerate(((block_metric, "tab:purple"), (sequence_metric, "tab:blue"))):
        v = np.asarray(values, dtype=float)
        right.scatter(x + rng.uniform(-0.12, 0.12, v.size), v, s=14, color=colour, alpha=0.7)
        right.errorbar(x + 0.3, v.mean(), yerr=v.std(), fmt="D", color=colour, capsize=4)
    if paper is not None:
        right.axhline(paper[0], color="black", ls=":", lw=1.2, label=f"paper: {paper[0]:.3f} ± {paper[1]:.3f}")
        right.axhspan(paper[0] - paper[1], paper[0] + paper[1], color="0.85", zorder=0)
        right.legend(fontsize=8, loc="lower right")
    right.set_xticks([0, 1], ["softmax of the\nblock (paper's)", "paid in\nsequences (ours)"], fontsize=8)
    right.set_xlim(-0.5, 1.6)
    right.set_ylim(0, 1.02)
    right.set_ylabel("mean attention on the parent")
    _title(right, "One dot per graph")
    _suptitle(fig, suptitle)
    return fig


# ==== chapter 8: a standard transformer, and both circuits out of distribution ====

_MODEL_COLOURS = ("tab:blue", "tab:purple", "tab:cyan", "tab:gray")


def plot_attention_map(
    mean_att,
    on_previous: Mapping[str, Sequence[float | None]],
    map_title: str | None = None,
    suptitle: str | None = None,
):
    """Two panels (chapter 8, the paper's Fig. 8). Left: a model's mean layer-1 attention pattern over
    test sequences, ``mean_att (T, T)`` (row ``i`` attends to ``j ≤ i``; the masked part is blank).
    Right: for each model in ``on_previous`` (a name → one value per position, ``None`` at roots, as
    :func:`causal_tutorial.analysis.attention_by_position` returns) the attention from ``i`` to its
    parent ``i - 1``, with the uniform start ``1/(i+1)``."""
    M = np.asarray(mean_att, dtype=float)
    T = M.shape[0]
    fig, (left, right) = _figure(1, 2, height=3.5)
    im = left.imshow(np.where(np.tri(T, dtype=bool), M, np.nan), cmap="viridis", vmin=0, vmax=1)
    cb = fig.colorbar(im, ax=left, fraction=0.046, pad=0.04)
    cb.ax.tick_params(labelsize=8)
    left.grid(False)
    left.set_xticks(range(0, T, 5))
    left.set_yticks(range(0, T, 5))
    left.set_xlabel("attended position j")
    left.set_ylabel("position i")
    _title(left, map_title or "Mean layer-1 attention")
    for (name, values), colour in zip(on_previous.items(), _MODEL_COLOURS):
        pos = [i for i, v in enumerate(values) if v is not None]
        right.plot(pos, [values[i] for i in pos], "o-", ms=3, color=colour, label=name)
    i = np.arange(1, T - 1)
    right.plot(i, 1 / (i + 1), ls="--", color="0.5", lw=1, label="uniform start 1/(i+1)")
    right.set_ylim(0, 1.02)
    right.xaxis.get_major_locator().set_params(integer=True)
    right.set_xlabel("position i")
    right.set_ylabel("layer-1 attention on i − 1")
    _title(right, "Attention on the parent, by position")
    right.legend(fontsize=8, loc="lower right")
    _suptitle(fig, suptitle)
    return fig


def plot_loss_curves(
    histories: Mapping[str, Sequence[dict]],
    baselines: Mapping[str, float],
    keys: Sequence[str] = ("uniform", "readout_floor", "estimator", "bayes"),
    title: str | None = None,
    ylim: tuple[float, float] | None = None,
):
    """The test loss through training of several models on one test set (a name → a training history),
    each labelled with its final loss, and the baselines ``keys`` as horizontal lines (chapter 8)."""
    _, ax = _figure(height=3.8)
    for (label, history), colour in zip(histories.items(), _MODEL_COLOURS):
        steps = [h["step"] for h in history]
        ax.plot(
            steps,
            [h["test_loss"] for h in history],
            color=colour,
            lw=2,
            label=f"{label}: {history[-1]['test_loss']:.3f}",
        )
    for k in keys:
        if k in baselines:
            _hline(ax, k, baselines[k])
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel("training step")
    ax.set_ylabel("test cross-entropy (nats)")
    _title(ax, title or "Test loss against the baselines")
    ax.legend(fontsize=8, loc="upper right")
    return ax


def plot_ood(
    gaps: Mapping[str, Mapping[str, float]],
    by_length: Mapping[str, Sequence[float]] | None = None,
    suptitle: str | None = None,
):
    """Chapter 8's out-of-distribution checks. Left: for each condition, each model's gap to the in-context
    estimator on the same data (``gaps``: a model's name → ``{condition: model − estimator}``; a
    condition a model was not tested on is left out). Right, with ``by_length`` (``"length"`` and,
    for some of the same models, one gap per length): the gap against the sequence length."""
    names = list(gaps)
    colour = dict(zip(names, _MODEL_COLOURS))
    conditions = list(dict.fromkeys(c for g in gaps.values() for c in g))
    ncols = 1 if by_length is None else 2
    ratios = [1.0] if by_length is None else [1.5, 1.0]
    height = 0.12 * len(conditions) * len(names) + 2.0
    fig, axes = _figure(1, ncols, height=height, squeeze=False, gridspec_kw={"width_ratios": ratios})
    ax = axes[0, 0]
    y = np.arange(len(conditions))
    h = 0.8 / len(names)
    for j, name in enumerate(names):
        vals = [gaps[name].get(c, np.nan) for c in conditions]
        ax.barh(y + (j - (len(names) - 1) / 2) * h, vals, height=h, color=colour[name], label=name)
    ax.set_yticks(y, conditions, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("model − estimator (nats)")
    _title(ax, "Gap to the in-context estimator, by condition")
    ax.legend(fontsize=8, loc="upper right")
    if by_length is not None:
        ax = axes[0, 1]
        L = list(by_length["length"])
        for name in (k for k in by_length if k != "length"):
            ax.plot(L, by_length[name], "o-", ms=3, color=colour.get(name, "0.3"), label=name)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel("sequence length L (read at L − 1)")
        ax.set_ylabel("model − estimator (nats)")
        _title(ax, "Shorter sequences than in training")
        ax.legend(fontsize=8)
    _suptitle(fig, suptitle)
    return fig


# ==== several parents (chapter 7) ====


def plot_multiparent_training(
    history: Sequence[dict],
    baselines: Mapping[str, float],
    marks: Mapping[str, int] | None = None,
    keys: Sequence[str] = ("uniform", "unigram", "one_parent", "estimator"),
    suptitle: str | None = None,
):
    """Two panels against the step (chapter 7): the test loss with the baselines ``keys`` as lines,
    and each layer-1 head's mean attention on each parent slot (the ``attn_h{h}_parent{k}`` records
    of :func:`causal_tutorial.analysis.parent_metrics`); ``marks`` maps a label to a step, drawn as a
    dotted vertical line in both panels."""
    fig, axes = _figure(2, 1, height=7.2 + (0.4 if suptitle else 0.0), sharex=True)
    loss_curve(history, dict(baselines), ax=axes[0], keys=keys, title="Test loss against the baselines")
    steps = [h["step"] for h in history]
    names = sorted(k for k in history[-1] if k.startswith("attn_h") and "_parent" in k)
    colours = {"0": "tab:blue", "1": "tab:orange", "2": "tab:green", "3": "tab:red"}
    for name in names:
        head, slot = name.removeprefix("attn_h").split("_parent")
        axes[1].plot(
            steps,
            [h[name] for h in history],
            color=colours.get(head, "0.3"),
            ls="-" if slot == "0" else "--",
            lw=1.8,
            label=f"head {head} on parent {slot}",
        )
    for label, step in (marks or {}).items():
        for ax in axes:
            ax.axvline(step, color="0.4", ls=":", lw=1)
        axes[1].text(step, 1.0, f" {label}", transform=axes[1].get_xaxis_transform(), va="top", fontsize=8)
    axes[1].set_ylim(0, 1.05)
    axes[1].set_xlabel("training step")
    axes[1].set_ylabel("mean layer-1 attention")
    _title(axes[1], "Layer 1: each head's attention on parent 0 ((i-1)//2) and parent 1 (i-1)")
    axes[1].legend(fontsize=8, loc="center right")
    _suptitle(fig, suptitle)
    return fig


def plot_head_blocks(
    blocks: Sequence, adjacencies: Sequence, titles: Sequence[str], adjacency_titles: Sequence[str], suptitle=None
):
    """One row per layer-1 head (chapter 7): its ``T × T`` position block (entries ``j > i``, which the
    causal mask hides, left blank) beside the parent adjacency it is compared with."""
    n = len(blocks)
    fig, axes = _figure(n, 2, height=3.3 * n + (0.4 if suptitle else 0.0), squeeze=False)
    for r, (B, M, title, adj_title) in enumerate(zip(blocks, adjacencies, titles, adjacency_titles)):
        B = np.asarray(B, dtype=float).copy()
        B[np.triu_indices_from(B, k=1)] = np.nan
        lim = np.nanmax(np.abs(B)) or 1.0
        im = axes[r, 0].imshow(B, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        cb = fig.colorbar(im, ax=axes[r, 0], fraction=0.046, pad=0.04)
        cb.ax.tick_params(labelsize=8)
        axes[r, 1].imshow(np.asarray(M, dtype=float), cmap="Greys", vmin=0, vmax=1.25, interpolation="nearest")
        for ax, t in ((axes[r, 0], title), (axes[r, 1], adj_title)):
            T = B.shape[0]
            ax.set_xticks(list(range(0, T, 10)))
            ax.set_yticks(list(range(0, T, 10)))
            ax.tick_params(labelsize=8)
            ax.grid(False)
            ax.set_xlabel("attended position j", fontsize=8)
            ax.set_ylabel("position i", fontsize=8)
            _title(ax, t, fontsize=8)
    _suptitle(fig, suptitle)
    return fig


# ==== sweeps (chapter 10) ====

#: The phase diagram's panels, each a sweep table's column with its panel title, colour map and number format.
PHASE_PANELS = {
    "parent_recovered": ("graph recovered (fraction of seeds)", "Greens", ".2g"),
    "attn_on_parent": ("attention on the parent", "viridis", ".2f"),
    "gap_to_estimator": ("loss − estimator line (nats)", "magma_r", ".2f"),
    "margin": ("predicted χ² margin (log scale)", "Blues", ".2g"),
}


def plot_phase_diagram(table, panels: Sequence[str] = tuple(PHASE_PANELS), annotate: bool = True, suptitle=None):
    """A sweep's phase diagram (chapter 10): one row of heatmaps per graph family, α across and ``S`` down, each
    cell the mean over seeds of a column of the sweep table (:data:`PHASE_PANELS`), the theory's margin last. Every
    family's panel of one column shares one colour scale; ``annotate`` writes each cell's value."""
    import pandas as pd

    df = pd.DataFrame(table)
    families = sorted(df["family"].unique())
    alphas, sizes = sorted(df["alpha"].unique()), sorted(df["S"].unique())
    fig, axes = _figure(len(families), len(panels), height=1.2 + 1.55 * len(families), squeeze=False)
    for c, col in enumerate(panels):
        title, cmap, fmt = PHASE_PANELS[col]
        means = {f: df[df["family"] == f].pivot_table(index="S", columns="alpha", values=col, aggfunc="mean")
                 for f in families}  # fmt: skip
        grids = {f: m.reindex(index=sizes, columns=alphas).to_numpy(dtype=float) for f, m in means.items()}
        shown = {f: np.log10(np.clip(g, 1e-3, None)) if col == "margin" else g for f, g in grids.items()}
        lo = min(np.nanmin(g) for g in shown.values())
        hi = max(np.nanmax(g) for g in shown.values())
        if col == "parent_recovered":
            lo, hi = 0.0, 1.0
        for r, fam in enumerate(families):
            ax = axes[r, c]
            im = ax.imshow(shown[fam], cmap=cmap, vmin=lo, vmax=hi, aspect="auto", origin="lower")
            ax.grid(False)
            ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas], rotation=90 if len(alphas) > 4 else 0)
            ax.set_yticks(range(len(sizes)), [f"{s:g}" for s in sizes])
            if annotate:
                for (i, j), v in np.ndenumerate(grids[fam]):
                    if np.isfinite(v):
                        frac = (shown[fam][i, j] - lo) / ((hi - lo) or 1.0)
                        ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=8,
                                color="white" if frac > 0.6 else "black")  # fmt: skip
            if c == 0:
                ax.set_ylabel(f"{fam}\nvocabulary S")
            if r == len(families) - 1:
                ax.set_xlabel("α")
            if r == 0:
                _title(ax, title, fontsize=9)
        fig.colorbar(im, ax=axes[:, c], orientation="horizontal", fraction=0.06, pad=0.02, aspect=12)
    _suptitle(fig, suptitle)
    return fig


def plot_recovery_vs_margin(table, title: str | None = None):
    """The step at which each run first recovered its whole graph against the predicted χ² margin of its setting
    (chapter 10): one colour per vocabulary size, one marker per family; runs that never recovered sit at the top,
    open, on the tick "never", above the dotted line at the number of steps they trained."""
    import pandas as pd

    df = pd.DataFrame(table)
    _, ax = _figure(height=3.8)
    markers = dict(zip(sorted(df["family"].unique()), "os^D"))
    colours = dict(zip(sorted(df["S"].unique()), plt.get_cmap("viridis")(np.linspace(0, 0.9, df["S"].nunique()))))
    ceiling = float(df["steps"].max())
    for (S, fam), part in df.groupby(["S", "family"]):
        hit = part[part["recovered_at_step"].notna()]
        miss = part[part["recovered_at_step"].isna()]
        kw = dict(marker=markers[fam], color=colours[S], s=28)
        ax.scatter(hit["margin"], hit["recovered_at_step"], label=f"S = {S:g}, {fam}", **kw)
        ax.scatter(miss["margin"], np.full(len(miss), 1.15 * ceiling), facecolors="none", edgecolors=colours[S],
                   marker=markers[fam], s=28)  # fmt: skip
    ax.axhline(ceiling, color="0.5", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    first = df["recovered_at_step"].min()
    low = int(np.floor(np.log10(first))) if np.isfinite(first) and first > 0 else int(np.log10(ceiling))
    decades = [10**k for k in range(low, int(np.floor(np.log10(ceiling))) + 1)]
    ax.set_yticks(decades + [1.15 * ceiling], [f"$10^{{{int(np.log10(d))}}}$" for d in decades] + ["never"])
    ax.minorticks_off()
    ax.set_xlabel("predicted χ² margin of the setting")
    ax.set_ylabel("step of first recovery")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    _title(ax, title)
    return ax
