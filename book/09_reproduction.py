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
# - which of the paper's claims the book reproduces, which it does not (Fig. 2's loss), and why, measured;
# - how each run sits against the book's own, stricter lines (the Bayes floor, the estimator without the
#   research code's slip, the read-out floor), kept apart from the paper's claims.
#
# **Prerequisites** chapters 4 and 6–8, whose book-scale runs these repeat at full size.
#
# **Time** about 20 minutes to read; the page reads the stored paper-scale results and trains every
# experiment once more at the book scale (about two minutes on a 2-core laptop CPU).
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
# is computed from those files, and from book-scale runs made on the spot, when the page is built.
#
# **One seed.** Every paper-scale result here is a single run with seed 0 (Fig. 9 spreads over twenty
# graphs, not over seeds), and so is each number the paper's figures show. A difference of a few
# hundredths from a number read off a figure can be seed-to-seed variation; a difference of many
# standard errors of a test-set line cannot.

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

from causal_tutorial.graphs import chain, multi_parent_dag
from causal_tutorial.plots import (loss_curve, plot_attention_map, plot_forests, plot_head_blocks,
                                   plot_learned_graphs)
from causal_tutorial.reproduction import (PAPER_REPORTS, REACH_SE, book_lines, book_scale_results, claims,
                                          load_results, summary_row)
from causal_tutorial.theory import initial_gradient_formula

pd.set_option("display.width", 110)
pd.set_option("display.max_colwidth", 60)
results = load_results("../results/paper")
kept = {name: r for name, r in results.items() if r is not None}
missing = [name for name, r in results.items() if r is None]
print("kept paper-scale results:", ", ".join(kept) or "none")
print("not run yet:", ", ".join(missing) or "none")

# %% [markdown]
# The same experiments at their book scale (`python -m causal_tutorial run NAME --scale book`), trained
# now, so that each claim below shows both scales. The book scale trains the single-parent graphs with
# AdamW, which finds the chain's circuit in a thousand steps (chapter 4 says why; chapter 6 also runs the
# paper's SGD at this scale), and, as chapter 6 does, five of the twenty random forests:

# %% tags=["nbval-ignore-output"]
book = book_scale_results(seed=cfg.seed)
for name, r in book.items():
    final = r["final"].get("test_loss", r["final"].get("test_loss_mean"))
    train = r["config"]["train"]
    print(f"{name:12s} book scale: final test loss {final:.3f} after {train['steps']:,} {train['optimizer']} steps "
          f"of {train['batch_size']:,}")
assert all(np.isfinite(r["final"].get("test_loss", r["final"].get("test_loss_mean"))) for r in book.values())

# %% [markdown]
# ## The paper's claims, one by one
#
# Each claim the paper makes with a figure, where the book reproduces it at its own scale, our number at
# the book's and at the paper's scale, and a verdict read off the paper-scale run by a rule written in
# {func}`~causal_tutorial.reproduction.claims`: a loss *reaches* a line when it ends at most
# three standard errors of that line (on the run's own test set) above it; a number read off a figure is
# met within the precision of reading it. The paper's "Bayes" line in Figs. 2, 6 and 8 is the in-context
# estimator as its research code computes it, with the roots counted (chapter 1), so that is the line
# its claims are held to here.

# %% tags=["nbval-ignore-output"]
table = claims(results, book)
for c in table:
    print(f"{c['figure']}: {c['claim']}\n    where in the book: {c['where']}\n"
          f"    book scale:  {c['book scale']}\n    paper scale: {c['paper scale']}\n"
          f"    -> {c['status'].upper()}: {c['reason']}\n")

# %%
status = {(c["figure"], c["claim"]): c["status"] for c in table}
verdicts = pd.DataFrame([{"figure": f, "claim": c[:58], "status": s} for (f, c), s in status.items()])
print(verdicts.to_string(index=False))
by = {f: [c for c in table if c["figure"] == f] for f in dict.fromkeys(c["figure"] for c in table)}
assert by["Fig. 2 (chain)"][1]["status"] == "not reproduced", "Fig. 2's loss does not reach its line"
assert by["Fig. 2 (chain)"][0]["status"] == "reproduced", "but layer 1 does learn the chain"
assert by["Fig. 6 (random)"][1]["reason"].startswith("only through the slip"), "the random tree: through the slip"
assert all(c["status"] == "reproduced" for c in by["Fig. 6 (icl)"]), "the icl pairs reproduce"
assert by["Fig. 8 (standard)"][1]["status"] == "not reproduced", "Fig. 8's attention is higher than its figure's"
assert all(c["status"] == "reproduced" for f in ("Fig. 9 (forests)", "Figs. 5, 7 (multiparent)") for c in by[f])

# %% [markdown]
# **The paper's theorem.** Chapter 5 states the paper's main theorem: on its reduced model, stage 1 of
# Algorithm 1 writes the graph into the first layer, because at initialisation the gradient on
# $A^{(1)}[i, j]$ is largest at the parent $j = p(i)$. That is a statement about a model and a limit,
# not about a training run, so no paper-scale run tests it; what can be checked is its key fact. Here is
# the prior average of chapter 5's gradient formula on each kept single-parent graph: in how many child
# rows does the gradient peak at the parent?

# %%
for name in ("chain", "icl", "random"):
    parents = kept[name]["task"]["parents"] if name in kept else chain(20)
    G = initial_gradient_formula(parents, 10, 0.1, 256, generator=cfg.generator(90)).mean
    kids = [i for i, p in enumerate(parents) if p >= 0 and i >= 2]
    at_parent = sum(int(G[i, :i].argmax()) == parents[i] for i in kids)
    print(f"{name:6s} the gradient at initialisation peaks at the parent in {at_parent} of {len(kids)} child rows "
          "(rows with at least two earlier positions)")
    assert at_parent == len(kids), f"{name}: the key fact holds on every row"

# %% [markdown]
# ## Fig. 2 is not reproduced
#
# The paper's Fig. 2 shows the chain's test loss coming down to its "Bayes" line. Ours, at the paper's own
# settings ($2^{17}$ steps of SGD at learning rate 1 on fresh batches of 1,024, cosine schedule, zero
# initialisation), does not:

# %%
c = kept["chain"]
b, final = c["baselines"], c["final"]["test_loss"]
lines = {"the figure's line (roots counted)": ("estimator_roots_counted", "estimator_roots_counted_se"),
         "the estimator without the slip": ("estimator", "estimator_se"),
         "the Bayes floor": ("bayes", "bayes_se"), "the read-out floor": ("readout_floor", "readout_floor_se")}
for label, (key, se) in lines.items():
    print(f"final {final:.4f} - {label} {b[key]:.4f} = {final - b[key]:+.4f} ({(final - b[key]) / b[se]:+.0f} se)")
gap_slip = final - b["estimator_roots_counted"]
assert gap_slip > REACH_SE * b["estimator_roots_counted_se"], "well above the figure's line"
assert 0.03 < gap_slip < 0.036 and 12 < gap_slip / b["estimator_roots_counted_se"] < 13.5, "0.033 nats, about 13 se"
assert 0.04 < final - b["estimator"] < 0.05, "0.046 above the estimator without the slip"
assert abs(final - b["readout_floor"]) < 0.015, "and at the read-out floor"

# %% [markdown]
# It ends 0.033 nats (about 13 standard errors) above the figure's line and 0.046 above the estimator
# without the slip, within about a hundredth of a nat of the **read-out floor**. That floor is the
# measured reason. Chapter 3 built the induction head by hand and showed that even the perfect circuit,
# with a single read-out scale for every sequence, sits above the estimator: its prediction is a
# softmax of the matching children's average, log-linear where the estimator is linear, and it cannot
# tell one matching child from ten. Chapter 4 showed that training finds exactly that circuit. So a run
# that finds the circuit and sharpens it ends at the read-out floor unless it also learns something the
# hand-built head lacks, and this one did not. Nor is it our model: the paper's research code builds the
# same disentangled transformer, and, measured outside this repository, its JAX model and ours trained
# side by side with SGD on the same 60 batches of 1,024 chain sequences gave losses equal within
# $5\cdot10^{-7}$ and parameters within $2\cdot10^{-7}$ (relative).
#
# What can a figure show? On an axis that runs from the uniform line ($\log S$) down to the figure's line,
# the gap is this fraction of the height, beside the distance between the two estimator lines:

# %%
height = b["uniform"] - b["estimator_roots_counted"]
print(f"gap to the figure's line: {gap_slip / height:.1%} of the height from the uniform line; "
      f"the slip itself (roots counted - not): {(b['estimator_roots_counted'] - b['estimator']) / height:.1%}")
assert 0.03 < gap_slip / height < 0.1

# %% [markdown]
# A few percent of the plot's height is a line's width or two on a figure of the paper's size: the figure
# shows the loss leaving the uniform line and flattening near its "Bayes" line, but it cannot show
# whether it flattens at the line or a few hundredths above it, and no one can read four digits off it.
# The claim that the loss *reaches* the line is therefore stronger than the figure can carry, and at the
# paper's own settings it does not hold for our run. Whether another seed would reach it is open here:
# this is one seed.
#
# **The random tree reaches the paper's line only through the slip.** Its final loss is below the
# figure's line, which counts the roots, and well above the estimator without the slip; a random tree
# has many roots, so the slip costs more there than on the chain:

# %%
r = kept["random"]
b, final = r["baselines"], r["final"]["test_loss"]
print(f"random tree: final {final:.4f}; figure's line (roots counted) {b['estimator_roots_counted']:.4f} "
      f"({final - b['estimator_roots_counted']:+.4f}); without the slip {b['estimator']:.4f} "
      f"({final - b['estimator']:+.4f}, {(final - b['estimator']) / b['estimator_se']:+.0f} se); "
      f"{sum(p < 0 for p in r['task']['parents'])} roots")
assert final < b["estimator_roots_counted"] and final - b["estimator"] > REACH_SE * b["estimator_se"]

# %% [markdown]
# ## The book's own lines
#
# Apart from the paper's claims, the book holds every run to stricter lines of its own: the Bayes floor
# (the best any predictor can do, chapter 1), the in-context estimator without the slip, and for the
# single-parent disentangled runs the read-out floor of the perfect induction head (chapter 3). Each run's
# final loss minus each line, in nats and in standard errors of that line:

# %%
own = pd.DataFrame([book_lines(name, r) for name, r in kept.items()]).set_index("experiment")
numeric = own[[col for col in own.columns if col != "where it stops"]].astype(float)
in_se = [col for col in numeric.columns if col.endswith("(se)")]
print(numeric.round(4).round({col: 1 for col in in_se}).to_string(na_rep="–"))
print()
print(own["where it stops"].to_string())
assert own.loc["chain", "where it stops"] == "at the read-out floor"
assert own.loc["icl", "where it stops"] == "at the estimator line"
assert own.loc["random", "where it stops"] == "between the estimator line and the read-out floor"
assert own.loc["standard", "where it stops"].startswith("at the estimator line")
assert (own[["− Bayes"]].dropna() > 0).all().all(), "no run beats the Bayes floor"
assert -0.035 < own.loc["icl", "− read-out floor"] < -0.02, "icl: about three hundredths below the read-out floor"
assert -0.015 < own.loc["chain", "− read-out floor"] < 0, "the chain: about a hundredth below the read-out floor"
assert abs(own.loc["random", "− read-out floor"]) < own.loc["random", "− estimator"], "random: nearer the floor"
assert 0 < own.loc["multiparent", "− estimator"] < 0.03, "multi-parent: a little above its k-gram line"

# %% [markdown]
# The in-context pairs graph reaches the estimator line and so passes below the read-out floor by about
# three hundredths of a nat: its trained circuit does something the saturated hand-built head cannot, such
# as letting the weight on the matching children grow with their number. We have not traced which. The
# chain stops at the read-out floor, about a hundredth of a nat below it; the random tree between its two
# lines, closer to the floor than to the estimator. The standard transformer's MLP read-out is not bound
# by that floor, and it ends at the estimator line. The multi-parent run ends a little above its k-gram
# line, which is also its Bayes predictor there.
#
# All the lines and each run's attention on its parents, with its wall time and device:

# %%
rows = pd.DataFrame([summary_row(name, r) for name, r in results.items()]).set_index("experiment")
short = {"ours: final loss": "ours", "estimator": "estimator", "estimator, roots counted": "est. roots counted",
         "Bayes": "Bayes", "read-out floor": "read-out floor", "one-parent line": "one-parent"}
numbers = rows.reindex(columns=list(short)).rename(columns=short).loc[list(kept)].astype(float).round(4)
print(numbers.to_string(na_rep="–") if len(numbers) else "No paper-scale result is kept yet.")

# %%
other = ["attention on parent (in sequences)", "attention on parent (block softmax)", "wall time", "device"]
print(rows.reindex(columns=other).loc[list(kept)].to_string(na_rep="–") if kept else "No paper-scale result is kept yet.")

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
# Each run's test loss through training against its baselines (the run's own test set). On the chain the
# curve flattens at the read-out floor, above both estimator lines.

# %% mystnb={"image": {"alt": "Test loss through training of every kept paper-scale run, each against its own baselines."}}
curves = {name: r for name, r in kept.items() if name != "forests"}
if curves:
    fig, axes = plt.subplots(len(curves), 1, figsize=(7, 2.9 * len(curves)), layout="constrained", squeeze=False)
    for ax, (name, r) in zip(axes[:, 0], curves.items()):
        keys = ("uniform", "one_parent", "estimator") if name == "multiparent" else (
            "uniform", "readout_floor", "estimator_roots_counted", "estimator", "bayes")
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
# **The estimator line.** The paper draws the in-context estimator as its research code computes it,
# with a slip: the code looks up each position's parent token through the parent array, and a root's
# parent index $-1$ reads the last entry, $s_{T-2}$. So whenever $s_{T-2}$ equals the query, every root
# is counted as a child of the query (chapter 1). Our estimator counts only positions that have a parent.
# Both lines are in the tables; for each single-parent run, with standard errors over its test set:

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
# **Fig. 8's attention.** The paper's Fig. 8 shows the standard transformer's layer 1 putting about 0.6
# to 0.7 of its attention on $i-1$ (read off the figure). Ours puts more there, and more at the book
# scale (chapter 8's run, 5 times shorter and on half the batch) than at the paper's:

# %% tags=["nbval-ignore-output"]
def mean_on_previous(r):
    return float(np.mean([x for x in r["attn_by_position"] if x is not None]))


paper_attn, book_attn = mean_on_previous(kept["standard"]), mean_on_previous(book["standard"])
print(f"standard: mean layer-1 attention on i-1 at the paper scale {paper_attn:.2f}, "
      f"at the book scale {book_attn:.2f}; the paper's figure: about 0.6-0.7")
assert 0.75 < paper_attn < 0.87 and book_attn > paper_attn, "above the figure's range, and higher at book scale"

# %% [markdown]
# We have not traced the difference (one seed on each side; the model is rebuilt from the research
# code, chapter 8). The loss, which is what the attention serves, does reach the figure's line.
#
# **Figs. 5 and 7's plateau and drop**, read off the kept history by
# {func}`~causal_tutorial.reproduction.plateau_and_drop` (the drop is the steepest fall between two
# evaluations, 512 steps apart, so its step is known to that interval): the plateau sits where the
# figure's does, and the drop comes at the early edge of the figure's 3–4k steps. The escape from a
# plateau is set by small asymmetries that grow, so its step varies from seed to seed; one seed cannot
# say more.

# %%
from causal_tutorial.reproduction import plateau_and_drop

shape = plateau_and_drop(kept["multiparent"]["history"])
print(f"plateau {shape['plateau_low']:.2f} to {shape['plateau_high']:.2f} (median {shape['plateau']:.2f}; the "
      f"figure: about 1.17); the drop between steps {shape['drop_from_step']:,} and {shape['drop_to_step']:,} "
      f"(the figure: 3-4k), {shape['drop']:.3f} nats in one interval")
assert abs(shape["plateau"] - 1.17) < 0.03 and shape["drop_from_step"] < 3000 < shape["drop_to_step"]
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
