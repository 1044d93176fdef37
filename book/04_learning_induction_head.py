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
# # Learning the induction head
#
# ```{admonition} About this chapter
# :class: tip
# **You will learn**
# - how to train the disentangled transformer on in-context Markov chains with the package's one training
#   loop, and how the book-scale run differs from the paper's;
# - to compare the test loss with the baselines: the estimator line, chapter 3's read-out floor, the Bayes
#   floor;
# - to watch the circuit form in $A^{(1)}$, $A^{(2)}$ and $W$, and to find the moment layer 1 locks onto
#   the causal graph.
#
# **Prerequisites** chapter 3 (the architecture and the hand-built induction head).
#
# **Time** about 40 minutes to read; the notebook runs in one to two minutes on a laptop CPU (most of it
# training).
# ```
#
# Chapter 3 built an induction head by hand and showed that, as its attention sharpens, its loss settles
# on the read-out floor on matched sequences: the best a perfect induction head with a single read-out
# scale can do where the query token has occurred before.
# Here nobody builds anything: we start from all-zero weights, train on fresh Markov chains, and look at
# what gradient descent writes into the model. The paper's finding {cite}`nichani2024causal` is that it
# writes the same circuit, with the causal graph (here the chain $p(i) = i-1$) in the position block of
# the first attention layer.

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
import pandas as pd
import torch

from causal_tutorial.analysis import (ParameterSnapshots, circuit_blocks, first_step_above,
                                      ideal_readout, layer2_attention_by_count, load_result,
                                      lock_step, loss_by_match_count, parent_metrics,
                                      rows_on_parent)
from causal_tutorial.estimators import (in_context_estimator,
                                        matching_children_average, mean_and_se, readout_floor,
                                        soft_cross_entropy)
from causal_tutorial.experiments import EXPERIMENTS, resolve, run_spec
from causal_tutorial.models import block_slices
from causal_tutorial.plots import (loss_curve, plot_book_vs_paper, plot_by_match_count,
                                   plot_locking, plot_snapshots)
from causal_tutorial.training import draw_test_set

# %% [markdown]
# ## The experiment
#
# {data}`~causal_tutorial.experiments.EXPERIMENTS` holds every figure of the paper as a named experiment
# at three scales. `chain` is the in-context Markov chain with $S=10$ tokens, $T=20$ positions and
# $\alpha=0.1$, learned by a heads-(1, 1) disentangled transformer whose weights all start at zero. The
# loss is the cross-entropy against the soft label $\pi[s_{T-1}]$, on fresh sequences at every step.
#
# One difference from the paper must be said plainly. The paper trains with plain SGD at learning rate 1
# (cosine schedule) for $2^{17}$ steps of 1024 fresh sequences, over 130 million sequences: on a 2-core
# CPU that is a run of about an hour (the one kept with this book is timed in the last section), too
# long for a chapter. To fit a laptop, the *book scale* uses AdamW at learning rate 0.03 (cosine schedule) for 1200
# steps of 1024 sequences, about a minute on a laptop CPU. Adam rescales the step of every coordinate,
# which lets the attention weights grow from zero in far fewer steps; as this chapter shows, it finds the
# induction head all the same.
# Set `CAUSAL_TUTORIAL_SCALE=paper` to run this chapter with the paper's settings (an hour or more on a
# laptop CPU); the last section shows the stored paper-scale result. We also evaluate five times as often
# as the experiment's default, to time the moment layer 1 finds the graph.

# %%
exp = EXPERIMENTS["chain"]
every = max(1, exp.config(cfg.scale).eval_every // 5)
spec = resolve("chain", cfg.scale, seed=0, device=cfg.device, train_overrides={"eval_every": every})
config = spec.config()
pd.Series({"scale": cfg.scale, "optimizer": config.optimizer, "learning rate": config.lr,
           "schedule": config.schedule, "steps": config.steps, "batch size": config.batch_size,
           "evaluate every": config.eval_every,
           "test sequences": config.test_size}).to_frame("chain")

# %% [markdown]
# {func}`~causal_tutorial.experiments.resolve` checked every setting above and froze them into one run
# specification, `spec`; {func}`~causal_tutorial.experiments.run_spec` runs it, exactly as
# `python -m causal_tutorial run chain` does (same task, same initial weights, same batches, same test set:
# chapter 3's). We want to look inside the model while it learns, so we hand the run two hooks. At every
# evaluation the training loop records the test loss and whatever `metrics(task)(model, test_tokens)`
# returns ({func}`~causal_tutorial.analysis.parent_metrics`: the attention on the parents, and whether
# every child's row of $A^{(1)}$ is locked on its parent), then calls `callback(step, model, record)`;
# {class}`~causal_tutorial.analysis.ParameterSnapshots` is such a callback: it keeps a copy of $A^{(1)}$,
# $A^{(2)}$ and $W$ each time. This cell is the training run; the result holds the trained model, its
# history and every baseline line on the test set.

# %%
snapshots = ParameterSnapshots()
result = run_spec(spec, metrics=parent_metrics, callback=snapshots, figures=False, progress=False)
model, history, baselines = result["model"], result["history"], result["baselines"]
task = spec.task()
test_set = draw_test_set(task, config, spec.device)  # the run's own test set, drawn again from its seed

# %% [markdown]
# ## The loss comes down near the estimator line
#
# The test loss starts at $\log S$ (zero weights predict the uniform law) and falls to just above the
# in-context estimator's line, the paper's reference (which the paper draws with the research code's
# root-counting slip, chapter 1; the last section compares like with like).

# %% mystnb={"image": {"alt": "Test loss of the trained model through training, falling from log S to just above the in-context estimator's line, with the other baselines as horizontal lines."}}
ax = loss_curve(history, baselines, title="The trained model comes down to the estimator line",
                keys=("uniform", "readout_floor", "estimator", "bayes"))
ax.set_ylim(baselines["bayes"] - 0.1, baselines["uniform"] + 0.1)
plt.show()

# %% tags=["nbval-ignore-output"]
final = history[-1]["test_loss"]
names = ["uniform", "readout_floor", "estimator", "bayes"]
pd.DataFrame({"loss (nats)": [final] + [baselines[k] for k in names],
              "trained model minus it": [0.0] + [final - baselines[k] for k in names]},
             index=["trained model"] + names).round(3)

# %%
assert history[0]["test_loss"] > baselines["uniform"] - 1e-3, \
    "training starts from the uniform prediction"
assert 0.03 < final - baselines["estimator"] < 0.07, \
    "the loss ends about 0.05 nats above the estimator line"
assert 0 < baselines["readout_floor"] - final < 0.03, "and about 0.01 below the read-out floor of chapter 3"
assert abs(baselines["bayes"] - baselines["estimator"]) < 0.03, \
    "on the chain, Bayes and estimator nearly agree"

# %% [markdown]
# The loss ends about 0.05 nats above the estimator line, and about 0.01 nats *below* chapter 3's
# read-out floor, the loss of a perfect induction head's ideal read-out. That second difference is small, and two
# unpaired means cannot say whether it is real; at the end of the chapter we pair the two predictors on
# the same sequences. (On the chain, with its single root, the true Bayes predictor and the estimator
# nearly coincide; the small difference between their lines is within the error of the Bayes loss
# estimate, chapter 1.)
#
# The floor here is chapter 3's **read-out floor** over all test sequences, 1.826, not its *read-out
# floor on matched sequences*, 1.523, although the test set is the same: the latter counts only the
# sequences whose query has at least one matching child (61.2 % of them), while on the others the ideal
# read-out falls back to the uniform law and scores $\log S$ = 2.303. The cell below checks again that
# the read-out floor is exactly that mixture.

# %%
tokens, labels = test_set
hit = matching_children_average(tokens, task.parents, exp.S)[1] > 0  # at least one matching child
floor_hit, c_star = readout_floor(tokens[hit], labels[hit], task.parents, exp.S)
share = hit.double().mean().item()
mixed = share * floor_hit + (1 - share) * baselines["uniform"]  # log S where nothing matches
print(f"read-out floor on matched sequences ({share:.1%} of the test set): {floor_hit:.3f} "
      f"(c* = {c_star:.3f}); mixed with log S on the rest: {mixed:.3f}")
assert abs(mixed - baselines["readout_floor"]) < 1e-3, "the read-out floor is that mixture"

# %% [markdown]
# So the two chapters agree. Now the main question: is what the model learned an induction head at all?
#
# ## Watching the circuit form
#
# Here are the three blocks of the three matrices that the hand-built head of chapter 3 uses
# ({func}`~causal_tutorial.analysis.circuit_blocks`), at three moments: when layer 1 first points every
# child at its parent (the *lock*, found below), when the attention on the parent first exceeds 0.9,
# and at the end (chapter 3 drew the whole matrices of the hand-built head).

# %% mystnb={"image": {"alt": "Three rows of snapshots (at the lock, when the attention on the parent passes 0.9, and at the end) of the circuit's three blocks: A1's position block develops a sub-diagonal, A2's token block and W's token block develop diagonals."}}
lock = lock_step(history)
sharp = first_step_above(history, "attn_on_parent", 0.9)
plot_snapshots(snapshots, [lock, sharp, config.steps], exp.S, exp.T,
               suptitle="Gradient descent writes the chain into A1 "
                        "and an induction head into A2 and W")
plt.show()

# %% [markdown]
# What to look for. In $A^{(1)}$ the pos × pos block develops a red sub-diagonal, row $i$ preferring
# column $i-1$: the chain. In $A^{(2)}$ the block (query token) × (`L1h0·tok`) develops a diagonal that
# stands out from the rest of the block: the query looks for keys whose parent token equals its own. In
# $W$ the token part of layer 2's output (`L2h0·tok`) becomes a diagonal, the read-out of the tokens
# the query attended to. These are the three blocks of the hand-built head. The trained model also writes
# into blocks the hand-built head left empty (the next cell measures how much of $W$ lies outside its
# block); the core of the circuit is the same.
#
# {func}`~causal_tutorial.analysis.circuit_blocks` cuts the three blocks out of the trained model. Each
# should have its largest entry per row where the hand-built head has its $\beta$ or $c$. Since the rest
# of each block sits at a roughly constant level, the gap between the diagonal and the off-diagonal
# entries plays the part of $\beta$ (in $A^{(2)}$) and of $c$ (in $W$).

# %% tags=["nbval-ignore-output"]
blocks = circuit_blocks(model)
A1_pos, A2_tok, W_tok = blocks["A1 pos×pos"], blocks["A2 tok×L1h0·tok"], blocks["W L2h0·tok"]


def contrast(M):
    """The mean diagonal entry of a square block minus its mean off-diagonal entry."""
    return (M.diag().mean() - (M.sum() - M.diag().sum()) / (M.numel() - len(M))).item()


beta_eff, c_eff = contrast(A2_tok), contrast(W_tok)
W_centred = model.W.detach() - model.W.detach().mean(1, keepdim=True)  # a row's constant leaves f unchanged
in_block = dict(block_slices(exp.S, exp.T, (1, 1), 3))["L2h0·tok"]
outside = 1 - (W_centred[in_block].square().sum() / W_centred.square().sum()).item()
print(f"A2 block: diagonal minus off-diagonal = {beta_eff:.2f}   (the effective beta of layer 2)")
print(f"W block:  diagonal minus off-diagonal = {c_eff:.2f}   (the effective read-out scale c)")
print(f"share of W (sum of squares, each row centred) outside the hand-built head's block: {outside:.2f}")

# %%
kids = [i for i, p in enumerate(task.parents) if p >= 0]
assert all(A1_pos[i].argmax() == task.parents[i] for i in kids), \
    "row i of A1's pos block peaks at p(i)"
assert all(A2_tok[a].argmax() == a for a in range(exp.S)), \
    "A2's tok x L1h0.tok block peaks on the diagonal"
assert all(W_tok[a].argmax() == a for a in range(exp.S)), "W's L2h0.tok block peaks on the diagonal"
assert 2.5 < beta_eff < 4, "an effective beta of about 3, far from the sharp limit"
assert 4 < c_eff < 6.5 and c_eff > c_star + 1, "an effective read-out scale of about 5, well above c*"
assert 0.3 < outside < 0.7, "about half of W lies outside the hand-built head's block"

# %% [markdown]
# What do the two printed contrasts mean for the circuit? An effective $\beta$ of about 3 is far from
# the sharp limit of chapter 3's hand-built head: a key whose parent token matches the query is preferred
# to any single non-matching key by a factor of about $e^{3}$, some twenty, but the non-matching keys are
# many, so a lone match gets only part of the query's attention (about half, as the table by $N$ below
# shows). The effective read-out scale, about 5 in our run, is well above the perfect
# head's best scale $c^* = 3.114$ (printed above): the average that the trained layer 2 hands to $W$
# mixes the matches' tokens with those of the keys attended to by mistake, so it is flatter than $v$, and
# a larger scale is needed for the same confidence. Both numbers summarise one block each, and a good part
# of $W$ (about half, by the last printed line) lies in other blocks, so read them as scales, not as exact
# parameters of a hand-built circuit.
#
# ## The moment layer 1 locks onto the graph
#
# We say layer 1 has *locked* onto the graph at the first evaluation step where, in every child's row of
# the pos × pos block, the largest entry is the parent's column
# ({func}`~causal_tutorial.analysis.recovered_parents`, {func}`~causal_tutorial.analysis.lock_step`). The
# figure zooms into the start of training. The middle panel follows the mean attention of each child on
# its parent on test sequences; the bottom panel counts how many of the 18 children's rows already peak at
# the parent ({func}`~causal_tutorial.analysis.rows_on_parent`).

# %% mystnb={"image": {"alt": "Three panels against the training step, the lock step marked: the test loss, the mean layer-1 attention on the parent, and the number of rows of A1's position block locked on their parent, which reaches all children at the lock."}} tags=["nbval-ignore-output"]
n_children = len(kids)
rows = rows_on_parent(snapshots, task.parents, exp.S)
plot_locking(history, rows, n_children, lock, xmax=min(config.steps, 10 * lock),
             suptitle=f"Layer 1 locks onto the chain at step {lock}, before the loss drops")
plt.show()
at = {h["step"]: h for h in history}
print(f"lock at step {lock}: test loss {at[lock]['test_loss']:.3f}, attention on the parent "
      f"{at[lock]['attn_on_parent']:.3f}; at the end: {history[-1]['attn_on_parent']:.3f}")
print("child rows of A1 peaking at the parent, by step:", {k: rows[k] for k in sorted(rows) if k <= lock})

# %%
drop = history[0]["test_loss"] - final
assert lock is not None and lock < config.steps // 10, \
    "layer 1 locks onto the chain early in training"
assert all(h["parent_recovered"] == 1.0 for h in history if h["step"] >= lock), "and stays locked"
assert history[0]["test_loss"] - at[lock]["test_loss"] < 0.25 * drop, \
    "the lock comes before most of the drop"
assert at[lock]["attn_on_parent"] < 0.5 < history[-1]["attn_on_parent"], \
    "attention sharpens after the lock"
assert history[-1]["attn_on_parent"] > 0.9, \
    "at the end each child puts over 90% of its attention on its parent"
assert rows[0] == 0 and rows[config.eval_every] < n_children and lock > config.eval_every, \
    "the rows come onto the parent over several evaluations, not at the first one"

# %% [markdown]
# The order is what this run shares with chapter 5. The position block's *argmax* is right early, while
# the attention on the parent is still weak and the loss has barely moved; the attention sharpens and the
# loss drops only afterwards. Chapter 5 explains a version of this order, but for another setting, so
# read the link as an analogy, not as a measurement of chapter 5's mechanism in this run:
#
# - Chapter 5 studies a *reduced* model whose layer 2 already compares tokens at initialisation
#   ($A^{(2)} = \beta_0 I$), trained by plain gradient descent. There the first gradient on $A^{(1)}$ is
#   largest at the parent in every row, through a mutual information between positions.
# - Here every weight starts at zero. At that initialisation the gradient on $A^{(1)}$ (and on
#   $A^{(2)}$) is exactly zero, because with $W = 0$ the logits do not depend on the attention
#   ({ref}`the second exercise of this chapter <ex-ch4-first-gradient>` asks you to check this). So $W$
#   moves first, and the gradient that $A^{(1)}$ then receives reaches it through a $W$ that is still
#   small and a layer 2 that does not compare tokens ($A^{(2)}$ is still zero when $A^{(1)}$ first gets
#   a gradient).
# - This run uses AdamW, whose first update of a weight is about the learning rate times the *sign* of
#   its gradient, almost whatever the gradient's size. So the position block is not shaped by one gradient
#   step: the bottom panel shows the rows coming onto the parent over several evaluations (the cell above
#   prints how many at each), not all at the first one.
#
# What the two settings have in common is that layer 1 finds the graph before the rest of the circuit
# is sharp (in chapter 5's staged algorithm by construction, here on its own); then $A^{(1)}$, $A^{(2)}$
# and $W$ grow together, the attention sharpens, and the loss drops.
#
# ## The trained model against the read-out floor
#
# Chapter 3's read-out floor is the loss of a perfect induction head's ideal read-out, with one read-out
# scale $c^*$ for every sequence (and the uniform law where nothing matches). Since its read-out sees the matching-children average $v$ but not the count $N$, it is
# too confident when a single child matches and too timid when many do. Splitting the test loss by $N$,
# as in chapter 3, shows where the trained model wins and loses against it (the column "read-out floor"
# is the ideal read-out {func}`~causal_tutorial.analysis.ideal_readout` of chapter 3, uniform when
# nothing matches); the query's layer-2 attention shows how
# ({func}`~causal_tutorial.analysis.loss_by_match_count`,
# {func}`~causal_tutorial.analysis.layer2_attention_by_count`).

# %% mystnb={"image": {"alt": "Top: excess loss over the estimator by the number N of matching children for the read-out floor and the trained model; the model beats the floor at N = 1 and N at least 3. Bottom: the query's layer-2 attention by N, on matches, on itself and elsewhere."}}
tokens, labels = test_set
v, counts = matching_children_average(tokens, task.parents, exp.S)
_, c_star = readout_floor(tokens[counts > 0], labels[counts > 0], task.parents, exp.S)
with torch.no_grad():
    f_model = torch.softmax(model(tokens), -1)
by_count = loss_by_match_count(tokens, labels, task.parents, exp.S, {
    "estimator": in_context_estimator(tokens, task.parents, exp.S, exp.alpha),
    "readout_floor": ideal_readout(v, counts, c_star), "model": f_model})
where = layer2_attention_by_count(model, tokens, task.parents)
plot_by_match_count(by_count, where,
                    suptitle="The trained model hedges when matches are few, commits when many")
plt.show()

# %% tags=["nbval-ignore-output"]
table = pd.DataFrame(by_count).set_index("N").join(pd.DataFrame(where).set_index("N"))
table.rename(columns={"readout_floor": "read-out floor", "model": "trained",
                      "on matching children": "attention on matches",
                      "on the query itself": "attention on itself",
                      "elsewhere": "attention elsewhere"}).round(3)

# %% [markdown]
# The trained model beats the floor where a single $c$ is wrong: at $N = 1$ (by about 0.07 nats in our
# run), where $c^*$ is overconfident, and at $N \ge 3$, where it is timid. Where the floor is
# already good it gains nothing: at $N = 0$, where the floor is exactly uniform and the model only nearly
# so, it gives a few hundredths of a nat back, and at $N = 2$, where $c^*$ happens to be close to the
# right scale, it is about level with the floor (within 0.02 nats).
#
# How does it know $N$? Its query does not attend only to the matching children. Part of its layer-2
# attention stays on the query itself, about 38 % when nothing matches and less and less as the number
# of matches grows, and for every $N$ up to 5 an even larger part goes elsewhere, to keys that do not
# match.
#
# A heuristic shows why such attention can count. Suppose every match scored the same $\beta$, the
# query's own slot $b$ and each other key $j$ some $a_j$. The matches would then receive the share
#
# $$\frac{N e^{\beta}}{N e^{\beta} + e^{b} + \sum_{j} e^{a_j}} = \frac{N}{N + \kappa_N},\qquad
# \kappa_N = \frac{e^{b} + \sum_j e^{a_j}}{e^{\beta}},$$
#
# where the sum runs over the $T - 1 - N$ keys that are neither matches nor the query. If $\kappa_N$ did
# not depend on $N$, this would be the form of the weight $N/(N + S\alpha)$ that the estimator
# $(N v + \alpha)/(N + S\alpha)$ gives to the data. Nothing guarantees it: the sum loses a term for every
# extra match, and the trained model has no single $\beta$ (a key's score depends on its tokens and its
# position, so it varies from key to key and from sequence to sequence). So the form is a heuristic, and
# we measure where it holds: from the mean share of attention on the matches at each $N$, the cell after
# the next reads off the implied $\kappa_N = N(1 - \text{share})/\text{share}$ (the bucket $N \ge 6$
# mixes several $N$ and is left out). In this run $\kappa_N$ stays within 0.15 of $S\alpha = 1$ for every
# $N$ from 1 to 5 and varies by less than 0.1 across them, so on these sequences the heuristic holds, and
# the match shares come close to the estimator's weight $N/(N + S\alpha)$ itself.
#
# How the read-out turns the attention not spent on matches into a flatter prediction we have not taken
# apart (it uses blocks of $W$ that the hand-built head left at zero, about half of $W$ as measured
# above); the losses by $N$ show the result. The model hedges when evidence is scarce and commits when it
# is plentiful, the count-dependent smoothing that the perfect circuit lacks (and that the hand-built
# head's dip below the read-out floor on matched sequences hinted at in chapter 3). It still does not
# reach the estimator at any $N$: the share has about the right form, but what it weighs passes through a
# log-linear read-out, not through the estimator's linear average, so it only approximates the
# pseudo-counts.

# %% tags=["nbval-ignore-output"]
at_self, trained = table["on the query itself"], table["model"]
est_n, floor_n = table["estimator"], table["readout_floor"]
assert abs(at_self["0"] - 0.38) < 0.06, "about 38% of the attention on itself when nothing matches"
assert all(a > b for a, b in zip(at_self, at_self.iloc[1:])), "less and less as N grows"
assert 0.04 < floor_n["1"] - trained["1"] < 0.1, "beats the floor at N = 1, by about 0.07"
assert all(trained[n] < floor_n[n] - 0.01 for n in ("3", "4", "5")), "beats it at N = 3, 4, 5"
assert trained["6+"] < floor_n["6+"], "and at N >= 6"
assert floor_n["0"] < trained["0"] < floor_n["0"] + 0.06, "gives a few hundredths back at N = 0"
assert abs(trained["2"] - floor_n["2"]) < 0.02, "and is about level with it at N = 2"
assert (trained > est_n).all(), "and never reaches the estimator"
on_match, elsewhere = table["on matching children"], table["elsewhere"]
assert all(a < b for a, b in zip(on_match, on_match.iloc[1:])), "the matches' share grows with N"
assert (elsewhere > at_self).iloc[:-1].all(), "up to N = 5 more goes elsewhere than to the query"
print(f"trained model minus read-out floor, all test sequences: "
      f"{final - baselines['readout_floor']:+.3f} nats")

# %% tags=["nbval-ignore-output"]
S_alpha = exp.S * exp.alpha
few = ("1", "2", "3", "4", "5")  # the bucket 6+ mixes several N
kappa = {n: int(n) * (1 - on_match[n]) / on_match[n] for n in few}
print(f"implied κ_N = N (1 - share) / share, against Sα = {S_alpha:g}:",
      {n: round(float(k), 3) for n, k in kappa.items()})
print("share of attention on the matches against N/(N + Sα):",
      {n: (round(float(on_match[n]), 3), round(int(n) / (int(n) + S_alpha), 3)) for n in few})
assert all(abs(k - S_alpha) < 0.15 for k in kappa.values()), "κ_N within 0.15 of Sα for N = 1 to 5"
assert max(kappa.values()) - min(kappa.values()) < 0.1, "and varies by less than 0.1 across them"
assert all(abs(on_match[n] - int(n) / (int(n) + S_alpha)) < 0.02 for n in few), "close to N/(N + Sα)"

# %% tags=["nbval-ignore-output"]
per_model = soft_cross_entropy(f_model, labels, reduction="none")
per_floor = soft_cross_entropy(ideal_readout(v, counts, c_star), labels, reduction="none")
diff = per_model - per_floor  # paired: the same test sequences, so most of the noise cancels
diff_mean, diff_se = mean_and_se(diff)
print(f"trained model minus read-out floor, paired over {len(diff)} sequences: "
      f"{diff_mean:+.4f} ± {diff_se:.4f}, {-diff_mean / diff_se:.1f} standard errors below zero")
assert abs(per_model.mean().item() - final) < 1e-3, "the same loss as the training loop's test loss"
assert abs(per_floor.mean().item() - baselines["readout_floor"]) < 1e-4, "and the same floor"
assert -0.03 < diff_mean < -3 * diff_se, "about 0.01 below the read-out floor, by more than three standard errors"

# %% [markdown]
# Scored on the same 8192 test sequences, the trained model is about 0.01 nats below the read-out floor,
# more than three standard errors: at book scale it does beat the perfect induction head, though only
# just, because what it gains at $N = 1$ and $N\ge3$ outweighs what it gives back at $N = 0$ (at $N = 2$
# the two are about level). The read-out floor, then, bounds the perfect induction head, not the
# disentangled transformer.

# %% [markdown]
# ## The paper's scale
#
# The same experiment at the paper's settings (SGD at learning rate 1, $2^{17}$ steps) was run once, on a
# CPU, with `python -m causal_tutorial run chain --scale paper --out results/paper --resume` (it
# checkpoints as it goes and can resume after an interruption). Its result file is kept in the
# repository and plotted here beside the book run; the page *The paper at its own scale* collects it
# with the others and discusses it.

# %% mystnb={"image": {"alt": "Two loss curves, one above the other: the book-scale AdamW run and the paper-scale SGD run of the chain, each against its baselines."}}
paper = load_result("../results/paper/chain/result.json")
if paper is None:
    print("No paper-scale result is stored yet (results/paper/chain/result.json), "
          "so only the book run is shown.")
else:
    kids = [i for i, q in enumerate(paper["task"]["parents"]) if q >= 0]
    locked = sum(paper["recovered_parents"][i] == paper["task"]["parents"][i] for i in kids)
    print(f"paper scale: {paper['config']['train']['steps']} steps, {paper['wall_time_s'] / 60:.0f} min on "
          f"{paper['device_name']} ({paper['train_time_s'] / 60:.0f} min training, "
          f"{paper['baseline_time_s'] / 60:.0f} min baselines); final loss {paper['final']['test_loss']:.4f}, "
          f"estimator {paper['baselines']['estimator']:.4f}, read-out floor {paper['baselines']['readout_floor']:.4f}; "
          f"{locked} of {len(kids)} child rows of A1 peak at the parent")
    plot_book_vs_paper({"history": history, "baselines": baselines}, paper)
    plt.show()
    end, pb = paper["final"]["test_loss"], paper["baselines"]
    print(f"on its {paper['config']['train']['test_size']} test sequences: the figure's line (estimator, "
          f"roots counted) {pb['estimator_roots_counted']:.4f}; final minus it {end - pb['estimator_roots_counted']:+.4f}, "
          f"minus the estimator {end - pb['estimator']:+.4f}, minus the read-out floor {end - pb['readout_floor']:+.4f}")
    assert locked == len(kids), "every child row of A1 peaks at the parent"
    assert abs(pb["estimator_roots_counted"] - 1.776) < 5e-4, "the roots-counted line: 1.776 on this test set"
    assert abs(end - pb["estimator_roots_counted"] - 0.033) < 5e-4, "the run ends 0.033 nats above it"
    assert -0.0105 < end - pb["readout_floor"] < -0.0095, "and about 0.01 nats below the read-out floor"

# %% [markdown]
# The paper-scale run, like the book run, recovers the chain in every child row of $A^{(1)}$. Its loss
# ends 0.033 nats above the line that the paper's Fig. 2 draws, which is the in-context estimator as the
# research code computes it, with the roots counted (chapter 1): 1.776 on this run's test sequences,
# where the paper's figure shows it at about 1.77. Without the slip the estimator is lower still, and the
# run ends about 0.01 nats below the read-out floor, just as the book run does.
#
# ## Summary
#
# - From all-zero weights, training on fresh in-context Markov chains brings the test loss to within a
#   few hundredths of a nat of the in-context estimator (about 0.05 nats here, with AdamW at book scale).
#   The paper, with SGD at learning rate 1 for $2^{17}$ steps at the same $S = 10$, $T = 20$,
#   $\alpha = 0.1$, shows in its Fig. 2 the test loss coming down to its reference line, at about 1.77
#   nats, and $A^{(1)}$ close to the chain's adjacency matrix; it reports these as figures, not as tables
#   of numbers. That line is the estimator with the research code's root-counting slip; on the test set
#   of our paper-scale run it is 1.776, and the run ends 0.033 nats above it.
# - The trained model contains the hand-built induction head of chapter 3: the chain in $A^{(1)}$'s
#   pos × pos block, a diagonal in $A^{(2)}$'s tok × `L1h0·tok` block, and a diagonal read-out of
#   layer 2's token average in $W$.
# - Layer 1 locks onto the graph (every row's argmax at the parent) early, before the loss drops; the
#   attention then sharpens while the loss falls. Chapter 5 explains such an order for a reduced model
#   trained by plain gradient descent; for this AdamW run from all-zero weights it is an analogy.
# - The trained model ends below the read-out floor of the perfect head, by about 0.01 nats (paired, on
#   8192 test sequences, more than three standard errors). It beats it where a single read-out scale is
#   wrong, and its query's attention shows how: a count-dependent share stays away from the matches (on
#   itself and elsewhere), so that the matches' share follows $N/(N + \kappa)$ with $\kappa$ close to
#   $S\alpha$ for $N$ up to 5, a smoothing that mimics the estimator's pseudo-counts.
#
# ## Exercises

# %% [markdown]
# ```{exercise} Learning the in-context pairs graph
# :label: ex-ch4-icl
#
# **Difficulty** ★☆☆ · **Importance** ★★☆ · **About 10 min**
#
# Train the same model on the *icl pairs* graph (`EXPERIMENTS["icl"]`, book scale, about a minute) and
# check with `check_recovers_graph(model, parents)` from `causal_tutorial.exercises.training` that
# layer 1 learned it. Which rows of the pos × pos block does the graph leave undetermined, and what did
# training put there?
# ```

# %% nbgrader={"grade": false, "grade_id": "ex-ch4-icl-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["remove-cell", "nbval-skip"]
from causal_tutorial.exercises.training import check_recovers_graph

### BEGIN SOLUTION
from causal_tutorial.experiments import EXPERIMENTS, build_task, run_experiment

result = run_experiment("icl", scale="book", seed=0, progress=False)
parents = build_task(EXPERIMENTS["icl"], "cpu").parents
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex-ch4-icl-tests", "locked": true, "schema_version": 3, "solution": false, "task": false, "points": 1} tags=["remove-cell", "nbval-skip"]
assert check_recovers_graph(result["model"], parents)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-ch4-icl-words", "locked": false, "schema_version": 3, "solution": true, "task": false, "points": 1}
# ```{solution} ex-ch4-icl
# :class: dropdown
#
# ~~~python
# from causal_tutorial.experiments import EXPERIMENTS, build_task, run_experiment
# from causal_tutorial.exercises.training import check_recovers_graph
# result = run_experiment("icl", scale="book", seed=0, progress=False)
# parents = build_task(EXPERIMENTS["icl"], "cpu").parents
# check_recovers_graph(result["model"], parents)
# ~~~
#
# The graph fixes the rows of the children (odd positions) only; the rows of the roots (even positions)
# and of the query are free, since nothing in the loss asks a root to gather any particular token. Look
# at them with `position_block(result["model"])` ({func}`~causal_tutorial.analysis.position_block`): they
# are not left at zero. In our run (seed 0) most root rows peak on the diagonal, so those roots gather
# their own token. What a root gathers only matters through what layer 2 then reads at that position,
# so these rows are a side effect of the layer-2 circuit rather than part of the graph; try another seed
# and compare.
#
# **A full answer names** the rows the graph fixes (the children, odd positions) and those it leaves free
# (the roots, even positions, and the query), with the reason (no term of the loss asks a root to gather
# a particular token); and what training put into the free rows, read off `position_block`: not zeros,
# but in our run mostly a peak on the diagonal.
# ```

# %% [markdown]
# ```{exercise} Who moves first?
# :label: ex-ch4-first-gradient
#
# **Difficulty** ★★☆ · **Importance** ★★★ · **About 15 min**
#
# At the zero initialisation compute the gradient of the loss on one batch with respect to $A^{(1)}$,
# $A^{(2)}$ and $W$ (use {meth}`~causal_tutorial.models.DisentangledTransformer.loss` and `.backward()`), and pass
# their norms as a dictionary `{"A1": ..., "A2": ..., "W": ...}` to `check_zero_init_gradients` from
# `causal_tutorial.exercises.training`. Explain the answer from the formula for the logits, and say
# which parameters get a gradient at the second step.
# ```

# %% nbgrader={"grade": false, "grade_id": "ex-ch4-first-gradient-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["remove-cell", "nbval-skip"]
from causal_tutorial.exercises.training import check_zero_init_gradients

### BEGIN SOLUTION
import torch
from causal_tutorial.experiments import EXPERIMENTS, build_model, build_task

exp = EXPERIMENTS["chain"]
model, task = build_model(exp), build_task(exp, "cpu")
tokens, labels = task.sample(1024, torch.Generator().manual_seed(0))
model.loss(tokens, labels).backward()
norms = {"A1": model.head(1).grad.norm(), "A2": model.head(2).grad.norm(), "W": model.W.grad.norm()}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex-ch4-first-gradient-tests", "locked": true, "schema_version": 3, "solution": false, "task": false, "points": 2} tags=["remove-cell", "nbval-skip"]
assert check_zero_init_gradients(norms)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-ch4-first-gradient-words", "locked": false, "schema_version": 3, "solution": true, "task": false, "points": 1}
# ```{solution} ex-ch4-first-gradient
# :class: dropdown
#
# ~~~python
# import torch
# from causal_tutorial.experiments import EXPERIMENTS, build_model, build_task
# from causal_tutorial.exercises.training import check_zero_init_gradients
# exp = EXPERIMENTS["chain"]
# model, task = build_model(exp), build_task(exp, "cpu")
# tokens, labels = task.sample(1024, torch.Generator().manual_seed(0))
# model.loss(tokens, labels).backward()
# norms = {"A1": model.head(1).grad.norm(), "A2": model.head(2).grad.norm(), "W": model.W.grad.norm()}
# check_zero_init_gradients(norms)
# ~~~
#
# The logits are $h^{(2)}_{T-1} W$; with $W = 0$ they are zero whatever $A^{(1)}$ and $A^{(2)}$ are, so
# the loss does not depend on them and their gradients vanish exactly. $W$'s gradient is the average of
# $h^{(2)}_{T-1} (f - y)^\top$, which is not zero. After one step $W \neq 0$, and both $A^{(2)}$ and
# $A^{(1)}$ get gradients: $A^{(2)}$ through layer 2's attention, $A^{(1)}$ through the layer-1 blocks
# of the residual stream that $W$ now reads, directly and through layer 2.
#
# **A full answer names** the result (the gradients of $A^{(1)}$ and $A^{(2)}$ are exactly zero, $W$'s
# is not); the reason, from the logits $h^{(2)}_{T-1} W$ (with $W = 0$ the loss does not depend on the
# attention); and the second step: $W \ne 0$ now, so both $A^{(1)}$ and $A^{(2)}$ get gradients.
# ```

# %% [markdown]
# ```{exercise} Hedging without a query slot
# :label: ex-ch4-no-self
#
# **Difficulty** ★★★ · **Importance** ★★☆ · **About 25 min**
#
# The trained model hedges partly by attending to the query itself. Train this chapter's model afresh
# (`build_task`, `build_model` and {func}`~causal_tutorial.training.train` with
# `EXPERIMENTS["chain"].config("book")`, about a minute). In a copy of it, set the entry of $A^{(2)}$ that
# scores the query's own position (row and column $S + T - 1$, in the pos × pos block) to a large
# negative number, and compare the test loss of the two models by $N$ with
# {func}`~causal_tutorial.analysis.loss_by_match_count`. Which values of $N$ suffer, that is, see their
# loss rise by more than 0.05 nats, and why those? Pass the trained model, its copy and the list of those
# values to `check_hedging_without_slot(model, blocked, suffer)` from
# `causal_tutorial.exercises.training`.
# ```

# %% nbgrader={"grade": false, "grade_id": "ex-ch4-no-self-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["remove-cell", "nbval-skip"]
from causal_tutorial.exercises.training import check_hedging_without_slot

### BEGIN SOLUTION
import copy

import pandas as pd
import torch
from causal_tutorial.analysis import loss_by_match_count
from causal_tutorial.experiments import EXPERIMENTS, build_model, build_task
from causal_tutorial.training import train

exp = EXPERIMENTS["chain"]
S, T = exp.S, exp.T
task, model = build_task(exp, "cpu"), build_model(exp, seed=0)
train(model, task, exp.config("book", seed=0, device="cpu"), progress=False)
blocked = copy.deepcopy(model)
with torch.no_grad():
    blocked.head(2)[S + T - 1, S + T - 1] = -30.0
    tokens, labels = task.sample(8192, torch.Generator().manual_seed(0))
    probs = {"trained": torch.softmax(model(tokens), -1), "slot blocked": torch.softmax(blocked(tokens), -1)}
table = pd.DataFrame(loss_by_match_count(tokens, labels, task.parents, S, probs)).set_index("N")
table["rise"] = table["slot blocked"] - table["trained"]
print(table.round(3))
suffer = [0, 1]
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex-ch4-no-self-tests", "locked": true, "schema_version": 3, "solution": false, "task": false, "points": 4} tags=["remove-cell", "nbval-skip"]
assert check_hedging_without_slot(model, blocked, suffer)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-ch4-no-self-words", "locked": false, "schema_version": 3, "solution": true, "task": false, "points": 1}
# ```{solution} ex-ch4-no-self
# :class: dropdown
#
# ~~~python
# import copy
#
# import pandas as pd
# import torch
# from causal_tutorial.analysis import loss_by_match_count
# from causal_tutorial.experiments import EXPERIMENTS, build_model, build_task
# from causal_tutorial.exercises.training import check_hedging_without_slot
# from causal_tutorial.training import train
# exp = EXPERIMENTS["chain"]
# S, T = exp.S, exp.T
# task, model = build_task(exp, "cpu"), build_model(exp, seed=0)
# train(model, task, exp.config("book", seed=0, device="cpu"), progress=False)
# blocked = copy.deepcopy(model)
# with torch.no_grad():
#     blocked.head(2)[S + T - 1, S + T - 1] = -30.0
#     tokens, labels = task.sample(8192, torch.Generator().manual_seed(0))
#     probs = {"trained": torch.softmax(model(tokens), -1), "slot blocked": torch.softmax(blocked(tokens), -1)}
# table = pd.DataFrame(loss_by_match_count(tokens, labels, task.parents, S, probs)).set_index("N")
# table["rise"] = table["slot blocked"] - table["trained"]
# print(table.round(3))
# check_hedging_without_slot(model, blocked, suffer=[0, 1])
# ~~~
#
# Only the sequences with few matches suffer: $N = 0$ a lot (about a quarter of a nat in our run, to well
# above uniform's $\log S$) and $N = 1$ by about a tenth of a nat, while $N = 2$ rises by only a few
# hundredths and $N \ge 3$ not at all. Where matches are plentiful, they take nearly all of the attention
# anyway and the slot's share was small. Where they are scarce, the slot was carrying a large share
# (over a third of the attention when nothing matches, in this chapter's table); without it that
# attention must go to other keys, whose tokens the read-out then takes as evidence, so the prediction
# becomes confident exactly where it should hedge. The overall loss goes back above the read-out floor.
#
# **A full answer names** $N = 0$ and $N = 1$ as the values that suffer ($N = 0$ most); the reason, read
# off the attention by $N$: the query's share on itself is large only when matches are few and small once
# they are many; and what blocking does: that share moves to non-matching keys, so the prediction
# commits where the model used to hedge.
# ```
