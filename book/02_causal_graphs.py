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
# # Causal graphs
#
# ```{admonition} About this chapter
# :class: tip
# **You will learn**
# - how a *parent array* describes a causal graph over the positions of a sequence, and the rules it obeys;
# - the four graph families of the paper (the chain, in-context pairs, random trees and random forests;
#   despite its name a "random tree" usually has several roots, so it is a forest too), drawn as graphs
#   and as adjacency matrices;
# - Task 2.4 of the paper in full: what is fixed, what is fresh for every sequence, what the model sees;
# - the general in-context estimator, why it cannot be computed without the graph, and how much it loses
#   with the wrong one;
# - how far the estimator sits above the true Bayes floor on each family, and why that distance grows with
#   the number of roots.
#
# **Prerequisites** chapter 1 (the Dirichlet prior, the stationary law, the in-context estimator and the
# Bayes floor).
#
# **Time** about 35 minutes to read; the notebook runs in about a minute on a laptop CPU.
# ```
#
# In a Markov chain each token is drawn from a distribution that depends on the token just before it. The
# paper {cite}`nichani2024causal` lets it depend on *any one* earlier token: position $i$ has a parent
# $p(i) < i$ (or none), and $s_i$ is drawn from $\pi[s_{p(i)},\cdot\,]$. The parents form a causal graph over
# positions. The graph is the same for every sequence of a task and is never shown to the model; the
# transition matrix $\pi$ is new for every sequence, exactly as in chapter 1. To predict well, a model must
# therefore learn two different things in two different places: the graph, which is fixed, *in its
# weights*; and $\pi$, which is not, *in context*. Later chapters show that gradient descent writes the
# graph into the first attention layer. This chapter sets up the graphs themselves.

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
from causal_tutorial.book import setup

cfg = setup(seed=0)

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch

from causal_tutorial.estimators import (bayes_predictor, in_context_estimator, mean_and_se,
                                        soft_cross_entropy, uniform_predictor, unigram_predictor)
from causal_tutorial.graphs import adjacency, chain, make_parents, validate_parents
from causal_tutorial.plots import (draw_graph_gallery, draw_parents, plot_family_baselines,
                                   plot_gap_vs_roots, plot_graph_mismatch)
from causal_tutorial.tasks import SingleParentTask

PAPER = cfg.scale == "paper"  # the one switch: book scale on a laptop, the paper's sizes on a GPU
S, T, alpha = 10, 20, 0.1  # the paper's single-parent setting
n_test, n_draws = (2**14, 4096) if PAPER else (512, 512)

# %% [markdown]
# ## Parent arrays
#
# ```{prf:definition} Parent array
# :label: def-parent-array
#
# For sequences of length $T$, a parent array is a list $p = (p(0), \dots, p(T-2))$ with
# $p(i)\in\{-1, 0, 1, \dots, i-1\}$. Position $i$ is a **root** when $p(i) = -1$, and otherwise a **child**
# of its parent $p(i)$. The last position, $T-1$, is the query: it has no entry, because it is drawn
# uniformly whatever the graph.
# ```
#
# Because every parent comes strictly before its child, the graph has no cycles, and because every
# position has at most one parent, it is a *forest*: each root starts a tree, and following parents from
# any position leads back to exactly one root. {func}`~causal_tutorial.graphs.validate_parents` checks the
# rules and says which one an array breaks:

# %%
for bad in ([-1, 0, 3, 1], [-1, 0, 1]):
    try:
        validate_parents(bad, T=5)
    except ValueError as err:
        print(f"{bad}: {err}")

# %% [markdown]
# ## Four families of graphs
#
# The paper trains on four kinds of graph; {func}`~causal_tutorial.graphs.make_parents` builds each by
# name.
#
# - **chain** ({func}`~causal_tutorial.graphs.chain`): $p(i) = i - 1$, the in-context Markov chain of
#   chapter 1. Position 0 is the only root.
# - **icl pairs** ({func}`~causal_tutorial.graphs.icl_pairs`): odd positions are children of the position
#   before them, even positions are roots. The sequence is a list of $(x, y)$ examples with
#   $x\sim\mu_\pi$ and $y\sim\pi[x,\cdot\,]$: in-context learning of a function from examples, the setting in
#   which in-context learning is usually studied.
# - **random tree** ({func}`~causal_tutorial.graphs.random_tree`): $p(i)$ uniform on $\{-1, 0, \dots, i-1\}$,
#   so position $i$ is a root with probability $1/(i+1)$. These are the paper's "random" graphs. The name
#   is loose: since any position can be a root, such a graph usually has several roots (five in the one
#   drawn below) and is a forest, not a single tree. We keep "random tree" only to tell it apart from
#   the next family, which is a different random forest.
# - **random forest** ({func}`~causal_tutorial.graphs.random_forest`): position 0 is a root, and position
#   $i\ge1$ draws a parent uniformly from $\{0,\dots,i-1\}$ and then loses it with probability $1/2$. The
#   paper trains on twenty of these to show that the mechanism does not depend on a lucky graph (its
#   Fig. 9).
#
# The random families are drawn once, from a seed, and then fixed for the whole task. Each row of the figure
# shows a graph twice: as arcs from parent to child over the positions, and as the adjacency matrix
# $M[i, p(i)] = 1$ ({func}`~causal_tutorial.graphs.adjacency`), whose rows are children and columns parents.
# {func}`~causal_tutorial.plots.draw_graph_gallery` draws both.

# %% mystnb={"image": {"alt": "Four graph families drawn as arcs over the positions (chain, icl pairs, random tree, random forest), each beside its adjacency matrix, which has one dark cell per child to the left of the diagonal."}}
graphs = {"chain": make_parents("chain", T), "icl pairs": make_parents("icl", T),
          "random tree": make_parents("random", T, seed=0),
          "random forest": make_parents("forest", T, seed=0)}
for name, p in graphs.items():
    print(f"{name:13s}", list(p))
draw_graph_gallery(graphs, suptitle="Four graph families: the adjacency is lower triangular "
                                     "with one cell per child")
plt.show()

# %%
roots = {name: sum(q < 0 for q in p) for name, p in graphs.items()}
print("roots:", roots)
for p in graphs.values():
    M = adjacency(p)
    assert torch.equal(M.triu(), torch.zeros_like(M)), "every parent is an earlier position"
    assert torch.equal(M.sum(1)[:-1], torch.tensor([float(q >= 0) for q in p])), \
        "one cell per child, none per root"
assert roots["chain"] == 1 and roots["icl pairs"] == T // 2, \
    "the chain has one root; icl pairs have T/2"
assert roots["random tree"] == 5 and 1 < roots["random forest"] < T // 2, \
    "five roots in the random tree drawn here; the random graphs lie in between"

# %% [markdown]
# The adjacency matrix is the picture to remember: chapter 4 and later chapters compare the first attention
# layer of a trained transformer with it. The chain's adjacency is the subdiagonal, the icl pairs' every
# other cell of it; random trees and forests reach far back. The families also differ in how many of their
# tokens are roots: one for the chain, ten for the icl pairs, and in between for the random graphs drawn
# here. That number will matter at the end of the chapter.
#
# ## Task 2.4
#
# Here is the task of the paper in full, for any parent array.
#
# ```{prf:algorithm} Task 2.4: in-context learning of a latent causal graph
# :label: alg-task-2-4
#
# **Fixed for the whole task** the vocabulary size $S$, the length $T$, the concentration $\alpha$ and a
# parent array $p$ (never shown to the model)
#
# **To draw one sequence**
#
# 1. Draw $\pi\in\mathbb R^{S\times S}$ with independent rows $\pi[a,\cdot\,]\sim\mathrm{Dirichlet}(\alpha\mathbf 1_S)$
#    and compute its stationary law $\mu_\pi$.
# 2. For $i = 0, 1, \dots, T-2$: if $p(i) = -1$ draw $s_i\sim\mu_\pi$, else draw $s_i\sim\pi[s_{p(i)},\cdot\,]$.
# 3. Draw the query $s_{T-1}$ uniformly from $\{0,\dots,S-1\}$.
# 4. The input is $(s_0,\dots,s_{T-1})$; the soft label is $y = \pi[s_{T-1},\cdot\,]$.
#
# **To learn** minimise $\mathbb E\big[-\sum_s y_s\log f_s(s_0,\dots,s_{T-1})\big]$ over a model $f$, with a
# fresh sequence (and a fresh $\pi$) every time.
# ```
#
# Step 2 can run in order because every parent precedes its child. Since $\mu_\pi$ is stationary, a child of
# a $\mu_\pi$-distributed parent is $\mu_\pi$-distributed too: *every* position $0,\dots,T-2$ has law
# $\mu_\pi$. So no single position gives the graph away; it shows only in how pairs of positions depend on
# each other. {class}`~causal_tutorial.tasks.SingleParentTask` implements the algorithm for a batch of
# sequences at once, drawing all positions of equal depth in the forest together. Here is a sequence of the
# random tree drawn on its graph (of 64 sequences, the one with the most distinct tokens, so that the arcs
# are easy to follow):

# %% mystnb={"image": {"alt": "One random-tree sequence drawn on its graph, each node showing its token: children of equal parent tokens tend to carry equal tokens."}}
tree = SingleParentTask(S, T, graphs["random tree"], alpha, device=cfg.device)
some = tree.sample(64, cfg.generator(1)).tokens
varied = some[torch.nn.functional.one_hot(some, S).amax(1).sum(1).argmax()]  # most distinct tokens
draw_parents(graphs["random tree"], tokens=varied.tolist(),
             title="A random-tree sequence: equal parent tokens tend to have equal child tokens")
plt.show()

# %% [markdown]
# Follow an arc and you follow a draw from $\pi$: with $\alpha = 0.1$ the same parent token tends to give the
# same child token, wherever in the sequence the pair sits. Position $i-1$ plays no special part here, so
# counting *neighbouring* pairs, as the chain's estimator does, would mostly count unrelated tokens.
#
# ## The general in-context estimator
#
# Chapter 1's estimator carries over with "the previous position" replaced by "the parent". Let
#
# $$N[a, c] = \#\{\, i \le T-2 : p(i) \ne -1,\ s_{p(i)} = a,\ s_i = c \,\}$$
#
# count the parent–child pairs of the sequence ({func}`~causal_tutorial.estimators.transition_counts`).
# The in-context estimator is
#
# $$\hat f(c) = \frac{N[q, c] + \alpha}{\sum_{c'} N[q, c'] + S\alpha},\qquad q = s_{T-1}.$$
#
# The proof of chapter 1's {prf:ref}`prop-conjugate-estimator` goes through word for word: the children's likelihood is
# $\prod_{a,c}\pi[a,c]^{N[a,c]}$, conjugate to the Dirichlet prior, and $\hat f$ is the posterior mean of the
# query's row when the roots' factor $\prod_r \mu_\pi(s_r)$ is left out. In words: find the children whose
# parent holds the query token, and predict the smoothed frequencies of their tokens.
# {func}`~causal_tutorial.estimators.in_context_estimator` takes the parent array as an argument, because
# the counts cannot be formed without it: the graph decides which pairs of positions are evidence about
# $\pi[q,\cdot\,]$ and which are noise.
#
# How much does a wrong graph cost? We give each family's test sequences to the estimator twice, once with
# the true parent array and once with the chain's, as if every sequence were a Markov chain. Each family gets
# its own test set of `n_test` sequences (512 at book scale, $2^{14}$ at paper scale), kept for the rest of
# the chapter.

# %% mystnb={"image": {"alt": "Bars of the in-context estimator's loss with the true graph and with the chain's graph for each family, with log S as a line: the chain's graph keeps part of the gain on icl pairs and none on the random graphs."}}
tasks = {name: SingleParentTask(S, T, p, alpha, device=cfg.device) for name, p in graphs.items()}
test = {name: tuple(task.sample(n_test, cfg.generator(10 + k)))
        for k, (name, task) in enumerate(tasks.items())}
loss = {name: {} for name in graphs}  # per-sequence losses, by family and predictor
for name, (tokens, labels) in test.items():
    for key, parents in (("true graph", graphs[name]), ("chain graph", chain(T))):
        f = in_context_estimator(tokens, parents, S, alpha)
        loss[name][key] = soft_cross_entropy(f, labels, reduction="none")
    f = uniform_predictor(tokens, S)
    loss[name]["uniform"] = soft_cross_entropy(f, labels, reduction="none")
    f = unigram_predictor(tokens, S, alpha)
    loss[name]["unigram"] = soft_cross_entropy(f, labels, reduction="none")
mismatch = pd.DataFrame({name: {k: v.mean().item() for k, v in d.items()}
                         for name, d in loss.items()}).T
plot_graph_mismatch(mismatch, title="With the chain's graph the estimator keeps part of its gain "
                                    "on icl pairs and none on the random graphs")
plt.show()
mismatch.round(3)

# %%
m = mismatch
for name in ("icl pairs", "random tree", "random forest"):
    assert m.loc[name, "chain graph"] > m.loc[name, "true graph"] + 0.1, \
        f"{name}: wrong graph is worse"
for name in ("random tree", "random forest"):
    assert m.loc[name, "chain graph"] > m.loc[name, "uniform"] - 0.05, \
        f"{name}: no better than log S"
assert m.loc["random tree", "chain graph"] > m.loc["random tree", "uniform"] + 0.1, \
    "worse than log S"
assert m.loc["icl pairs", "chain graph"] < m.loc["icl pairs", "uniform"] - 0.1, "icl keeps some"
assert m.loc["chain", "chain graph"] == m.loc["chain", "true graph"], "on the chain they agree"
assert (m["true graph"] < m["uniform"] - 0.2).all(), "with the true graph it beats log S everywhere"

# %%
gain = mismatch["uniform"] - mismatch["true graph"]  # what counting with the true graph gains
kept = (mismatch["uniform"] - mismatch["chain graph"]) / gain  # the share the chain's graph keeps
print("share of the gain over log S kept with the chain's graph:", kept.round(3).to_dict())
assert 0.55 < kept["icl pairs"] < 0.8, "on icl pairs the chain's graph keeps about two thirds"
assert (kept[["random tree", "random forest"]] < 0.05).all(), "on the random graphs, nothing"
neighbours = [graphs["icl pairs"][i] == i - 1 for i in range(1, T - 1)]  # the chain's pairs (s_{i-1}, s_i)
assert 2 * sum(neighbours) == len(neighbours), "on icl pairs half of the chain's pairs are real examples"
if not PAPER:  # the numbers the text quotes, on the book-scale test sets
    quoted = {("icl pairs", "chain graph"): 2.057, ("icl pairs", "true graph"): 1.930,
              ("icl pairs", "uniform"): 2.303, ("random forest", "chain graph"): 2.311,
              ("random tree", "chain graph"): 2.472}
    assert all(round(m.loc[k], 3) == v for k, v in quoted.items()) and round(kept["icl pairs"], 2) == 0.66

# %% [markdown]
# With the true graph the estimator beats $\log S$ by a wide margin on every family. With the chain's graph
# it loses at least a tenth of a nat on each of the others. On the icl pairs half of the neighbouring pairs
# it counts are real $(x, y)$ examples, and it keeps about two thirds of its gain over $\log S$ (on the
# book-scale test sets, 2.057 against 1.930 with the true graph and 2.303 for uniform: 66 % of the gain).
# On the random tree and forest most of the neighbouring pairs are not parent–child pairs at all, and it
# keeps none of the gain: on the random forest it is level with $\log S$ (2.311), and on the random tree
# it is clearly worse (2.472), because it makes confident predictions from counts that are noise. On
# graphs like these the graph is worth as much as the counting itself. This is why the interesting
# question is not *whether* a transformer can estimate $\pi$ in context (chapter 3 builds one that does,
# by hand) but whether it can *discover the graph* from training data alone.
#
# ## How far is the estimator from the floor?
#
# Chapter 1 defined the true Bayes floor, the loss of the posterior mean
# $\mathbb E[\pi[q,\cdot\,]\mid s_0,\dots,s_{T-1}]$, and computed it by importance sampling
# ({func}`~causal_tutorial.estimators.bayes_predictor`): draw $\pi$ from the conjugate posterior of the
# transitions, weigh each draw by the roots' likelihood $\prod_r\mu_\pi(s_r)$. On the chain, with one root,
# the floor and the estimator nearly coincided. Every root is a token whose likelihood the estimator
# ignores, so we expect the gap to grow with the number of roots. The weights also become more uneven as
# roots multiply (a product of more factors), so the same number of draws gives a smaller effective sample
# size and a larger upward bias. Whatever $K$ we use, the importance-sampled predictor is *a* predictor,
# so its loss cannot be below the floor: the gaps measured below are, up to sampling noise, lower bounds
# on the true ones.

# %%
ess = {}
for k, (name, (tokens, labels)) in enumerate(test.items()):
    bayes, w = bayes_predictor(tokens, graphs[name], S, alpha, n_draws=n_draws,
                               generator=cfg.generator(20 + k))
    loss[name]["bayes"] = soft_cross_entropy(bayes, labels, reduction="none")
    ess[name] = w.mean().item()
gap = {name: d["true graph"] - d["bayes"] for name, d in loss.items()}  # paired, per sequence
families = pd.DataFrame({
    "roots": pd.Series(roots), "uniform": mismatch["uniform"], "unigram": mismatch["unigram"],
    "estimator": mismatch["true graph"],
    "bayes": {n: d["bayes"].mean().item() for n, d in loss.items()},
    "gap": {n: mean_and_se(g)[0] for n, g in gap.items()},
    "gap_se": {n: mean_and_se(g)[1] for n, g in gap.items()},
    "ess": pd.Series(ess)})
for key in ("uniform", "unigram", "estimator", "bayes"):
    column = key if key != "estimator" else "true graph"
    families[f"{key}_se"] = [mean_and_se(loss[n][column])[1] for n in families.index]

# %% mystnb={"image": {"alt": "Top: losses of the unigram, the estimator and the Bayes floor per graph family, all below log S except the unigram. Bottom: the estimator's gap above the Bayes floor against the number of roots, larger for graphs with more roots."}}
fig, axes = plt.subplots(2, 1, figsize=(7, 8), layout="constrained")
plot_family_baselines(families, ax=axes[0],
                      title="On every family counting beats log S; "
                            "the Bayes floor is a little lower")
plot_gap_vs_roots(families, ax=axes[1],
                  title="Graphs with several roots sit further from the floor")
plt.show()
families[["roots", "uniform", "unigram", "estimator", "bayes", "gap", "gap_se", "ess"]].round(3)

# %%
many = ["icl pairs", "random tree", "random forest"]
pooled = torch.cat([gap[name] for name in many])  # the three families with several roots, together
pooled_mean, pooled_se = mean_and_se(pooled)
print(f"gap, pooled over {many}: {pooled_mean:.4f} ± {pooled_se:.4f}")
fam = families
assert abs(fam.loc["chain", "gap"]) < 0.01, "on the chain (one root) the gap is below 0.01 nats"
assert pooled_mean > fam.loc["chain", "gap"] + 0.01, "the gap is larger than on the chain"
assert pooled_mean > 4 * pooled_se, "pooled, the gap is many standard errors from zero"
for name in many:
    assert 0.01 < fam.loc[name, "gap"] < 0.05, f"{name}: Bayes a few hundredths below the estimator"
    assert fam.loc[name, "gap"] > 2 * fam.loc[name, "gap_se"], f"{name}: by over two std. errors"
    assert fam.loc[name, "ess"] < fam.loc["chain", "ess"] / 2, f"{name}: weights more uneven"
assert ((fam["uniform"] - fam["estimator"] > 0.3) & (fam["unigram"] > fam["uniform"])).all()

# %% [markdown]
# On every family, counting with the true graph beats $\log S$ by more than three tenths of a nat, and the
# unigram, which ignores the graph and the query, is worse than uniform, as on the chain. The Bayes
# estimate is below the estimator on each of the three families with several roots, by a few hundredths of
# a nat and by more than two standard errors each; pooled over the three families, the gap is many standard
# errors from zero. On the chain the two agree to within a hundredth. The effective sample size tells the same
# story from the other side: with more roots the importance weights are less even, because the roots carry
# more information that the conjugate proposal ignores.
#
# So the paper's line, the in-context estimator, is the right target for a model that counts parent–child
# pairs, which is what the transformers of the next chapters learn to do; it is not the floor of the task.
# A model could in principle beat it by also reading what the roots say about $\mu_\pi$, and on graphs with
# many roots there are a few hundredths of a nat to gain that way; the paper's analysis, and this book,
# leave that possibility aside.
#
# ## Summary
#
# - A parent array $p$ with $p(i)\in\{-1,\dots,i-1\}$ is a forest over positions; the query $T-1$ has no
#   parent. Its adjacency matrix $M[i, p(i)] = 1$ is lower triangular with one cell per child.
# - Task 2.4: a fixed hidden graph, a fresh $\pi$ per sequence, roots from $\mu_\pi$, children from their
#   parent's row, a uniform query and the soft label $\pi[q,\cdot\,]$. Every position has law $\mu_\pi$, so
#   the graph shows only in dependencies between positions.
# - The general in-context estimator counts parent–child pairs whose parent holds the query. It needs the
#   graph: with the chain's graph it keeps about two thirds of its gain over $\log S$ on icl pairs and
#   none of it on the random graphs.
# - The estimator ignores the roots' likelihood, so its distance to the true Bayes floor grows with the
#   number of roots: negligible on the chain, a few hundredths of a nat with many roots.
#
# ## Exercises

# %% [markdown]
# ```{exercise} Two interleaved chains
# :label: ex-ch2-interleaved
#
# **Difficulty** ★☆☆ · **Importance** ★★☆ · **About 10 min**
#
# Write the parent array, for $T = 20$, of two Markov chains interleaved in one sequence: the even positions
# form one chain and the odd positions the other, so every position $i\ge2$ is drawn from the row of the
# token two steps back. Check it with `check_interleaved_chains(parents)` from
# `causal_tutorial.exercises.graphs`, and draw it with
# {func}`~causal_tutorial.plots.draw_parents`. How many roots does it have, and what does the
# chain's estimator count on such data?
# ```

# %% nbgrader={"grade": false, "grade_id": "ex-ch2-interleaved-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["remove-cell", "nbval-skip"]
from causal_tutorial.exercises.graphs import check_interleaved_chains

### BEGIN SOLUTION
from causal_tutorial.plots import draw_parents

T = 20
parents = [-1, -1] + [i - 2 for i in range(2, T - 1)]
draw_parents(parents)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex-ch2-interleaved-tests", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["remove-cell", "nbval-skip"]
assert check_interleaved_chains(parents)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-ch2-interleaved-words", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ```{solution} ex-ch2-interleaved
# :class: dropdown
#
# ~~~python
# from causal_tutorial.plots import draw_parents
# from causal_tutorial.exercises.graphs import check_interleaved_chains
#
# T = 20
# parents = [-1, -1] + [i - 2 for i in range(2, T - 1)]
# check_interleaved_chains(parents)
# draw_parents(parents)
# ~~~
#
# Two roots, positions 0 and 1, one per chain. Both chains share the same $\pi$, so a parent–child pair from
# either one is evidence about $\pi$. The chain's estimator instead counts the pairs $(s_{i-1}, s_i)$, which
# take one token from each chain. Given $\pi$ the two chains are independent, so such a pair says nothing
# about $\pi[q,\cdot\,]$: the estimator ends up predicting, roughly, the frequencies of tokens that
# appear next to the query, a noisy version of the unigram. The cell below measures it on 512 sequences (book scale):
# with the chain's graph the estimator scores 2.522 nats, worse than uniform (2.303) and only a little
# better than the unigram (2.606), while with the true graph it scores 1.755.
#
# **A full answer names** the two roots (positions 0 and 1); that the chain's estimator counts pairs
# $(s_{i-1}, s_i)$ that straddle the two chains and so, given $\pi$, carry no information about
# $\pi[q,\cdot\,]$; and the consequence, a loss above $\log S$ where the true graph's is far below.
# ```

# %% tags=["hide-input", "solution"]
two_chains = [-1, -1] + [i - 2 for i in range(2, T - 1)]  # the answer to the exercise above
interleaved = SingleParentTask(S, T, two_chains, alpha, device=cfg.device)
x, y = interleaved.sample(n_test, cfg.generator(30))
scores = {"chain graph": in_context_estimator(x, chain(T), S, alpha),
          "true graph": in_context_estimator(x, two_chains, S, alpha),
          "unigram": unigram_predictor(x, S, alpha), "uniform": uniform_predictor(x, S)}
scores = {k: soft_cross_entropy(f, y).item() for k, f in scores.items()}
print(f"two interleaved chains, {n_test} sequences:", {k: round(v, 3) for k, v in scores.items()})
assert scores["true graph"] < scores["uniform"] < scores["chain graph"] < scores["unigram"]
assert sum(q < 0 for q in two_chains) == 2, "two roots, one per chain"
if not PAPER:  # the numbers the solution quotes, on 512 sequences
    assert {k: round(v, 3) for k, v in scores.items()} == \
        {"chain graph": 2.522, "true graph": 1.755, "unigram": 2.606, "uniform": 2.303}

# %% [markdown]
# ```{exercise} Which predictors need the graph?
# :label: ex-ch2-needs-graph
#
# **Difficulty** ★☆☆ · **Importance** ★★☆ · **About 5 min**
#
# Of the four predictors of this chapter, `"uniform"`, `"unigram"`, `"estimator"` (the in-context
# estimator) and `"bayes"` (the importance-sampled posterior mean), which cannot be computed without the
# parent array? Answer with a set of names, e.g. `check_needs_graph({"unigram"})`, from
# `causal_tutorial.exercises.graphs`, and say what each of them uses the graph for.
# ```

# %% nbgrader={"grade": false, "grade_id": "ex-ch2-needs-graph-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["remove-cell", "nbval-skip"]
from causal_tutorial.exercises.graphs import check_needs_graph

### BEGIN SOLUTION
needs = {"estimator", "bayes"}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex-ch2-needs-graph-tests", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["remove-cell", "nbval-skip"]
assert set(needs) <= {"uniform", "unigram", "estimator", "bayes"}, "name predictors of this chapter"
### BEGIN HIDDEN TESTS
assert check_needs_graph(needs)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-ch2-needs-graph-words", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ```{solution} ex-ch2-needs-graph
# :class: dropdown
#
# `check_needs_graph({"estimator", "bayes"})`. The uniform predictor ignores the sequence, and the unigram
# counts every token regardless of position. The estimator needs to know which positions are children and
# who their parents are, to count the pairs whose parent holds the query. The Bayes predictor needs the
# same counts for its proposal (the conjugate posterior) and, in addition, the list of roots for its
# weights $\prod_r\mu_\pi(s_r)$.
#
# **A full answer names** the set {estimator, bayes}; for the estimator, which positions are children and
# who their parents are (to count the pairs whose parent holds the query); for the Bayes predictor, the
# same counts for its proposal *and* the list of roots for its weights; and why the other two need
# nothing (uniform ignores the sequence, the unigram ignores positions).
# ```

# %% [markdown]
# ```{exercise} How many roots?
# :label: ex-ch2-roots
#
# **Difficulty** ★★☆ · **Importance** ★★☆ · **About 15 min**
#
# Compute the expected number of roots of a random tree ({func}`~causal_tutorial.graphs.random_tree`) and
# of a random forest ({func}`~causal_tutorial.graphs.random_forest`) with $T = 20$, first on paper, then
# check your values with `check_expected_roots("random", value)` and `check_expected_roots("forest", value)`
# from `causal_tutorial.exercises.graphs`. Which family would you expect to have the larger gap between the
# estimator and the Bayes floor on average?
# ```

# %% nbgrader={"grade": false, "grade_id": "ex-ch2-roots-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["remove-cell", "nbval-skip"]
from causal_tutorial.exercises.graphs import check_expected_roots

### BEGIN SOLUTION
random_roots = sum(1 / (i + 1) for i in range(19))
forest_roots = 10
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex-ch2-roots-tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["remove-cell", "nbval-skip"]
assert check_expected_roots("random", random_roots)
assert check_expected_roots("forest", forest_roots)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-ch2-roots-words", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ```{solution} ex-ch2-roots
# :class: dropdown
#
# In a random tree, position $i$ draws its parent uniformly from the $i+1$ values $\{-1,0,\dots,i-1\}$, so
# it is a root with probability $1/(i+1)$, and by linearity of expectation the number of roots among
# positions $0,\dots,T-2$ has mean $\sum_{i=0}^{T-2} \frac{1}{i+1} = H_{T-1} \approx 3.548$ for $T=20$ (a
# harmonic number). In a random forest, position 0 is a root and each of the other $T-2 = 18$ positions is
# one with probability $1/2$: the mean is $1 + 9 = 10$.
#
# ~~~python
# from causal_tutorial.exercises.graphs import check_expected_roots
# check_expected_roots("random", sum(1 / (i + 1) for i in range(19)))
# check_expected_roots("forest", 10)
# ~~~
#
# Forests have about three times as many roots, so their gap to the floor is larger on average, like
# the icl pairs' (ten roots) in the figure above. A given random tree can have more or fewer roots than
# the mean: the `roots` printed above are those of the graphs drawn in this chapter (five for the tree,
# nine for the forest), and the forest's gap to the floor is the larger of the two, as expected.
#
# **A full answer names** the two means, $H_{19} \approx 3.548$ for random trees and $10$ for random
# forests, with the argument (linearity of expectation over the positions' chances of being a root); and
# the random forest as the family with the larger expected gap, because the gap grows with the number of
# roots.
# ```

# %% tags=["hide-input", "solution"]
from causal_tutorial.exercises.graphs import check_expected_roots

harmonic = sum(1 / (i + 1) for i in range(T - 1))  # the expected roots of a random tree, H_(T-1)
print(f"expected roots: random tree {harmonic:.3f}, random forest {1 + (T - 2) / 2:g}")
assert check_expected_roots("random", harmonic) and check_expected_roots("forest", 10)
assert round(harmonic, 3) == 3.548 and 2.5 < 10 / harmonic < 3, "about three times as many in forests"
assert (roots["random tree"], roots["random forest"]) == (5, 9) and \
    families.loc["random tree", "gap"] < families.loc["random forest", "gap"]
