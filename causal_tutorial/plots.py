"""One figure style for the whole book, and the figures every chapter reuses.

``set_style()`` is called once at the top of each chapter. Every figure states its finding in its
title, labels its axes, and marks token/position blocks where a matrix has them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["set_style", "loss_curve", "matrix_heatmap", "block_heatmap", "experiment_figures", "BASELINE_LABELS"]

BASELINE_LABELS = {
    "uniform": "uniform (log S)",
    "unigram": "in-context unigram",
    "one_parent": "one-parent estimator",
    "estimator_roots_counted": "estimator, roots counted (research code)",
    "readout_floor": "read-out floor",
    "estimator": "in-context estimator (paper's line)",
    "bayes": "Bayes floor (importance-sampled)",
}
_COLORS = {"uniform": "0.6", "unigram": "0.45", "one_parent": "tab:purple", "estimator_roots_counted": "tab:olive",
           "readout_floor": "tab:green", "estimator": "tab:red", "bayes": "black"}


def set_style() -> None:
    """The book's single figure style (seaborn ``whitegrid``, readable sizes)."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95)
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "axes.titleweight": "bold",
                                "figure.autolayout": False})


def loss_curve(history: Sequence[dict], baselines: dict | None = None, ax=None, title: str | None = None,
               keys: Sequence[str] = ("uniform", "unigram", "estimator", "readout_floor", "bayes"), label="test loss"):
    """Test loss through training, with each baseline as a horizontal line (chapters 4, 6, 7)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["test_loss"] for h in history], color="tab:blue", lw=2, label=label)
    for k in keys:
        if baselines and k in baselines:
            ax.axhline(baselines[k], ls="--", lw=1.2, color=_COLORS.get(k, "0.3"), label=f"{BASELINE_LABELS.get(k, k)}: {baselines[k]:.3f}")
    ax.set_xlabel("training step")
    ax.set_ylabel("test cross-entropy (nats)")
    ax.set_title(title or "Test loss against the baselines")
    ax.legend(fontsize=8, loc="upper right")
    return ax


def matrix_heatmap(M, ax=None, title: str = "", xlabel: str = "", ylabel: str = "", cmap="viridis",
                   center: float | None = None, ticks: bool = True, cbar: bool = True):
    """A plain heatmap of a matrix (row index down, column index across)."""
    M = np.asarray(M, dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    if center is not None:
        lim = np.abs(M - center).max() or 1.0
        im = ax.imshow(M, cmap="RdBu_r", vmin=center - lim, vmax=center + lim)
    else:
        im = ax.imshow(M, cmap=cmap)
    if cbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(False)
    if not ticks:
        ax.set_xticks([])
        ax.set_yticks([])
    return ax


def block_heatmap(M, row_blocks: Sequence[tuple[str, slice]], col_blocks: Sequence[tuple[str, slice]] | None = None,
                  ax=None, title: str = "", center: float | None = 0.0):
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


def experiment_figures(result: dict, out_dir: str | Path) -> list[Path]:
    """The figures of an experiment's result: its loss curve and, where there is one, the learned graph."""
    out_dir = Path(out_dir)
    paths = []
    if "history" in result:
        fig, ax = plt.subplots(figsize=(7, 4))
        loss_curve(result["history"], result.get("baselines"), ax=ax,
                   title=f"{result['experiment']} [{result['scale']}]: test loss against the baselines")
        fig.tight_layout()
        paths.append(out_dir / "loss.png")
        fig.savefig(paths[-1])
        plt.close(fig)
    if "A1_position_block" in result:
        fig, ax = plt.subplots(figsize=(5, 4.3))
        matrix_heatmap(result["A1_position_block"], ax=ax, title="Layer 1, position block: row i → its parent",
                       xlabel="attended position j", ylabel="position i", center=0.0)
        fig.tight_layout()
        paths.append(out_dir / "A1_position_block.png")
        fig.savefig(paths[-1])
        plt.close(fig)
    return paths
