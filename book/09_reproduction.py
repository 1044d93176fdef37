# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The paper at its own scale
#
# ```{admonition} About this page
# :class: tip
# **You will learn**
# - what the paper's experiments give when they are run with the paper's own settings (steps, batch,
#   optimiser, schedule, initialisation, test-set size), beside what the paper reports;
# - how each result is held to a measurable line (the read-out floor, the k-gram line, the estimator
#   line, the paper's Fig. 9 spread), and where ours differs from the paper, why.
#
# **Prerequisites** chapters 4 and 6–8, whose book-scale runs these repeat at full size.
#
# **Time** about 15 minutes to read; the page only reads stored result files (seconds).
# ```
#
# Every chapter trains at the *book scale*, small enough for a laptop minute. This page collects the
# same experiments run at the *paper scale*: exactly the settings of the paper {cite}`nichani2024causal`
# and its research code, with test sets of $2^{16}$ sequences. Each run was made with
#
# ```bash
# python -m causal_tutorial run NAME --scale paper --out results/paper --resume
# ```
#
# which writes `results/paper/NAME/result.json`: the configuration, the seed, the device, the library
# versions, the git commit of the code, the wall time, the training history, the final matrices and
# every baseline on the run's own test set. A test checks that each kept file's configuration is
# today's paper configuration of its experiment, so a stale result cannot hide here. Everything below
# is computed from those files when the page is built.

# %% tags=["hide-input"]
# Set-up. Where the package is missing (on Colab, say), install it from the repository: a regular
# install is importable at once, without restarting the kernel.
import importlib
import os
import subprocess
import sys

try:
    import causal_tutorial  # noqa: F401
except ImportError:
    # In a clone of the repository, its own copy; elsewhere (Colab, a downloaded notebook) this edition
    # from the repository. torch is installed only where none is present: Colab keeps its own.
    REPOSITORY, EDITION = "https://github.com/causal-tutorial/causal-structure-book", "0.3.0"
    clone = os.path.exists(os.path.join("..", "pyproject.toml"))
    source = os.environ.get("CAUSAL_TUTORIAL_SOURCE") or (".." if clone else f"git+{REPOSITORY}@v{EDITION}")
    print("installing causal_tutorial from", source)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", source], check=True)
    importlib.invalidate_caches()
import warnings

from causal_tutorial.book import setup

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notice without ipywidgets
cfg = setup(seed=0)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from causal_tutorial.graphs import multi_parent_dag
from causal_tutorial.plots import (loss_curve, plot_attention_map, plot_forests, plot_head_blocks,
                                   plot_learned_graphs)
from causal_tutorial.reproduction import PAPER_REPORTS, acceptance, load_results, summary_row

pd.set_option("display.width", 110)
pd.set_option("display.max_colwidth", 60)
results = load_results("../results/paper")
kept = {name: r for name, r in results.items() if r is not None}
missing = [name for name, r in results.items() if r is None]
print("kept paper-scale results:", ", ".join(kept) or "none")
print("not run yet:", ", ".join(missing) or "none")

# %% [markdown]
# ## The table
#
# One row per experiment: what the paper reports, our final test loss, the in-context estimator line
# (roots excluded, and with the research code's root-counting slip), the Bayes floor, the read-out
# floor of a perfect induction head (chapter 3), the attention on the parents, and how long the run
# took on which device. The lines are measured on each run's own test set. For the multi-parent run
# "estimator" is the k-gram estimator, the Bayes-optimal one there; for the forests, the numbers are
# means over the twenty graphs.

# %%
rows = pd.DataFrame([summary_row(name, r) for name, r in results.items()]).set_index("experiment")
print(rows[["figure", "paper reports"]].to_string())

# %%
short = {"ours: final loss": "ours", "estimator": "estimator", "estimator, roots counted": "est. roots counted",
         "Bayes": "Bayes", "read-out floor": "read-out floor", "one-parent line": "one-parent"}
numbers = rows.reindex(columns=list(short)).rename(columns=short).loc[list(kept)].astype(float).round(4)
print(numbers.to_string(na_rep="–") if len(numbers) else "No paper-scale result is kept yet.")

# %%
other = ["attention on parent (in sequences)", "attention on parent (block softmax)", "wall time", "device"]
print(rows.reindex(columns=other).loc[list(kept)].to_string(na_rep="–") if kept else "No paper-scale result is kept yet.")

# %% [markdown]
# ## The acceptance lines
#
# Each result is held to a line that can fail: the single-parent runs must end no more than 0.01 nats
# above the read-out floor, with every child row of $A^{(1)}$'s position block peaking at its parent; the
# multi-parent run within 0.03 nats of the k-gram line of its own root law, with its two layer-1 heads
# on different parents; the standard transformer within 0.03 nats of the estimator line; Fig. 9's
# mean within the larger of the paper's and our spread of the paper's 0.837.

# %%
lines = pd.DataFrame([{"experiment": name, **line} for name, r in kept.items() for line in acceptance(name, r)])
if len(lines):
    print(lines.to_string(index=False))
    unmet = lines[~lines["met"]]
    print(f"\n{len(lines) - len(unmet)} of {len(lines)} lines met" + (
        "; not met: " + "; ".join(f"{e}: {l}" for e, l in zip(unmet["experiment"], unmet["line"])) if len(unmet) else ""))
else:
    print("No paper-scale result is kept yet.")

# %% [markdown]
# ## What layer 1 learned
#
# For each single-parent graph, the row-wise softmax of the learned position block of $A^{(1)}$ (where
# layer 1 would attend by position alone) above the true parents: the paper's Figs. 2 and 6.

# %% mystnb={"image": {"alt": "For each single-parent graph run at the paper's scale, the row-wise softmax of the learned position block of layer 1 above the true parent adjacency."}}
single = {name: kept[name] for name in ("chain", "icl", "random") if name in kept}
if single:
    plot_learned_graphs({name: (r["A1_position_block"], r["task"]["parents"]) for name, r in single.items()},
                        suptitle="Paper scale: the learned position block against the graph")
    plt.show()
else:
    print("No single-parent paper-scale result is kept yet.")

# %% [markdown]
# ## Loss curves
#
# Each run's test loss through training against its baselines (the run's own test set).

# %% mystnb={"image": {"alt": "Test loss through training of every kept paper-scale run, each against its own baselines."}}
curves = {name: r for name, r in kept.items() if name != "forests"}
if curves:
    fig, axes = plt.subplots(len(curves), 1, figsize=(7, 2.9 * len(curves)), layout="constrained", squeeze=False)
    for ax, (name, r) in zip(axes[:, 0], curves.items()):
        keys = ("uniform", "one_parent", "estimator") if name == "multiparent" else (
            "uniform", "readout_floor", "estimator", "bayes")
        loss_curve(r["history"], r["baselines"], ax=ax, keys=keys,
                   title=f"{name} ({r['figure']}): final {r['final']['test_loss']:.3f}, "
                         f"estimator {r['baselines']['estimator']:.3f}")
        ax.set_xscale("symlog", linthresh=1000)  # the early steps, where the loss falls, take a tenth of the axis
    plt.show()
else:
    print("No paper-scale loss curve to show yet.")

# %% [markdown]
# ## Fig. 9: twenty random forests
#
# The twenty graphs train as one stacked model ({mod}`causal_tutorial.stacked`; the same runs as
# twenty separate ones, to float rounding). Left: the mean attention from each position to its parent
# over the graphs where it has one. Right: each graph's two metrics, the paper's (softmax of the
# position block) and ours (the attention paid in test sequences), with the paper's $0.837 \pm 0.054$.

# %% mystnb={"image": {"alt": "Fig. 9 at the paper's scale: attention on the parent by position over twenty random forests, and each graph's two attention metrics beside the paper's value."}}
forests = kept.get("forests")
if forests is not None:
    plot_forests(forests["attn_by_position"], [g["block_attn_on_parent"] for g in forests["graphs"]],
                 [g["final"]["attn_on_parent"] for g in forests["graphs"]],
                 paper=PAPER_REPORTS["forests"]["attention"],
                 suptitle=f"Fig. 9 at the paper's scale ({len(forests['graphs'])} forests)")
    plt.show()
else:
    print("The forests' paper-scale result is not kept yet.")

# %% [markdown]
# ## Figs. 5 and 7: the two heads, and Fig. 8: a standard transformer

# %% mystnb={"image": {"alt": "The multi-parent run's two layer-1 position blocks beside the parent adjacencies they match."}}
multi = kept.get("multiparent")
if multi is not None:
    T = multi["config"]["T"]
    dag = multi_parent_dag(T)
    adj = np.zeros((2, T, T))
    for i, ps in enumerate(dag[:T]):
        for k, p in enumerate(ps):
            adj[k, i, p] = 1.0
    took = [int(np.argmax(rows)) for rows in multi["rows_on_parent_slot"]]
    plot_head_blocks(multi["A1_position_blocks"], [adj[k] for k in took],
                     [f"head {h}: position block" for h in range(len(took))],
                     [["parent (i-1)//2", "parent i-1"][k] for k in took],
                     suptitle="Multi-parent, paper scale: each head against the parent it took")
    plt.show()
else:
    print("The multi-parent paper-scale result is not kept yet.")

# %% mystnb={"image": {"alt": "The standard transformer's mean layer-1 attention at the paper's scale, and its attention on the previous position."}}
standard = kept.get("standard")
if standard is not None:
    plot_attention_map(standard["mean_attention"], {"standard, paper scale": standard["attn_by_position"]},
                       map_title="Standard transformer: mean layer-1 attention",
                       suptitle="Fig. 8 at the paper's scale")
    plt.show()
else:
    print("The standard transformer's paper-scale result is not kept yet.")

# %% [markdown]
# ## Where ours differs from the paper's, and why
#
# **The estimator line.** The paper draws the in-context estimator with the research code's slip: it
# counts the roots as if they were children of position 0. Our estimator excludes them. Both lines
# are in the table; the chain's gap between them, with standard errors over the test set, is:

# %%
for name in ("chain", "icl", "random", "standard"):
    r = kept.get(name)
    if r is None:
        continue
    b = r["baselines"]
    print(f"{name:9s} estimator {b['estimator']:.4f} ± {b['estimator_se']:.4f}, roots counted "
          f"{b['estimator_roots_counted']:.4f} ± {b['estimator_roots_counted_se']:.4f}; "
          f"final loss {r['final']['test_loss']:.4f}")

# %% [markdown]
# **Where the loss stops.** The paper's Figs. 2 and 6 show the loss coming down to the estimator line.
# At the paper's own settings our runs do not all end in the same place. Each run below is one of two
# kinds: *at the estimator line* (within three of its standard errors) or *at the read-out floor* of
# chapter 3 (within two hundredths of a nat of it, and more than five standard errors above the
# estimator). The read-out floor is the best a perfect induction head with one softmax scale can do (its
# attention saturated, $\beta \to \infty$); a trained model is not bound by it, and the acceptance line
# only asks that it get no more than a hundredth of a nat above it. The gaps, also in units of the
# estimator line's standard error:

# %%
kinds = {}
for name in ("chain", "icl", "random"):
    r = kept.get(name)
    if r is None:
        continue
    b, final = r["baselines"], r["final"]["test_loss"]
    gap, se = final - b["estimator"], b["estimator_se"]
    if abs(gap) < 3 * se:
        kinds[name] = "at the estimator line"
    elif gap > 5 * se and abs(final - b["readout_floor"]) < 0.02:
        kinds[name] = "at the read-out floor"
    print(f"{name:7s} final − estimator {gap:+.4f} ({gap / se:+.1f} se), "
          f"final − read-out floor {final - b['readout_floor']:+.4f}: {kinds.get(name, 'neither')}")
    assert name in kinds, f"{name}: neither at the estimator line nor at the read-out floor"
assert kinds.get("chain") == "at the read-out floor", "the chain stops at the read-out floor"
assert kinds.get("random", "at the read-out floor") == "at the read-out floor", "so does the random tree"
assert kinds.get("icl", "at the estimator line") == "at the estimator line", "the icl pairs reach the estimator"

# %% [markdown]
# The chain and the random tree stop at the read-out floor, a few hundredths of a nat above the estimator
# line, as the book-scale run of chapter 4 did with AdamW. The in-context pairs graph (Fig. 6) reaches the estimator
# line, and so passes below the read-out floor by about three hundredths of a nat: its trained circuit
# does something the saturated hand-built head cannot, such as letting the weight on the matching
# children grow with their number. We have not traced which; chapter 3's exercise on one read-out scale
# for every count shows what such a circuit would have to do.

# %% [markdown]
# **Fig. 8's attention.** The paper's Fig. 8 shows the standard transformer's layer 1 putting about 0.6 to
# 0.7 of its attention on $i-1$ (read off the figure). Ours, at the paper's settings:

# %%
if "standard" in kept:
    curve = [x for x in kept["standard"]["attn_by_position"] if x is not None]
    print(f"standard: mean layer-1 attention on i-1 {np.mean(curve):.3f} (positions {min(curve):.3f} to "
          f"{max(curve):.3f}); the paper's figure: about 0.6-0.7")

# %% [markdown]
# We have not traced the difference (one seed, one test set; the research model is rebuilt from the
# research code, chapter 8); the loss, which is what the attention serves, is at the estimator line.
#
# **Test-set draws and seeds.** A single test set of $2^{16}$ sequences moves every line by about its
# standard error (a few thousandths of a nat), so a difference of that size from a number read off the
# paper's figures is not a difference. We ran one seed of each experiment.
#
# **The multi-parent root law.** The research code draws each sequence's two roots from one shared
# Dirichlet law; the paper's text says nothing of it. The run here uses the research code's law
# (chapter 7 measures both: the k-gram and one-parent lines are one to three hundredths of a nat lower
# under it).
#
# **Fig. 9's metric.** The paper's number is the softmax of the position block alone; the attention a
# trained layer 1 pays in real sequences also has token parts. Both are shown.
#
# **Runs not kept yet.** On a 2-core CPU each single-parent run takes about an hour and the multi-parent
# run about as long (the README's performance section gives the projections); the runs resume from
# their checkpoints (`--resume`), so they can be made a piece at a time. Those listed at the top as
# "not run yet" have not been made on this project's machines so far.
