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
# # The disentangled transformer
#
# ```{admonition} About this chapter
# :class: tip
# **You will learn**
# - the two-layer *disentangled transformer* of {cite}`nichani2024causal`: one-hot token and position
#   inputs, bilinear attention, and a residual stream that is *concatenated* rather than added;
# - how to read each block of its attention matrices as a rule ("position $i$ looks at position $j$",
#   "token $a$ looks for keys whose parent was $b$");
# - how to build an induction head by hand, and what it computes exactly: the average of the tokens that
#   followed earlier copies of the query;
# - why even the perfect circuit sits a little above the in-context estimator: the softmax read-out cannot
#   count, which sets a *read-out floor* (measured two ways: on the sequences whose query has a match, and
#   on all sequences).
#
# **Prerequisites** chapters 1 and 2 (the task, the in-context estimator, parent arrays); softmax attention.
#
# **Time** about 40 minutes to read; the notebook runs in under a minute on a laptop CPU.
# ```
#
# Chapters 1 and 2 set up the task: each sequence is generated along a hidden causal graph by a fresh
# transition matrix $\pi$, and the best one can do is to estimate $\pi[s_{T-1}]$ from the sequence itself.
# This chapter introduces the model the paper trains and, before any training, answers a simpler question:
# *can* this model solve the task, and with which weights? We build those weights by hand. Chapter 4 then
# shows that gradient descent finds them on its own.

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

from causal_tutorial.analysis import (ideal_readout, induction_head_losses, loss_by_match_count,
                                      matching_children_mask, pick_example,
                                      query_layer2_token_average, residual_stream,
                                      smooth_like_estimator)
from causal_tutorial.estimators import (baseline_losses, in_context_estimator,
                                        matching_children_average, readout_floor,
                                        soft_cross_entropy)
from causal_tutorial.experiments import EXPERIMENTS, baseline_generator
from causal_tutorial.graphs import chain
from causal_tutorial.models import DisentangledTransformer, block_slices, induction_head
from causal_tutorial.plots import (plot_attention_example, plot_circuit_matrices, plot_counting,
                                   plot_loss_vs_beta, plot_residual_stream)
from causal_tutorial.tasks import SingleParentTask
from causal_tutorial.training import draw_test_set

# %% [markdown]
# ## The architecture
#
# The paper strips a transformer down to the parts the task needs and makes every remaining part
# readable. There are no token or position embeddings to learn, no value, output or MLP matrices, no
# layer normalisation. What is left is attention, and a residual stream that keeps every intermediate
# result in its own set of coordinates.
#
# ```{prf:definition} Disentangled transformer
# :label: def-disentangled-transformer
#
# Let $e_a\in\mathbb R^S$ and $e_i\in\mathbb R^T$ be one-hot vectors. The input at position $i$ is
# $\tilde x_i = [e_{s_i};\, e_i] \in \mathbb R^{S+T}$, stacked into $h^{(0)}\in\mathbb R^{T\times(S+T)}$.
# An attention head with matrix $A\in\mathbb R^{d\times d}$ maps $h\in\mathbb R^{T\times d}$ to
#
# $$\operatorname{attn}(h; A) = \operatorname{softmax}\big(\operatorname{mask}(h A h^\top)\big)\, h,$$
#
# where the causal mask sets the scores of keys $j > i$ to $-\infty$ and the softmax runs along each row.
# A layer with $m$ heads $A_1,\dots,A_m$ *concatenates* its input with the heads' outputs,
#
# $$h^{(\ell)} = \big[h^{(\ell-1)},\ \operatorname{attn}(h^{(\ell-1)}; A_1),\ \dots,\
# \operatorname{attn}(h^{(\ell-1)}; A_m)\big],$$
#
# so the width grows as $d_\ell = d_{\ell-1}(1+m_\ell)$. After $L$ layers the prediction is read at the
# last position only: $f = \operatorname{softmax}\big(h^{(L)}_{T-1} W\big)$ with $W\in\mathbb R^{d_L\times S}$.
# ```
#
# With one head per layer, as in every single-parent experiment of the paper, the widths are
# $S+T \to 2(S+T) \to 4(S+T)$. The package's {class}`~causal_tutorial.models.DisentangledTransformer`
# implements this definition twice: `forward_plain` is the line-by-line version above and `forward` is a
# faster path for training that computes the same function. Like every model of the package, it also
# has `run_with_cache(tokens)`, which returns the logits with every attention pattern and every residual
# stream of the readable version (`attention(tokens)` keeps just the patterns): this chapter reads its
# pictures from there.

# %%
S, T = 10, 20
parents = chain(T)
model = DisentangledTransformer(S, T, heads=(1, 1))
print("widths d_0, d_1, d_2:", model.widths)
for name, p in model.named_parameters():
    print(f"{name:4s} {tuple(p.shape)}")

# %%
assert model.widths == [S + T, 2 * (S + T), 4 * (S + T)]
assert model.head(2).shape == (2 * (S + T), 2 * (S + T)) and model.W.shape == (4 * (S + T), S)

# %% [markdown]
# ## Why concatenation makes the circuit readable
#
# Because the inputs are one-hot and nothing is ever added to the residual stream, every coordinate of
# $h^{(\ell)}$ keeps a fixed meaning. The score that query $i$ gives key $j$ in layer 1 splits into four
# terms, one per block of $A^{(1)}$:
#
# $$\tilde x_i^\top A^{(1)} \tilde x_j = \underbrace{A^{(1)}_{s_i, s_j}}_{\text{tok}\times\text{tok}}
# + \underbrace{A^{(1)}_{s_i, S+j}}_{\text{tok}\times\text{pos}}
# + \underbrace{A^{(1)}_{S+i, s_j}}_{\text{pos}\times\text{tok}}
# + \underbrace{A^{(1)}_{S+i, S+j}}_{\text{pos}\times\text{pos}}.$$
#
# The position × position block is a $T\times T$ table of "how much position $i$ likes position $j$": a
# causal graph fits into it directly. Layer 1's output at position $i$ is the attention-weighted average
# of the inputs, $\sum_j \mathrm{att}_{ij}\tilde x_j$, and it is appended beside $\tilde x_i$, not added to
# it. So layer 2 sees four named blocks per position: the token, the position, and the token and position
# that layer 1 gathered. {func}`~causal_tutorial.models.block_slices` names them; the name `L1h0·tok`
# reads "the token part of what layer 1, head 0, attended to".

# %%
for layer, what in ((1, "layer-1 input"), (2, "layer-2 input"), (3, "read-out input")):
    blocks = block_slices(S, T, (1, 1), layer=layer)
    print(f"{what} ({blocks[-1][1].stop} columns):")
    print("   " + " | ".join(f"{name} {sl.start}-{sl.stop - 1}" for name, sl in blocks))

# %% [markdown]
# A layer-2 matrix therefore has $4\times 4 = 16$ blocks, each a rule of the form "a query with feature
# $X$ likes keys with feature $Y$". The induction head needs just one of them: (the query's own token)
# × (the token its key gathered in layer 1).
#
# ## An induction head, built by hand
#
# On the Markov chain, $p(i) = i-1$. To predict what follows the query token $q = s_{T-1}$, an induction
# head {cite}`olsson2022induction` looks back for earlier occurrences of $q$ and reads the tokens that
# followed them. In a general causal graph "followed" becomes "is a child of": the positions that matter
# are the *matching children*, $\{i : p(i)\ge 0,\ s_{p(i)} = q\}$. Their tokens are draws from $\pi[q]$,
# exactly the row we must predict.
#
# {func}`~causal_tutorial.models.induction_head` writes three sets of weights, each into one block:
#
# 1. **Layer 1, pos × pos:** $A^{(1)}_{S+i,\,S+p(i)} = \beta$. For large $\beta$ position $i$ attends only to
#    its parent, so its `L1h0·tok` block becomes $e_{s_{p(i)}}$: each child now carries its parent's token.
# 2. **Layer 2, tok × `L1h0·tok`:** $A^{(2)}_{a,\,d_0 + a} = \beta$ for every token $a$ ($d_0 = S+T$). The
#    query scores key $j$ by $\beta$ when $j$'s parent token equals $q$, and by about 0 otherwise. The
#    pos × pos block also gets $-\beta$ from the query's row onto the roots and onto itself, which have no
#    parent to match.
# 3. **Read-out:** $W_{d_1 + a,\, a} = c$ ($d_1 = 2(S+T)$), reading the token part of layer 2's average,
#    so the logits are $c\cdot v$ where $v$ is the distribution of the tokens the query attended to.
#
# Two constants remain: the sharpness $\beta$ and the read-out scale $c$. We take $c$ from
# {func}`~causal_tutorial.estimators.readout_floor`, which finds the best $c$ for the ideal ($\beta=\infty$)
# circuit on the sequences where the query has at least one matching child (its loss there is what we
# will call the *read-out floor on matched sequences*); the last sections explain that floor and why the
# other sequences are set apart. The test sequences are the very ones chapter 4
# evaluates its trained model on, so the numbers of the two chapters can be compared directly.

# %%
exp = EXPERIMENTS["chain"]
config = exp.config(cfg.scale, device=str(cfg.device))
task = SingleParentTask(S, T, parents, alpha=exp.alpha, device=cfg.device)
tokens, labels = draw_test_set(task, config, cfg.device)
v, counts = matching_children_average(tokens, parents, S)  # the count N of matching children, and v
hit = counts > 0
floor_hit, c_star = readout_floor(tokens[hit], labels[hit], parents, S)
head = induction_head(S, T, parents, beta=30.0, c=c_star).to(cfg.device)
print(f"{config.test_size} test sequences; best read-out scale c* = {c_star:.3f}")

# %% [markdown]
# Here is one test sequence flowing through the hand-built head. The residual stream after layer 1 has a
# row per position; the `tok` and `pos` blocks are the one-hot input, and the `L1h0·tok` block is the input
# token shifted down by one row: position $i$ now holds the token of position $i-1$. (Position 0 is a root
# and attends to itself; the query, whose parent is unknown, spreads its attention evenly.)

# %% mystnb={"image": {"alt": "Heatmap of one sequence's layer-2 input, positions down and column blocks across: in the block L1h0 tok each child's row lights up at its parent's token."}}
ex = pick_example(tokens, parents, S, min_matches=3)
example = tokens[ex]
print("example sequence:", example.tolist(), " query token:", int(example[-1]))
plot_residual_stream(head, example)
plt.show()

# %%
h1 = residual_stream(head, example.view(1, -1))[0]
gathered = h1[:, dict(block_slices(S, T, (1, 1), 2))["L1h0·tok"]]  # (T, S)
assert all(gathered[i].argmax() == example[i - 1] and gathered[i].max() > 0.99
           for i in range(1, T - 1))

# %% [markdown]
# The attention patterns show the two steps of the circuit. In layer 1 every child looks at its parent
# (the sub-diagonal). In layer 2 the query looks at the positions right *after* each earlier copy of its
# own token, and nowhere else.

# %% mystnb={"image": {"alt": "Top: layer-1 attention of the hand-built head, each position attending to its parent (the sub-diagonal). Bottom: the query's layer-2 attention as bars, all on the positions whose parent token equals the query token."}}
plot_attention_example(head, example, parents)
plt.show()

# %% [markdown]
# The same holds on the whole test set, not just this example: every child puts essentially all of its
# layer-1 attention on its parent, and whenever the query has at least one matching child, the query's
# layer-2 attention sits on matching children only.

# %%
maps = head.attention(tokens)
kids = torch.arange(1, T - 1)
on_parent = maps[(1, 0)][:, kids, kids - 1]
is_match = matching_children_mask(tokens, parents)  # (n, T)
mass_on_matches = (maps[(2, 0)][:, -1] * is_match).sum(-1)[is_match.any(-1)]
print(f"layer 1, smallest attention of a child on its parent: {on_parent.min():.3f}")
print(f"layer 2, smallest attention mass on matching children: {mass_on_matches.min():.3f}")

# %%
assert on_parent.min() > 0.99, "row i attends to its parent"
assert mass_on_matches.min() > 0.99, "the query attends to the matching children"

# %% [markdown]
# Here are the weights themselves. Each matrix is mostly zero; what is not zero sits in the block whose
# meaning we wanted: the sub-diagonal of $A^{(1)}$'s pos × pos block, the diagonal of $A^{(2)}$'s
# tok × `L1h0·tok` block (with the $-\beta$ entries of the query's position row beside it), and a
# diagonal of $W$ in the rows of `L2h0·tok`, the token part of layer 2's output. Chapter 4 compares the
# trained model's matrices with these.

# %% mystnb={"image": {"alt": "The hand-built head's matrices A1, A2 and W (transposed) with their blocks labelled: a sub-diagonal in A1's position block, a diagonal in A2's query-token by L1h0-token block, and a diagonal in W's L2h0 token block."}}
plot_circuit_matrices(head, "The hand-built induction head: one block per rule")
plt.show()

# %% [markdown]
# ## What layer 2 computes, exactly
#
# Write $N$ for the number of matching children of the query and $v\in\mathbb R^S$ for the empirical
# distribution of their tokens, the *matching-children average*
# ({func}`~causal_tutorial.estimators.matching_children_average`). From here on $N$ is this number; in
# chapters 1 and 2 the letter named the whole count matrix $N[a, c]$, whose row at the query sums to it,
# $N = \sum_c N[q, c]$, with $N v_c = N[q, c]$ (the {doc}`notation page <notation>` lists both).
#
# ```{prf:proposition} The hand-built head computes the matching-children average
# :label: prop-induction-head-average
#
# Let $N\ge 1$. As $\beta\to\infty$, the token part of the query's layer-2 output of
# `induction_head(S, T, parents, β, c)` converges to $v$, the average of the matching children's
# one-hot tokens, and the logits to $c\,v$. The in-context estimator of chapter 1 is the Dirichlet
# smoothing of $v$ *with the count* $N$:
#
# $$\hat f(s') = \frac{N(q\to s') + \alpha}{N + S\alpha} = \frac{N\,v_{s'} + \alpha}{N + S\alpha}.$$
#
# So the estimator needs the counts $N\,v$ and their total $N$; the average $v$ alone does not determine
# it, because it does not say how many children matched.
# ```
#
# ```{prf:proof}
# In layer 1, row $i$ of the scores is $\beta$ at $p(i)$ and $0$ at the other $i$ visible keys, so the
# attention on $p(i)$ is $e^\beta/(e^\beta + i) \to 1$, and the `L1h0·tok` block of child $i$ tends to
# $e_{s_{p(i)}}$. In layer 2 the query's score of key $j$ is $\beta\,(\text{L1h0·tok}_j)_q$, plus
# $-\beta$ if $j$ is a root or the query itself. For a matching child this tends to $\beta$; for every
# other key it stays below $\beta$ by a gap that grows with $\beta$ (non-matching children score about 0,
# roots and the query at most 0 after the $-\beta$). So the softmax concentrates uniformly on the $N$
# matching children and the token part of the output, $\sum_j \mathrm{att}_j e_{s_j}$, tends to
# $\frac1N\sum_{\text{matching } j} e_{s_j} = v$. $W$ copies that block, times $c$, into the logits. The
# last identity is the definition of $v$: $N v_{s'}$ counts the matching children with token $s'$, which
# is $N(q\to s')$.
# ```
#
# So the circuit gathers one of the two things the estimator needs, the average $v$, and loses the other,
# the count $N$, in the averaging. We can check both halves of the proposition: at $\beta = 30$ the
# model's layer-2 output equals $v$, and smoothing it with the true count $N$, which we supply from
# outside the model ({func}`~causal_tutorial.analysis.smooth_like_estimator`), gives the estimator. The
# second check holds on every test sequence, including those with $N = 0$, but there for a trivial
# reason: the smoothing multiplies the layer-2 output by $N = 0$ and returns the uniform law, which is
# also the estimator's prediction. The model's *own* prediction at $N = 0$ is a different matter: it is
# the read-out of whatever layer 2 gathered there, which is not uniform, and the table by $N$ further
# down shows it scoring 2.514 nats, worse than uniform.

# %%
v_model = query_layer2_token_average(head, tokens)
smoothed = smooth_like_estimator(v_model, counts, exp.alpha)
err_v = (v_model - v)[counts > 0].abs().max().item()
err_est = (smoothed - in_context_estimator(tokens, parents, S, exp.alpha)).abs().max().item()
print(f"max |layer-2 output - v|          = {err_v:.1e}")
print(f"max |smoothed output - estimator| = {err_est:.1e}")

# %%
assert err_v < 1e-5, "the layer-2 output is the matching-children average"
assert err_est < 1e-5, "the smoothed layer-2 output is the in-context estimator"

# %% [markdown]
# ## The loss as the attention sharpens
#
# The smoothing step is exactly what the model *cannot* do: its prediction is $\operatorname{softmax}(c\,v)$,
# and $N$ appears nowhere in it. How much does that cost? We compare the hand-built head's test loss, for
# growing $\beta$, with the baselines of chapter 1 ({func}`~causal_tutorial.estimators.baseline_losses`):
# the in-context estimator (the paper's reference line), the true Bayes floor, and the
# **read-out floor on matched sequences**
#
# $$\mathcal L^{\text{match}}_{\text{read-out}} = \min_{c}\ \mathbb E\Big[-\sum_{s} y_s
# \log\operatorname{softmax}(c\,v)_s \Bigm| N \ge 1\Big],$$
#
# the loss of the ideal circuit with the best read-out scale $c^*$, on the sequences whose query has at
# least one matching child.
#
# Sequences in which the query token has no matching child ($N = 0$) are a case apart. The hand-built
# head has nothing to find there: it spreads its attention over all the children and predicts their
# average, whereas the estimator predicts the uniform law. We come back to them below and first measure
# the head where it has something to find, on the test sequences with at least one match. (The title
# of the next figure says "read-out floor" for short; in this section that is the read-out floor on
# matched sequences.)

# %%
print(f"share of test sequences with at least one matching child: {hit.float().mean():.3f}")
baselines = baseline_losses(task, tokens[hit], labels[hit], bayes_draws=exp.bayes_draws[cfg.scale],
                            generator=baseline_generator(config, cfg.device))
keys = ["uniform", "readout_floor", "estimator", "bayes"]
pd.DataFrame({"loss (nats)": [baselines[k] for k in keys],
              "std. error": [baselines[f"{k}_se"] for k in keys]},
             index=["uniform", "read-out floor on matched sequences", "estimator", "bayes"]).round(3)

# %% mystnb={"image": {"alt": "Test loss of the hand-built head against the attention sharpness beta, falling from near uniform onto the read-out floor, which lies above the estimator and the Bayes floor lines."}}
betas = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0, 16.0]
losses = induction_head_losses(tokens[hit], labels[hit], parents, S, betas, c=c_star)
ax = plot_loss_vs_beta(betas, losses, baselines)
ax.set_ylabel("test loss, sequences with a match (nats)")
for line in ax.get_lines():  # the floor drawn here is the one on matched sequences
    line.set_label(line.get_label().replace("read-out floor", "read-out floor on matched sequences"))
ax.legend(fontsize=8)
plt.show()
print("loss at beta = " + ", ".join(f"{b:g}: {x:.3f}" for b, x in zip(betas, losses)))

# %% [markdown]
# At $\beta = 0$ both layers attend uniformly and the head predicts from a blur of the whole sequence,
# only a little better than uniform. As $\beta$ grows the loss falls quickly and settles on the read-out
# floor on matched sequences, well above the estimator line. (On the chain, which has a single root, the
# true Bayes predictor is almost the estimator; the small difference between their lines is within the
# error of the importance-sampling estimate of the Bayes loss, chapter 1.)
#
# On the way down the curve dips slightly *below* the floor, around $\beta = 5$. There the attention is
# not yet perfect: the query keeps a little weight on non-matching children, and that leak blends the
# prediction with the sequence's other tokens, more so when the matches are few (with $N$ matches
# scoring $\beta$ against many non-matches scoring 0, the matches get a share that grows with $N$). A
# count-dependent smoothing, in other words, which is what the perfect circuit lacks. Keep this in mind
# for chapter 4.

# %%
assert abs(baselines["readout_floor"] - floor_hit) < 1e-4, "the same floor as computed above"
assert baselines["uniform"] - 0.25 < losses[0] < baselines["uniform"], \
    "beta = 0: a little better than uniform"
assert all(a > b for a, b in zip(losses[:6], losses[1:6])), "the loss falls as beta grows to 5"
assert min(losses) < floor_hit - 0.005, "on the way it dips below the read-out floor"
assert abs(losses[-1] - floor_hit) < 1e-3, "at large beta it settles on the read-out floor"
gap = floor_hit - baselines["estimator"]
assert 0.05 < gap < 0.15, "the read-out floor on matched sequences lies well above the estimator line"
assert abs(baselines["bayes"] - baselines["estimator"]) < 0.03, \
    "on the chain, Bayes and estimator nearly agree"
print(f"read-out floor on matched sequences - estimator = {gap:.3f} nats (both on the sequences with a match)")

# %% [markdown]
# ## Why the read-out cannot reach the estimator
#
# The estimator is *linear in the counts*: $\hat f \propto N v + \alpha$. Seeing the same continuation once
# or ten times makes a big difference to it. The model's prediction is *log-linear in the average*:
# $\log f = c\,v - \log Z$, and $v$ forgets $N$. The cleanest case is when all $N$ matching children are
# followed by the same token $a$. Then $v = e_a$ for every $N$, so the read-out always puts
# $e^{c}/(e^{c}+S-1)$ on $a$, while the estimator's confidence $(N+\alpha)/(N+S\alpha)$ climbs towards 1.
# One $c$ must serve every $N$: whatever its value, it is overconfident after a single observation or
# timid when the evidence is overwhelming, and the best compromise $c^*$ is both.

# %% mystnb={"image": {"alt": "Probability put on the agreed next token against the number N of agreeing children: the estimator's curve rises towards 1 with N while the softmax read-out stays flat."}}
plot_counting(S, exp.alpha, c_star)
plt.show()

# %% [markdown]
# Splitting the test loss by $N$ ({func}`~causal_tutorial.analysis.loss_by_match_count`), now on every
# test sequence, shows both effects, and the separate problem of $N = 0$. The column "read-out floor" is
# the ideal read-out $\operatorname{softmax}(c^* v)$, which we let fall back to the uniform law when
# nothing matches, as the estimator does ({func}`~causal_tutorial.analysis.ideal_readout`). Its mean loss
# over *all* test sequences is what we call, from now on, simply the **read-out floor**: the line that
# chapter 4 and the later chapters draw beside a trained model. It loses to
# the estimator at every $N\ge1$, but not by the same amount (the cell after the table prints the
# differences): 0.071 nats at $N = 1$, where $c^*$ is too confident; only 0.039 at $N = 2$, where the
# single scale happens to be nearly right; and then more and more as $N$ grows and $c^*$ is too timid,
# 0.089 at $N = 3$ up to 0.225 at $N\ge6$. The hand-built head equals it wherever there is a match, but at
# $N = 0$ it is much worse than uniform (2.514 against 2.303); and $N = 0$ is common (38.8 % of the test
# sequences), since with $\alpha = 0.1$ each sequence visits only a few tokens.

# %%
with torch.no_grad():
    sharp_head = induction_head(S, T, parents, beta=16.0, c=c_star).to(cfg.device)
    f_head = torch.softmax(sharp_head(tokens), -1)
by_count = loss_by_match_count(tokens, labels, parents, S, {
    "estimator": in_context_estimator(tokens, parents, S, exp.alpha),
    "read-out floor": ideal_readout(v, counts, c_star), "hand-built head": f_head})
table = pd.DataFrame(by_count).set_index("N")
table.round(3)

# %%
est, ro, hb = table["estimator"], table["read-out floor"], table["hand-built head"]
assert ro["1"] > est["1"] + 0.02, "the read-out floor's predictor is too confident at N = 1"
assert ro["3"] - est["3"] < ro["4"] - est["4"] < ro["6+"] - est["6+"], \
    "and falls further behind as N grows"
assert (hb - ro).iloc[1:].abs().max() < 1e-3, \
    "the hand-built head equals it wherever there is a match"
assert hb["0"] > ro["0"] + 0.1 and table["share"]["0"] > 0.2, \
    "but is much worse at N = 0, which is common"

# %%
excess = table["read-out floor"] - table["estimator"]  # what a single read-out scale costs, by N
print("read-out floor minus estimator, by N:", excess.round(3).to_dict())
assert excess["2"] < excess["1"] < excess["3"] < excess["4"] < excess["5"] < excess["6+"], \
    "smallest at N = 2; from N = 3 on it grows with N"

# %% [markdown]
# Over all test sequences, the read-out floor is a mixture of two numbers we already have: the read-out
# floor on matched sequences on the 61.2 % of them with a match, and $\log S$, the uniform law's loss, on
# the rest. So it is much higher, 1.826 against 1.523; keep the two names apart when chapter 4 compares a
# trained model with them.

# %%
floor_all = soft_cross_entropy(ideal_readout(v, counts, c_star), labels).item()
share_hit = hit.double().mean().item()
mixture = share_hit * floor_hit + (1 - share_hit) * baselines["uniform"]
print(f"read-out floor on matched sequences: {floor_hit:.3f} ({share_hit:.1%} of the test sequences)")
print(f"read-out floor, all test sequences:  {floor_all:.3f} (the mixture with log S: {mixture:.3f})")
assert abs(floor_all - mixture) < 1e-4, "the read-out floor is that mixture"
assert abs(floor_all - (table["share"] * table["read-out floor"]).sum()) < 1e-4, "the table's column, averaged"

# %% [markdown]
# The linear read-out $W$ sees $v$ only, so nothing in the perfect circuit can repair this. Two ways out
# exist. A transformer with an MLP after attention can approximate the smoothing, one reason to look at
# the standard transformer of chapter 8. And, as the dip above showed, attention that is *not* perfect
# can carry information about $N$: if part of the query's attention goes to a fixed place, that place's
# share of the softmax shrinks as the number of matches grows, just like $\alpha$'s share in
# $(N v + \alpha)/(N + S\alpha)$. The read-out floor is the best loss of the *perfect* induction head, not
# of every disentangled transformer. Chapter 4 shows that a trained model uses exactly this freedom.
#
# ## Summary
#
# - The disentangled transformer keeps one-hot tokens and positions in separate coordinates and
#   concatenates each layer's output to its input, so every block of an attention matrix is a readable
#   rule; with one head per layer the widths are $S+T\to2(S+T)\to4(S+T)$.
# - An induction head takes three blocks: parent adjacency in $A^{(1)}$'s pos × pos block, an identity in
#   $A^{(2)}$'s tok × `L1h0·tok` block, and a read-out of layer 2's token average in $W$.
# - As $\beta\to\infty$ its layer-2 output is the matching-children average $v$, and smoothing $v$ with
#   the count $N$ gives the in-context estimator exactly; but the head carries $v$ only, not $N$.
# - The softmax read-out $\operatorname{softmax}(c\,v)$ cannot use $N$: it cannot grow surer with more
#   evidence. So even the perfect circuit stops at a floor: on the chain's test sequences with a match,
#   the read-out floor on matched sequences lies 0.092 nats above the estimator. Over all test sequences
#   (the uniform law where nothing matches) the read-out floor is 1.826 nats; the hand-built head pays
#   extra when nothing matches.
#
# ## Exercises

# %% [markdown]
# ```{exercise} Layer 1 for in-context pairs
# :label: ex-ch3-icl-layer1
#
# **Difficulty** ★★☆ · **Importance** ★★★ · **About 15 min**
#
# In the *icl pairs* graph ({func}`~causal_tutorial.graphs.icl_pairs`) odd positions are children of the
# position before them and even positions are roots. Build, by hand, a $30\times30$ matrix `A1` (for
# $S=10$, $T=20$) with which every child attends to its parent in layer 1. Check it with
# `check_layer1_matrix(A1)` from `causal_tutorial.exercises.transformer`. Which rows of `A1` could you
# leave at zero, and why?
# ```

# %% nbgrader={"grade": false, "grade_id": "ex-ch3-icl-layer1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["remove-cell", "nbval-skip"]
from causal_tutorial.exercises.transformer import check_layer1_matrix

### BEGIN SOLUTION
import torch

S, T, beta = 10, 20, 20.0
A1 = torch.zeros(S + T, S + T)
for i in range(1, T - 1, 2):
    A1[S + i, S + i - 1] = beta
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex-ch3-icl-layer1-tests", "locked": true, "schema_version": 3, "solution": false, "task": false, "points": 2} tags=["remove-cell", "nbval-skip"]
assert check_layer1_matrix(A1)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-ch3-icl-layer1-words", "locked": false, "schema_version": 3, "solution": true, "task": false, "points": 1}
# ```{solution} ex-ch3-icl-layer1
# :class: dropdown
#
# Only the pos × pos block is needed: put $\beta$ at $(S+i, S+i-1)$ for odd $i$.
#
# ~~~python
# import torch
# from causal_tutorial.exercises.transformer import check_layer1_matrix
# S, T, beta = 10, 20, 20.0
# A1 = torch.zeros(S + T, S + T)
# for i in range(1, T - 1, 2):
#     A1[S + i, S + i - 1] = beta
# check_layer1_matrix(A1)
# ~~~
#
# The rows of roots (even positions) and of the query can stay at zero: a root has no parent to copy, and
# the induction head's layer 2 never needs what a root gathers (the $-\beta$ entries stop the query from
# attending to roots). Equivalently, `induction_head(S, T, icl_pairs(T)).head(1)` passes the check.
#
# **A full answer names** the one block that matters (pos × pos, rows $S+i$ against columns $S+j$); the
# entries $(S+i, S+i-1)$ for odd $i$, set to a large $\beta$; the rows that may stay zero (the roots, the even
# positions, and the query); and the reason: a root has no parent to copy, and layer 2 never reads what a
# root or the query gathered in layer 1.
# ```

# %% [markdown]
# ```{exercise} The best read-out scale
# :label: ex-ch3-readout-scale
#
# **Difficulty** ★★☆ · **Importance** ★★☆ · **About 20 min**
#
# For the icl-pairs graph, find the scale $c$ that minimises the loss of $\operatorname{softmax}(c\,v)$,
# where $v$ is the matching-children average, on the sequences with at least one matching child: sample
# test sequences with
# {class}`~causal_tutorial.tasks.SingleParentTask`, compute $v$ with
# {func}`~causal_tutorial.estimators.matching_children_average` and scan $c$ with
# {func}`~causal_tutorial.analysis.readout_loss`. Check your answer with `check_readout_constant(c)` from
# `causal_tutorial.exercises.transformer`. Is it larger or smaller than on the chain, and why?
# ```

# %% nbgrader={"grade": false, "grade_id": "ex-ch3-readout-scale-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["remove-cell", "nbval-skip"]
from causal_tutorial.exercises.transformer import check_readout_constant

### BEGIN SOLUTION
import torch
from causal_tutorial.analysis import readout_loss
from causal_tutorial.estimators import matching_children_average
from causal_tutorial.graphs import icl_pairs
from causal_tutorial.tasks import SingleParentTask

S, T = 10, 20
tokens, labels = SingleParentTask(S, T, icl_pairs(T)).sample(8192, torch.Generator().manual_seed(0))
v, counts = matching_children_average(tokens, icl_pairs(T), S)
hit = counts > 0
cs = torch.linspace(0.5, 6, 111).tolist()
c = min(cs, key=lambda c: readout_loss(v[hit], labels[hit], c))
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex-ch3-readout-scale-tests", "locked": true, "schema_version": 3, "solution": false, "task": false, "points": 3} tags=["remove-cell", "nbval-skip"]
assert check_readout_constant(c)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-ch3-readout-scale-words", "locked": false, "schema_version": 3, "solution": true, "task": false, "points": 1}
# ```{solution} ex-ch3-readout-scale
# :class: dropdown
#
# ~~~python
# import torch
# from causal_tutorial.analysis import readout_loss
# from causal_tutorial.estimators import matching_children_average
# from causal_tutorial.exercises.transformer import check_readout_constant
# from causal_tutorial.graphs import icl_pairs
# from causal_tutorial.tasks import SingleParentTask
# S, T = 10, 20
# tokens, labels = SingleParentTask(S, T, icl_pairs(T)).sample(8192, torch.Generator().manual_seed(0))
# v, counts = matching_children_average(tokens, icl_pairs(T), S)
# hit = counts > 0
# cs = torch.linspace(0.5, 6, 111).tolist()
# c = min(cs, key=lambda c: readout_loss(v[hit], labels[hit], c))
# check_readout_constant(c)
# ~~~
#
# The icl graph has 9 children instead of 18, so the query has about half as many matching children. With
# fewer observations the estimator is less confident, and the best single $c$ is smaller than on the chain.
#
# **A full answer names** the value (about 2.8, against the chain's $c^* = 3.114$); the direction
# (smaller); and the reason: half as many children, hence fewer matches $N$ per sequence, and with fewer
# observations the estimator hedges more, so the best compromise scale is lower.
# ```

# %% [markdown]
# ```{exercise} One constant for every count
# :label: ex-ch3-one-constant
#
# **Difficulty** ★★☆ · **Importance** ★★★ · **About 15 min**
#
# Suppose the query has $N\ge1$ matching children, all followed by the same token $a$. (a) Find the $c$ for
# which $\operatorname{softmax}(c\,v)$ equals the in-context estimator exactly. (b) Explain, from your
# answer, why no single $c$ can match the estimator for all $N$, and why the loss gap to the estimator is
# largest when $N$ varies a lot from sequence to sequence.
# ```

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-ch3-one-constant-words", "locked": false, "schema_version": 3, "solution": true, "task": false, "points": 3}
# ```{solution} ex-ch3-one-constant
# :class: dropdown
#
# (a) Here $v = e_a$, so $\operatorname{softmax}(c\,e_a)$ gives $a$ the odds $e^{c}$ against any other token.
# The estimator gives $a$ the odds $(N+\alpha)/\alpha = 1 + N/\alpha$. They agree when
# $c = \log(1 + N/\alpha)$. (b) This $c$ grows with $N$ (like $\log N$), but the model has one $c$ for all
# sequences; a single value is right for at most one $N$. The loss-minimising $c^*$ is a compromise among
# the $N$ that occur, so the more the counts vary across sequences, the further each sequence's ideal
# $c$ is from $c^*$, and the larger the read-out floor's gap to the estimator.
#
# **A full answer names** (a) the formula $c = \log(1 + N/\alpha)$ and where it comes from (equal odds
# for $a$ against any other token); (b) that it grows with $N$ while the model has a single $c$; that the
# best $c^*$ is therefore too confident for small $N$ and too timid for large $N$; and that a wider spread
# of $N$ across sequences puts more of them far from $c^*$, so the gap grows.
# ```
