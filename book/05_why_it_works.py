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
# # Why gradient descent finds the graph
#
# ```{admonition} About this chapter
# :class: tip
# **You will learn**
# - what the paper's reduced two-layer model is, and how it simplifies the disentangled transformer;
# - to derive the first gradient on its first attention layer, and why it is a χ²-mutual information
#   between positions at the parent;
# - why, by Cauchy–Schwarz and the data-processing inequality, every child's row of that gradient
#   peaks at its parent, and to check the derivation against autograd on three graphs;
# - to run the paper's two-stage Algorithm 1, and to see where the argument weakens (large α).
#
# **Prerequisites** chapter 2 (causal graphs, the stationary law μ), chapter 3 (the disentangled
# transformer) and chapter 4 (the lock of layer 1 onto the graph).
#
# **Time** about 45 minutes to read; the notebook runs in one to two minutes on a laptop CPU.
# ```
#
# Chapter 4 ended with a puzzle: the first steps that move the first attention layer already point every
# child at its parent, long before the loss has moved. This chapter explains it, following the analysis
# of {cite}`nichani2024causal`. On a simplified model the first gradient on layer 1 can be written down,
# and its entry at (child, parent) is one plus a χ²-mutual information between the two positions; an
# inequality then shows that no other earlier position can score higher. We derive this, check it
# against autograd, and then train the simplified model with the paper's two-stage algorithm.
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
import math

import matplotlib.pyplot as plt
import pandas as pd
import torch

from causal_tutorial.analysis import lock_step, rows_locked_on_parent
from causal_tutorial.estimators import in_context_estimator, soft_cross_entropy
from causal_tutorial.graphs import adjacency, chain, icl_pairs, random_tree
from causal_tutorial.models import ReducedModel
from causal_tutorial.plots import plot_algorithm1, plot_gradient_vs_formula, plot_margin
from causal_tutorial.tasks import SingleParentTask
from causal_tutorial.theory import (algorithm1, chi2_mutual_information, compare_gradient,
                                    first_order_gradient, initial_gradient_formula,
                                    reduced_model_initial_gradient, unseen_label_mass)

PAPER = cfg.scale == "paper"
S, T, ALPHA = 10, 20, 0.1
N_SEQ = 2**20 if PAPER else 2**16  # sequences for the autograd gradient
N_PI = 2**14 if PAPER else 1024  # draws of π for the formulas
GRAPHS = {"chain": chain(T), "icl pairs": icl_pairs(T), "random tree": random_tree(T, seed=0)}

# %% [markdown]
# ## The reduced model
#
# The paper proves its result on a simplified two-layer model, which we reconstruct here as
# {class}`~causal_tutorial.models.ReducedModel`. It keeps the two attention layers of chapter 3's
# disentangled transformer and drops everything else.
#
# ```{prf:definition} Reduced model
# :label: def-reduced-model
#
# Let $x_j = e_{s_j}\in\mathbb R^S$ be the one-hot token at position $j$, $j = 0,\dots,T-1$, with the
# query $q = s_{T-1}$ last.
# *Layer 1* attends by position only: $P^{(1)} = \operatorname{softmax}(\operatorname{mask}(A^{(1)}))$
# with $A^{(1)}\in\mathbb R^{T\times T}$ (causal: row $i$ sees $k \le i$), and outputs
# $\hat e_i = \sum_{k\le i} P^{(1)}_{ik}\, x_k$.
# *Layer 2* lets the query compare its own token with every layer-1 output through
# $A^{(2)}\in\mathbb R^{S\times S}$: the score of position $j$ is $x_{T-1}^\top A^{(2)} \hat e_j$, and
# $\mathrm{att} = \operatorname{softmax}_j(\text{score})$ over $j \le T-1$.
# The *prediction* is the attended average of one-hot tokens, mixed with $\varepsilon$ of the uniform
# law: $f = (1-\varepsilon)\bar f + \varepsilon/S$, $\bar f = \sum_j \mathrm{att}_j\, x_j$; the loss is
# $L = -\sum_s y_s \log f_s$ with the soft label $y = \pi[q]$.
# The initialisation is $A^{(1)} = 0$, $A^{(2)} = \beta_0 I$.
# ```
#
# Against chapter 3's model this removes three things. Layer 1 sees positions only, not tokens (there,
# $A^{(1)}$ also had token blocks). Layer 2 compares tokens with tokens only: its one matrix $A^{(2)}$
# is the (query token) × (`L1h0·tok`) block of chapter 3's $A^{(2)}$, the block where the hand-built
# head put its $\beta I$. And there is no read-out matrix $W$: the prediction is the layer-2 average of
# tokens itself, so the model is an induction head by construction, with only *where* layer 1 looks
# and *how sharply* layer 2 matches left to learn. The $\varepsilon$ keeps the log loss finite when
# the label puts mass on a token the average misses.

# %%
model = ReducedModel(S, T, beta0=0.1)
pd.DataFrame({"shape": {n: tuple(p.shape) for n, p in model.named_parameters()},
              "initial values": {"A1": "all 0", "A2": "β₀ I, β₀ = 0.1"}})

# %%
assert model.A1.shape == (T, T) and model.A2.shape == (S, S)
assert torch.equal(model.A1, torch.zeros(T, T)) and torch.equal(model.A2, 0.1 * torch.eye(S))
assert torch.allclose(model.layer1()[5, :6], torch.full((6,), 1 / 6)), "layer 1 starts uniform"

# %% [markdown]
# ## The gradient at initialisation
#
# At $A^{(1)} = 0$ every row of layer 1 averages uniformly, $P^{(1)}_{ik} = 1/(i+1)$ for $k\le i$, and
# layer 2 scores position $j$ by $\beta_0\,\hat e_j[q]$, the share of $q$ among $s_0,\dots,s_j$. Which
# way does the loss push row $i$ of $A^{(1)}$?
#
# ```{prf:proposition} The exact first-layer gradient
# :label: prop-exact-gradient
#
# At $A^{(1)} = 0$, $A^{(2)} = \beta_0 I$, for one sequence and $k \le i$,
#
# $$-\frac{\partial L}{\partial A^{(1)}_{ik}} = (1-\varepsilon)\,\beta_0\,\mathrm{att}_i\,P^{(1)}_{ik}
# \Big(\frac{y_{s_i}}{f_{s_i}} - c\Big)\big(\mathbb 1[s_k = q] - \hat e_i[q]\big),
# \qquad c = \sum_s \frac{y_s \bar f_s}{f_s}.$$
# ```
#
# ```{prf:proof}
# The chain rule through three softmax-free steps and two softmaxes. From $L = -\sum_s y_s\log f_s$
# and $f = (1-\varepsilon)\bar f + \varepsilon/S$, $\partial L/\partial \bar f_s = -(1-\varepsilon)\,
# y_s/f_s$. The softmax Jacobian gives $\partial \bar f/\partial\,\text{score}_j =
# \mathrm{att}_j\,(x_j - \bar f)$, so
# $\partial L/\partial\,\text{score}_j = -(1-\varepsilon)\,\mathrm{att}_j\,(y_{s_j}/f_{s_j} - c)$.
# Only $\text{score}_i = \beta_0\,\hat e_i[q]$ depends on row $i$ of $A^{(1)}$, and the softmax
# Jacobian of layer 1 gives $\partial \hat e_i[q]/\partial A^{(1)}_{ik} =
# P^{(1)}_{ik}\,(\mathbb 1[s_k = q] - \hat e_i[q])$. Multiplying the three factors gives the claim.
# ```
#
# The exact gradient depends on the whole sequence through $\mathrm{att}$, $f$ and $c$. Four
# approximations, the same as in the docstring of
# {func}`~causal_tutorial.theory.initial_gradient_formula`, make it a property of the graph:
#
# 1. **small $\beta_0$**: $\mathrm{att}_i = 1/T$ and $\bar f = \hat\nu$, the sequence's empirical token
#    law (the gradient is $O(\beta_0)$; this is its first order);
# 2. **small $\varepsilon$**: $f \approx \hat\nu$ wherever $\hat\nu > 0$, and
#    $c = \sum_s y_s\hat\nu_s/f_s \approx \sum_{s:\,\hat\nu_s > 0} y_s$, the label's mass on the tokens the
#    sequence shows: not 1, since a token that never appears adds nothing to $c$;
# 3. **large $T$**: $\hat\nu \approx \mu_\pi$, the stationary law of the sequence's $\pi$; as $\mu_\pi$ gives
#    every token some mass, $c$ then becomes $\sum_s y_s = 1$;
# 4. **the query uniform and independent** of $s_0,\dots,s_{T-2}$, as the task draws it.
#
# ```{prf:proposition} The gradient measures $G$
# :label: prop-gradient-formula
#
# Under approximations 1–4, averaged over the query, the sequence given $\pi$ and then $\pi$, for
# $k \le i$,
#
# $$-\mathbb E\,\frac{\partial L}{\partial A^{(1)}_{ik}} \approx
# \frac{\beta_0(1-\varepsilon)}{T S\,(i+1)}\big(G[i,k] - c_i\big),\qquad
# G[i,k] = \mathbb E_\pi\Big[\sum_{a,b} P(s_k = a, s_i = b)\,\frac{\pi[a,b]}{\mu(b)}\Big],$$
#
# with the row constant $c_i = \frac1{i+1}\sum_{k'\le i} G[i,k']$, the row's own mean. At the parent,
# $G[i, p(i)] = 1 + \mathbb E_\pi\big[I_{\chi^2}(s_{p(i)}; s_i)\big]$, where
# $I_{\chi^2}(X;Y) = \sum_{x,y} P(x,y)^2/(P(x)P(y)) - 1$.
# ```
#
# ```{prf:proof}
# With approximations 1–3 the exact gradient becomes
# $\frac{\beta_0(1-\varepsilon)}{T(i+1)}\,(h(q) - 1)\,(\mathbb 1[s_k=q] - \hat e_i[q])$ with
# $h(q) = \pi[q, s_i]/\mu(s_i)$, since $y = \pi[q]$. Average over $q$, uniform and independent of the
# sequence (approximation 4): $\mathbb E_q[(h(q)-1)\,\mathbb 1[s_k=q]] = \frac1S(h(s_k)-1)$, and, as
# $\hat e_i[q] = \frac1{i+1}\sum_{k'\le i}\mathbb 1[s_{k'}=q]$,
# $\mathbb E_q[(h(q)-1)\,\hat e_i[q]] = \frac1{S(i+1)}\sum_{k'\le i}(h(s_{k'})-1)$. The $-1$'s cancel in
# the difference, leaving $\frac{\beta_0(1-\varepsilon)}{TS(i+1)}\big(h(s_k) -
# \frac1{i+1}\sum_{k'\le i} h(s_{k'})\big)$. Given $\pi$, $\mathbb E[h(s_k)] =
# \sum_{a,b} P(s_k=a, s_i=b)\,\pi[a,b]/\mu(b)$; averaging over $\pi$ gives $G[i,k]$ and $c_i$.
#
# At $k = p = p(i)$: $s_i$ is drawn from $\pi[s_p]$ and $s_p \sim \mu$, so
# $P(s_p = a, s_i = b) = \mu(a)\,\pi[a,b]$ and $\pi[a,b] = P(s_p=a,s_i=b)/\mu(a)$. Then
# $\sum_{a,b} P(s_p=a,s_i=b)^2/(\mu(a)\mu(b)) = 1 + I_{\chi^2}(s_p; s_i)$, since both marginals are
# $\mu$ (the process is stationary).
# ```
#
# The row constant is no accident: the entries of a softmax row's gradient sum to zero, so only
# differences within a row matter, and the *argmax* of row $i$ is the argmax of $G[i,\cdot]$.
#
# ```{prf:proposition} The parent has the largest entry
# :label: prop-dpi
#
# Let $i$ be a child with parent $p$, and $k < i$ any earlier position. Then, for every $\pi$,
# $G_\pi[i,k] \le G_\pi[i,p]$ (the terms inside $\mathbb E_\pi$); hence $G[i,k] \le G[i,p]$.
# ```
#
# ```{prf:proof}
# Write $G_\pi[i,k] = \sum_{a,b} u(a,b)\,v(a,b)$ with $u(a,b) = P(s_k=a,s_i=b)/\sqrt{\mu(a)\mu(b)}$
# and $v(a,b) = P(s_p=a,s_i=b)/\sqrt{\mu(a)\mu(b)}$. By Cauchy–Schwarz,
# $G_\pi[i,k] \le \|u\|\,\|v\| = \sqrt{1 + I_{\chi^2}(s_k;s_i)}\,\sqrt{1 + I_{\chi^2}(s_p;s_i)}$
# (every position's marginal is $\mu$, so $\|u\|^2 = 1 + I_{\chi^2}(s_k; s_i)$).
# Now $s_k \to s_p \to s_i$ is a Markov chain: $s_i$ is drawn from $\pi[s_p]$ with fresh randomness,
# so given $s_p$ it is independent of every position that is not a descendant of $i$. In our forests
# every edge points forward (a parent's index is smaller than its child's), so a descendant of $i$
# has an index larger than $i$, and every $k < i$ qualifies. $I_{\chi^2}$ is the χ²-divergence between
# a joint law and the product of its marginals, an $f$-divergence, so it obeys the data-processing
# inequality: $I_{\chi^2}(s_k; s_i) \le I_{\chi^2}(s_p; s_i)$. Together,
# $G_\pi[i,k] \le 1 + I_{\chi^2}(s_p; s_i) = G_\pi[i,p]$; average over $\pi$.
# ```
#
# The inequality is not strict in general (a $k$ in another tree has $G[i,k] = 1$, which equals the
# parent's entry only if $\pi$'s rows are all equal), so whether the parent wins by a visible margin
# is a quantitative question, which the rest of the chapter measures. The scaling matters too: the
# gradient carries the factor $\beta_0/(TS(i+1))$, which at $S = 10$, $T = 20$, $\beta_0 = 0.1$ runs
# from $2.5\cdot 10^{-4}$ (row $i = 1$) down to $2.6\cdot 10^{-5}$ (row $i = 18$); the autograd
# gradient below is about $10^{-4}$ on the chain's parent entries. This is why Algorithm 1 below uses
# a step size in the thousands.

# %% [markdown]
# ## Checked against autograd
#
# {func}`~causal_tutorial.theory.reduced_model_initial_gradient` differentiates the mean loss of a
# fresh reduced model (in float64) on many sequences; {func}`~causal_tutorial.theory.initial_gradient_formula`
# computes $G$ exactly for each draw of $\pi$ and averages over draws.
# {func}`~causal_tutorial.theory.compare_gradient` scales each child row of the autograd gradient by
# $i+1$, centres both on $k < i$, fits one common factor $\lambda$ (predicted:
# $\beta_0(1-\varepsilon)/(TS)$) and reports the relative error and the fraction of child rows whose
# argmax over $k < i$ is the parent.

# %%
BETA0, EPS = 0.1, 1e-3
grads, formulas, rows = {}, {}, {}
for j, (name, parents) in enumerate(GRAPHS.items()):
    grads[name] = reduced_model_initial_gradient(parents, S, ALPHA, N_SEQ, BETA0, EPS,
                                                 generator=cfg.generator(10 + j), device=cfg.device)
    formulas[name] = initial_gradient_formula(parents, S, ALPHA, N_PI, cfg.generator(20 + j),
                                              cfg.device)
    c = compare_gradient(grads[name], formulas[name])
    rows[name] = {"relative error": c.rel_error, "fitted λ": c.factor,
                  "λ / (β₀(1−ε)/(TS))": c.factor / (BETA0 * (1 - EPS) / (T * S)),
                  "argmax = parent (autograd)": c.argmax_autograd,
                  "argmax = parent (formula)": c.argmax_formula}
comparison = pd.DataFrame(rows).T
comparison.round(4)

# %%
assert (comparison["argmax = parent (autograd)"] == 1).all(), "autograd: every child row peaks at p"
assert (comparison["argmax = parent (formula)"] == 1).all(), "formula: every child row peaks at p"
assert (comparison["relative error"] < 0.25).all(), "the formula's shape within 25 % of autograd"
for name, quoted in (("chain", 0.05), ("icl pairs", 0.08), ("random tree", 0.18)):
    assert abs(comparison.loc[name, "relative error"] - quoted) < 0.006, f"the prose quotes {quoted} for {name}"
assert comparison["λ / (β₀(1−ε)/(TS))"].between(0.7, 0.8).all(), "the scale: 0.7-0.8 of predicted"
prefactor = BETA0 / (T * S * torch.arange(2, T))  # rows i = 1 … T-2
assert abs(prefactor[0] - 2.5e-4) < 1e-9 and abs(prefactor[-1] - 2.6e-5) < 1e-6, "the prose's 2.5e-4 … 2.6e-5"
on_parent = grads["chain"].diagonal(-1).abs().median().item()
assert 5e-5 < on_parent < 2e-4, f"about 1e-4 on the chain's parent entries, got {on_parent:.2e}"

# %% [markdown]
# On all three graphs both the autograd gradient and the formula put every child row's maximum at the
# parent, and the formula's shape matches autograd to within a relative error of 0.05 (chain), 0.08
# (icl pairs) and 0.18 (random tree); we assert a bound of 0.25. The fitted factor is about 0.7–0.8 of
# the first-order prediction $\beta_0(1-\varepsilon)/(TS)$: the shape is right, the overall scale a
# little smaller. Where does the gap come from? The crudest of the four approximations at $T = 20$
# is $\hat\nu\approx\mu$, and with $\alpha = 0.1$ many of $\mu$'s entries are tiny. We can test
# that suspicion directly: {func}`~causal_tutorial.theory.first_order_gradient` averages the
# first-order gradient over the same kind of sequences and queries, taking approximations 1 and 2
# only (except that it sets $c$ to 1, its value after approximation 3), either with each sequence's own token law $\hat\nu$ (`law="empirical"`) or with
# $\mu_\pi$ in its place (`law="stationary"`, adding approximation 3; in expectation this is the
# formula).

# %%
traced = {}
for j, (name, parents) in enumerate(GRAPHS.items()):
    row = {}
    for law in ("empirical", "stationary"):
        first = first_order_gradient(parents, S, ALPHA, N_SEQ, BETA0, EPS, law=law,
                                     generator=cfg.generator(30 + j), device=cfg.device)
        c = compare_gradient(grads[name], first, parents=parents)
        row[f"λ, {law} law"], row[f"relative error, {law} law"] = c.factor, c.rel_error
    row["λ of the formula / prediction"] = comparison.loc[name, "λ / (β₀(1−ε)/(TS))"]
    traced[name] = row
traced = pd.DataFrame(traced).T
traced.round(3)

# %%
assert traced["λ, empirical law"].between(0.95, 1.05).all(), "with ν̂, autograd's scale is matched"
assert traced["λ, stationary law"].between(0.7, 0.8).all(), "with μ, the scale falls short, to 0.7-0.8"
assert ((traced["λ, stationary law"] - traced["λ of the formula / prediction"]).abs() < 0.03).all(), \
    "by as much as the formula's"

# %% [markdown]
# With the empirical law the fitted factor is 1 to within a few percent on all three graphs: the
# first-order gradient has autograd's scale. With $\mu$ in its place the factor drops to the
# formula's own 0.7–0.8. So the gap is approximation 3: a token that appears in the sequence has
# $\hat\nu \ge 1/T$, while its stationary probability can be far smaller, so $\pi[q, s_i]/\mu(s_i)$
# overstates what the model feels; at $\alpha = 1$, where $\mu$ is close to uniform, the factor
# returns to 1 (the unit test of the formula measures 0.99 there). The *shape*, which decides the
# argmax, survives the approximation. The figure shows the three matrices side by side.

# %% mystnb={"image": {"alt": "For the chain, icl pairs and a random tree, three small heatmaps each: the scaled and centred autograd gradient on layer 1, the centred formula G, and the true parent adjacency; the red entries of both gradients sit where the adjacency has its ones."}}
def centred_below(M):
    """Keep k < i, remove each row's mean over it (the comparison's centring)."""
    low = torch.ones_like(M, dtype=torch.bool).tril(-1)
    M = torch.where(low, M, 0.0)
    n = low.sum(1, keepdim=True).clamp_min(1)
    return torch.where(low, M - M.sum(1, keepdim=True) / n, 0.0)


scale = torch.arange(1, T, dtype=torch.float64).unsqueeze(1)
panels = {name: (centred_below(grads[name].cpu() * scale), centred_below(formulas[name].mean.cpu()),
                 adjacency(parents)[: T - 1, : T - 1]) for name, parents in GRAPHS.items()}
plot_gradient_vs_formula(panels, suptitle="The first gradient on layer 1 peaks at each parent, "
                                          "as the formula says")
plt.show()

# %% [markdown]
# ## The χ²-mutual information and its margin
#
# The parent's entry is $1 + \mathbb E[I_{\chi^2}]$, and
# {func}`~causal_tutorial.theory.chi2_mutual_information` computes $\mathbb E_\pi[I_{\chi^2}(s_k; s_i)]$
# for every pair $k < i$ (exact for each $\pi$, Monte Carlo over $\pi$ only). On the chain, row $i$
# decays with the distance $i - k$; on icl pairs only the edges carry information; on the tree, the
# information follows the paths of the graph. Its method
# {meth}`~causal_tutorial.theory.Chi2MutualInformation.margin` gives the *margin* by which the parent wins:
# the parent's entry minus the largest other entry of its row, averaged over the child rows (chapter 10
# sets it against what training does).

# %%
mi = {name: chi2_mutual_information(parents, S, ALPHA, N_PI, cfg.generator(30 + j), cfg.device)
      for j, (name, parents) in enumerate(GRAPHS.items())}
edge, edge_se = mi["chain"].mean[1, 0].item(), mi["chain"].se[1, 0].item()
print(f"chain, S = {S}, α = {ALPHA}: E[I_χ²(s_0; s_1)] = {edge:.3f} ± {edge_se:.3f} "
      f"(n_pi = {N_PI}); two steps apart, E[I_χ²(s_0; s_2)] = {mi['chain'].mean[2, 0].item():.3f}")

# the margin: the mean over child rows (with another k < i) of the parent's entry minus the largest other one
print({name: round(m.margin(), 3) for name, m in mi.items()})

# %%
assert abs(mi["chain"].mean[1:, :-1].diagonal() - edge).max() < 5 * edge_se, "every edge alike"
assert all((mi["chain"].mean[i, :i].diff() > 0).all() for i in range(2, T - 1)), "chain: decays with i − k"
assert all(m.margin() > 0 for m in mi.values()), "the parent wins each row"
icl_off = mi["icl pairs"].mean[3, [0, 1]]
assert icl_off.abs().max() < 1e-12, "icl pairs: other pairs independent"

# %% [markdown]
# How large is this margin as the prior changes? Small $\alpha$ gives nearly deterministic rows of $\pi$
# (much information per edge); large $\alpha$ gives rows near uniform, and then every position says
# little about the next. We measure, on the chain, the information on an edge and the margin of the
# χ² matrix (the parent's entry minus the next best, averaged over child rows) for a grid of $\alpha$
# and $S$.

# %% mystnb={"image": {"alt": "Two log-log panels against the Dirichlet concentration alpha for S = 3, 5 and 10: the chi-squared information on a chain edge falls steadily as alpha grows, while the margin of a child row peaks near alpha = 0.1 to 0.3 and then falls steeply."}}
sweep = []
for a in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
    for s in (3, 5, 10):
        m = chi2_mutual_information(chain(T), s, a, N_PI // 2, cfg.generator(40), cfg.device)
        sweep.append({"S": s, "alpha": a, "edge": m.mean[1, 0].item(),
                      "edge_se": m.se[1, 0].item(), "margin": m.margin()})
sweep = pd.DataFrame(sweep)
plot_margin(sweep, suptitle="The χ² margin that points gradient descent at the parent "
                            "shrinks as α grows past 0.3")
plt.show()
sweep.pivot(index="alpha", columns="S", values=["edge", "margin"]).round(4)

# %%
for s, part in sweep.groupby("S"):
    edge_s, margin_s = part["edge"].reset_index(drop=True), part["margin"].reset_index(drop=True)
    peak = int(margin_s.idxmax())
    assert edge_s.is_monotonic_decreasing, f"S = {s}: the edge's information falls as α grows"
    assert part["alpha"].iloc[peak] in (0.1, 0.3), "the margin peaks at α = 0.1 or 0.3"
    assert margin_s.iloc[peak:].is_monotonic_decreasing, "and shrinks from there as α grows"
    assert margin_s.iloc[-1] < 0.2 * margin_s.iloc[peak], "by over 5x at α = 10"
    assert margin_s.iloc[0] < margin_s.iloc[peak], "at α = 0.03 it is smaller than at the peak"
assert (sweep["margin"] > 0).all(), "yet it stays positive (the inequality never breaks)"

# %%
peak_margin = sweep.groupby("S")["margin"].max()
at_10 = sweep[sweep["alpha"] == 10.0].set_index("S")
shrink = (peak_margin / at_10["margin"]).round(1)
print("margin at its peak / margin at α = 10:", shrink.to_dict())
print("margin / edge information at α = 10:", (at_10["margin"] / at_10["edge"]).round(2).to_dict())
assert shrink.to_dict() == {3: 7.1, 5: 11.5, 10: 22.1}, "the prose: 7 to 22 times smaller"
assert (at_10["margin"] / at_10["edge"]).between(0.95, 1.0).all(), "close to the edge's information"

# %% [markdown]
# The information on an edge falls steadily with $\alpha$, and so, beyond $\alpha\approx 0.1$–$0.3$,
# does the margin: at $\alpha = 10$ it is 7 to 22 times smaller than at its peak (7.1 times at $S = 3$,
# 11.5 at $S = 5$, 22.1 at $S = 10$: the larger $S$, the steeper the fall), and within 5 % of the
# edge's information itself, because every longer path carries almost nothing. At very small $\alpha$
# the margin is smaller again, for the opposite reason: nearly deterministic rows of $\pi$ carry
# information over several steps, so the grandparent comes close to the parent. The margin never
# becomes negative, as {prf:ref}`prop-dpi` demands.

# %% [markdown]
# ## Algorithm 1: two stages of gradient descent
#
# The paper's Algorithm 1 ({func}`~causal_tutorial.theory.algorithm1`) trains the reduced model in two
# stages of SGD at constant step sizes, on fresh batches: stage 1 trains $A^{(1)}$ alone for $\tau_1$
# steps at $\eta_1$ (with $A^{(2)} = \beta_0 I$ fixed), stage 2 trains $A^{(2)}$ alone for $\tau_2$
# steps at $\eta_2$. Since the stage-1 gradient is of order $\beta_0/(TS)$, $\eta_1$ must be large.
#
# The paper proves that this algorithm learns the task. We state its main result below **in our own
# words**: it is a paraphrase from our reading of {cite}`nichani2024causal`, kept to what this chapter
# derives and measures; the precise assumptions, rates and constants are in the paper, and we do not
# restate them.
#
# ```{prf:theorem} The paper's main result (paraphrased)
# :label: thm-ch5-main
#
# Take the single-parent task on a fixed graph, and the paper's reduced model (of which
# {prf:ref}`def-reduced-model` is our reconstruction) trained by Algorithm 1. Assume that
#
# 1. *the prior over $\pi$ is non-degenerate*: its transition matrices have entries bounded away from
#    zero (so $\mu_\pi$ gives every token some mass), and for every child $i$ the parent's expected
#    χ²-mutual information with $i$ exceeds that of every other earlier position by a positive gap (the
#    margin of {prf:ref}`prop-dpi`, which must be bounded below);
# 2. *the sequences are long*: $T$ is larger than a threshold that depends on $S$, the gap and the
#    prior's bounds (see the paper);
# 3. *the initialisation is small*: $A^{(1)} = 0$ and $A^{(2)} = \beta_0 I$ with $\beta_0$ small;
# 4. *the step sizes and times* $\eta_1$, $\tau_1$ (stage 1) and $\eta_2$, $\tau_2$ (stage 2) are chosen
#    as the paper prescribes (see the paper).
#
# Then, after stage 1, row $i$ of $\operatorname{softmax}(A^{(1)})$ puts nearly all of its weight on the
# parent $p(i)$, for every child $i$: the first layer holds the graph's adjacency. After stage 2, the
# model's loss is close to that of the in-context estimator (the line the paper calls Bayes-optimal,
# chapter 1), within an error the theorem bounds. On a chain, the learned circuit is an induction head.
# ```
#
# This chapter has derived the engine of the first conclusion (the gradient at initialisation,
# {prf:ref}`prop-gradient-formula` and {prf:ref}`prop-dpi`); it does not reproduce the proof of
# either conclusion. Below we run Algorithm 1 at the book's own settings, which are *not* the
# theorem's (at $\alpha = 0.1$ many entries of $\pi$ are tiny, and $T = 20$ is short), and the section
# *What this book adds or chooses* collects what is ours. A `metrics` callback records, at each
# evaluation, whether every child row of $A^{(1)}$ peaks at its parent
# ({func}`~causal_tutorial.analysis.rows_locked_on_parent`) and the mean attention
# $\operatorname{softmax}(A^{(1)})_{i,p(i)}$ on the parent.

# %% tags=["nbval-ignore-output"]
def layer1_metrics(parents):
    kids = [(i, p) for i, p in enumerate(parents) if p >= 0]

    def metrics(model, test_tokens):
        locked = rows_locked_on_parent(model.head(1).detach(), parents)
        P1 = model.layer1().detach()
        return {"parent_recovered": float(all(locked.values())),
                "attn_on_parent": sum(P1[i, p].item() for i, p in kids) / len(kids)}
    return metrics


BATCH = 1024 if PAPER else 256
TAU1, ETA1, TAU2, ETA2 = 100, 1000.0, 200, 100.0
W_PRIOR = S * ALPHA  # the prior position's weight: the estimator's S·α pseudo-counts
runs = {}
for label, w in (("reduced model (our reconstruction)", 0.0), ("with a prior position (w = Sα)", W_PRIOR)):
    runs[label] = algorithm1(chain(T), S, ALPHA, tau1=TAU1, eta1=ETA1, tau2=TAU2, eta2=ETA2,
                             beta0=BETA0, batch_size=BATCH, seed=0, device=cfg.device,
                             metrics=layer1_metrics(chain(T)), prior_weight=w)
for label, (m, r) in runs.items():
    end1 = next(h for h in r.history if h["step"] == TAU1)
    print(f"{label}: locked at step {lock_step(r.history)}; after stage 1 the attention on the parent "
          f"is {end1['attn_on_parent']:.3f} (test loss {r.history[0]['test_loss']:.3f} at the start, "
          f"{end1['test_loss']:.3f} after stage 1); after stage 2 the test loss is "
          f"{r.history[-1]['test_loss']:.3f}, mean diagonal of A2 {m.A2.diag().mean().item():.2f}, "
          f"the query row's largest attention {m.layer1()[-1].max().item():.2f}")
    assert end1["attn_on_parent"] > 0.98, "about 99 % of each child's attention on its parent"
    assert abs(end1["test_loss"] - r.history[0]["test_loss"]) < 0.05, "stage 1 barely moves the loss"
    assert r.history[-1]["test_loss"] < end1["test_loss"] - 0.15, "stage 2 lowers the loss"
(plain, _), (with_prior, _) = runs.values()
assert abs(plain.A2.diag().mean() - 2.1) < 0.3, "A2's diagonal ends near 2 without a prior position"
assert abs(with_prior.A2.diag().mean() - 6.2) < 0.7, "and near 6 with one"

# %% [markdown]
# Stage 1 makes $\operatorname{softmax}(A^{(1)})$ converge to the chain's adjacency in both models:
# after 100 steps about 99 % of each child's attention sits on its parent. The loss barely moves in stage
# 1 (by less than 0.05 nats), since with $\beta_0 = 0.1$ layer 2 hardly matches at all; stage 2 then
# raises the diagonal of $A^{(2)}$ from 0.1 to about 2 (about 6 with the prior position, introduced
# next) and the loss drops by more than 0.15 nats. How low can it go?
#
# The reduced model predicts an average of tokens *in the sequence*. When $\pi[q]$ puts mass on tokens
# the sequence never shows (in particular when the query's token has no child in the sequence), only
# the $\varepsilon/S$ of the uniform law is left for them, and the loss pays
# $\log(S/\varepsilon) = \log 10^4 \approx 9.2$ nats per unit of that mass, at our $\varepsilon = 10^{-3}$.
# The in-context
# estimator has no such problem, because it smooths: $(N(q\to s') + \alpha)/(N(q\to\cdot) + S\alpha)$
# is the average of the $N$ observed children *and* $S\alpha$ pseudo-observations of a uniform
# token. Those pseudo-observations can be given to the model as one more position, which we call
# the **prior position** (our addition, beyond the paper): a virtual position whose layer-1 output
# is the query's own token (so it always matches, with score $A^{(2)}[q,q] + \log w$) and whose value
# is the uniform law. With $A^{(2)} = \beta I$ and $\beta\to\infty$, layer 2 then puts weight
# $w/(N+w)$ on the uniform law and $1/(N+w)$ on each matching child: for $w = S\alpha$, exactly the
# estimator's smoothing.
#
# The fair reference for each trained model is a *hand-built* one of the same kind: $A^{(1)}$ a hard
# copy of the adjacency (roots attend to themselves) with the query's row as Algorithm 1 learned it,
# and $A^{(2)} = \beta I$ at its best $\beta$. We compare them all on one test set, and for the
# reconstructed model without a prior position also try other query rows by hand.

# %% tags=["nbval-ignore-output"]
task = SingleParentTask(S, T, chain(T), ALPHA, device=cfg.device)
test = task.sample(4096, cfg.generator(50))
est_loss = soft_cross_entropy(in_context_estimator(test.tokens, chain(T), S, ALPHA),
                              test.labels).item()


def hand_built(beta, w, query_row, parents=chain(T)):
    """A1 a hard copy of the adjacency (roots on themselves), the query's row given, A2 = βI."""
    m = ReducedModel(S, T, beta0=beta, prior_weight=w)
    with torch.no_grad():
        m.A1.fill_(-30.0)
        for i, p in enumerate(parents):
            m.A1[i, i if p < 0 else p] = 30.0
        m.A1[T - 1] = query_row
    return m


def best_over_beta(w, query_row):
    with torch.no_grad():
        losses = {b: hand_built(b, w, query_row).loss(test.tokens, test.labels).item()
                  for b in (1, 2, 3, 5, 10, 20)}
    beta = min(losses, key=losses.get)
    return losses[beta], beta


def on(j):  # a query row that attends to position j only
    return torch.full((T,), -30.0).index_fill_(0, torch.tensor([j]), 30.0)


with torch.no_grad():
    trained = {label: m.loss(test.tokens, test.labels).item() for label, (m, _) in runs.items()}
    limits = {label: best_over_beta(m.prior_weight, m.A1[-1].detach()) for label, (m, _) in runs.items()}
for label in runs:
    print(f"{label}: Algorithm 1 {trained[label]:.3f}; hand-built with the learned query row "
          f"{limits[label][0]:.3f} (best β = {limits[label][1]}); in-context estimator {est_loss:.3f}")
plain_label, prior_label = runs
alternatives = {"itself": best_over_beta(0.0, on(T - 1))[0], "the position before it": best_over_beta(0.0, on(T - 2))[0],
                "every position alike": best_over_beta(0.0, torch.zeros(T))[0]}
print("reduced model, hand-built with the query row on", {k: round(v, 3) for k, v in alternatives.items()})

# %%
for label, (m, r) in runs.items():
    end1 = next(h for h in r.history if h["step"] == TAU1)
    assert lock_step(r.history) is not None and lock_step(r.history) <= 10, "locked within 10 steps"
    assert end1["attn_on_parent"] > 0.95, "softmax(A1) close to the adjacency after stage 1"
    assert r.history[-1]["test_loss"] < end1["test_loss"] - 0.15, "stage 2 lowers the loss"
    assert abs(trained[label] - limits[label][0]) < 0.05, "to about the hand-built model of its kind"
assert runs[plain_label][0].layer1()[-1, -1] > 0.97, "the reduced model: the query's row attends to itself"
assert runs[prior_label][0].layer1()[-1].max() < 0.2, "with the prior position it stays spread out"
assert abs(limits[plain_label][0] - alternatives["itself"]) < 0.01, "the learned row is as good as one on itself"
assert alternatives["the position before it"] < trained[plain_label] - 0.05, "a better query row exists"
assert abs(trained[plain_label] - 3.2) < 0.05, "the reduced model ends at about 3.2 nats"
assert abs(trained[plain_label] - est_loss - 1.45) < 0.05, "about 1.45 nats above the estimator"
assert 0 < trained[prior_label] - est_loss < 0.02, "about 0.01 nats above the estimator"
for where, quoted in (("every position alike", 3.062), ("the position before it", 3.079), ("itself", 3.179)):
    assert abs(alternatives[where] - quoted) < 0.0005, f"the prose quotes {quoted} for a query row on {where}"
assert trained[plain_label] > math.log(S), "at ε = 1e-3 the reduced model ends above the uniform line"
assert trained[plain_label] > est_loss + 1.0, "far above the estimator line"

# %% mystnb={"image": {"alt": "Test loss against step for Algorithm 1 on the chain, for the book's reconstruction of the reduced model and for the model with a prior position: both stay flat through stage 1 and drop when stage 2 starts at step 100; at the book's epsilon of one in a thousand the reconstructed model ends above the uniform line, near its best hand-built version, while the model with the prior position ends just above the in-context estimator's line."}}
plot_algorithm1({label: r.history for label, (_, r) in runs.items()},
                {"uniform": math.log(S), "estimator": est_loss,
                 "reduced_limit": limits[plain_label][0], "reduced_limit_prior": limits[prior_label][0]},
                tau1=TAU1, title="Algorithm 1 on the chain: stage 2 reaches each model's own limit")
plt.show()

# %% [markdown]
# Each run ends within a few hundredths of a nat of the hand-built model of its own kind. Our
# reconstruction of the reduced model, at our $\varepsilon = 10^{-3}$, ends at about 3.2 nats: above
# even the uniform line ($\log 10 \approx 2.30$), and about 1.45 nats above the estimator. This is not a
# failure of gradient descent, and not a statement about the paper's model: most of the gap is the
# price $\log(S/\varepsilon)$ that our reconstruction pays on label mass the sequence never shows.
# The $\varepsilon$ sweep in *What this book adds or chooses* below measures it: about 1.9 of the 3.2
# nats are that price, and at $\varepsilon = 0.1$ the same algorithm ends below the uniform line. With
# the prior position the same two stages end about 0.01 nats above the estimator's line; what is left
# is, we expect, the few matches the estimator does not count (a root, or the query's own position,
# whose layer-1 output happens to hold the query's token).
#
# One detail of stage 1 is visible here. Besides the child rows, it also moves the query's own row of
# $A^{(1)}$: without a prior position that row ends on the query itself (about 0.99 of its weight), with
# one it stays spread out. Without the prior position this choice costs about 0.1 nats: by hand, a query
# row spread over every position (3.062) or placed on the position before it (3.079) beats one placed
# on the query itself (3.179), which is as good as the learned row (within 0.01). Stage 1 sets that row
# from the gradient at $\beta_0$, not from what stage 2 will need. So the reduced model explains *how
# layer 1 finds the graph*, and, once it is given a way to smooth, how layer 2 turns the graph into the
# estimator.

# %% [markdown]
# ### Steps to recover each graph, and what $\beta_0$ and $\eta_1$ do
#
# How many stage-1 steps until every child row of $A^{(1)}$ peaks at its parent, and for how long
# does it stay so? We run stage 1 for 60 steps on each graph (with one step of stage 2, which the
# function requires) and read the lock off the records, taken at every step here.

# %% tags=["nbval-ignore-output"]
def steps_to_lock(parents, alpha, tau1, eta1=ETA1, beta0=BETA0):
    m, r = algorithm1(parents, S, alpha, tau1=tau1, eta1=eta1, tau2=1, eta2=1.0, beta0=beta0,
                      batch_size=BATCH, seed=0, device=cfg.device, metrics=layer1_metrics(parents))
    stage1 = [h for h in r.history if h["step"] <= tau1]
    first = lock_step(stage1)
    kept = first is not None and all(h["parent_recovered"] == 1.0
                                     for h in stage1 if h["step"] >= first)
    return lock_step(stage1), kept, stage1[-1]["attn_on_parent"]


locks = {name: steps_to_lock(parents, ALPHA, 60) for name, parents in GRAPHS.items()}
pd.DataFrame(locks, index=["lock step", "stays locked", "attention on parent at 60"]).T

# %%
assert all(lock is not None and lock <= 10 and kept for lock, kept, _ in locks.values()), \
    "every graph is recovered within 10 steps, and stays recovered"
assert all(lock == 1 for lock, _, _ in locks.values()), "in fact after the first step"
assert all(0.97 < att < 0.99 for _, _, att in locks.values()), "about 98 % on the parent after 60 steps"

# %% [markdown]
# In the linear regime at the start, each step adds a noisy estimate of the same expected gradient to
# $A^{(1)}$. The *argmax* of the sum does not depend on the step size or on $\beta_0$ (both only
# scale it): it is right once the accumulated noise is smaller than the margin. What $\eta_1$ and
# $\beta_0$ control is how far $A^{(1)}$ moves, hence how sharp the attention on the parent is.

# %% tags=["nbval-ignore-output"]
knobs = {(eta1, b0): steps_to_lock(chain(T), ALPHA, 60, eta1=eta1, beta0=b0)
         for eta1, b0 in ((100.0, 0.1), (1000.0, 0.1), (1000.0, 0.01))}
knobs = pd.DataFrame(knobs, index=["lock step", "stays locked", "attention on parent at 60"]).T
knobs.rename_axis(["η₁", "β₀"])

# %%
assert knobs["lock step"].nunique() == 1, "the lock step does not depend on η₁ or β₀"
att60 = knobs["attention on parent at 60"]
assert att60[(100.0, 0.1)] < att60[(1000.0, 0.1)], "a larger η₁ sharpens layer 1 faster"
assert att60[(1000.0, 0.01)] < att60[(1000.0, 0.1)], "and so does a larger β₀"
assert abs(att60[(100.0, 0.1)] - att60[(1000.0, 0.01)]) < 0.01, "at first only η₁·β₀ matters"
assert 0.30 < att60[(100.0, 0.1)] < 0.37, "about a third"

# %% [markdown]
# Every graph is locked after the very first step (records at every step), and stays locked; after 60
# steps about 98 % of each child's attention is on its parent. Changing
# $\eta_1$ or $\beta_0$ tenfold leaves the lock step unchanged and changes the sharpness; and
# $(\eta_1, \beta_0) = (100, 0.1)$ and $(1000, 0.01)$ give the same attention (about a third), because
# the gradient is proportional to $\beta_0$, so at first only the product $\eta_1\beta_0$ counts.

# %% [markdown]
# ## What this book adds or chooses
#
# {prf:ref}`thm-ch5-main` is the paper's. Everything else in this chapter's runs is ours, and we collect it
# here so that no choice of ours passes for the paper's.
#
# 1. **The reduced model is our reconstruction** ({prf:ref}`def-reduced-model`): the paper's simplified
#    model as we read it. The $\varepsilon$ floor and its value, and the prior position, are our
#    choices; where our model differs from the paper's, the paper's theorem says nothing about ours.
# 2. **Algorithm 1's settings are ours**, picked for a run of seconds on a laptop; the theorem sets
#    $\eta_1$, $\tau_1$, $\eta_2$, $\tau_2$ from its own constants (see the paper). The table below reads
#    them back from the code this chapter ran.
# 3. **Where the prior enters.** The models never see $\alpha$: it enters through the data, each batch
#    drawing a fresh $\pi$ with rows $\mathrm{Dirichlet}(\alpha\mathbf 1)$. It enters the theory through
#    $G$ and the χ² margin, both averages over $\pi$, and the theorem through its assumption 1. It enters
#    the reference line through the estimator's pseudo-counts $\alpha$, and our prior position through its
#    weight $w = S\alpha$, which we set by hand rather than learn. At $\alpha = 0.1$ many entries of $\pi$
#    are tiny, so this chapter's runs sit outside assumption 1 as we read it.
# 4. **The weight $\varepsilon$ of the uniform law.** At $\varepsilon = 10^{-3}$ the prediction gives a
#    token the sequence never shows probability $\varepsilon/S = 10^{-4}$ exactly (the average of one-hot
#    tokens is 0 there, whatever the parameters), so the loss is
#    $m\log(S/\varepsilon) + R$, with $m$ the label's mass on unseen tokens
#    ({func}`~causal_tutorial.theory.unseen_label_mass`, fixed by the data) and $R$ the loss on the tokens
#    the sequence shows. If $R$ does not depend on $\varepsilon$, each decade of $\varepsilon$ adds
#    $m\ln 10$ nats. And $m$ is what the theorem's assumptions 1 and 2 make small: every token
#    appears in a long sequence when the entries of $\pi$ are bounded below.

# %%
settings = pd.DataFrame({"value": {k: f"{v:g}" for k, v in {
    "β₀ (A2 = β₀ I at the start)": BETA0, "η₁ (stage-1 step size)": ETA1, "τ₁ (stage-1 steps)": TAU1,
    "η₂ (stage-2 step size)": ETA2, "τ₂ (stage-2 steps)": TAU2, "batch size": BATCH,
    "ε (weight of the uniform law)": runs[plain_label][0].eps,
    "w (prior position's weight, Sα)": runs[prior_label][0].prior_weight, "α (the prior of π)": ALPHA}.items()}})
unseen = {}
for j, (a, length) in enumerate(((0.1, 20), (0.1, 100), (1.0, 20), (1.0, 100))):
    batch = SingleParentTask(S, length, chain(length), a, device=cfg.device).sample(4096, cfg.generator(60 + j))
    unseen[(a, length)] = unseen_label_mass(batch.tokens, batch.labels, S).mean().item()
m_test = unseen_label_mass(test.tokens, test.labels, S).mean().item()
print(f"unseen label mass on this chapter's test set (α = {ALPHA}, T = {T}): m = {m_test:.3f}")
print("m by (α, T):", {k: round(v, 4) for k, v in unseen.items()})
settings

# %%
assert (BETA0, ETA1, TAU1, ETA2, TAU2) == (0.1, 1000.0, 100, 100.0, 200)
assert runs[plain_label][0].eps == 1e-3 and runs[prior_label][0].prior_weight == S * ALPHA == 1.0
assert abs(m_test - 0.205) < 0.0005, "the prose quotes m = 0.205"
assert unseen[(0.1, 100)] < unseen[(0.1, 20)] and unseen[(1.0, 100)] < unseen[(1.0, 20)], "m falls as T grows"
assert unseen[(1.0, 20)] < unseen[(0.1, 20)], "and as α grows"
assert unseen[(1.0, 100)] * math.log(S / 1e-3) < 0.01, "at α = 1, T = 100 the ε price is under 0.01 nats"

# %% [markdown]
# On our test set $m = 0.205$: a fifth of the label's mass sits on tokens the sequence never shows, and
# each decade of $\varepsilon$ should cost $0.205\ln 10 \approx 0.47$ nats. Longer sequences and a
# flatter prior shrink $m$: at $\alpha = 1$, $T = 100$ it is below $10^{-3}$, and the price at
# $\varepsilon = 10^{-3}$ below 0.01 nats. We now rerun Algorithm 1 with the same settings at four values
# of $\varepsilon$ (the run at $10^{-3}$ is the one above) and split each final test loss into the two
# parts.

# %% tags=["nbval-ignore-output"]
eps_runs = {1e-3: runs[plain_label][0]}
for e in (1e-1, 1e-2, 1e-4):
    eps_runs[e], _ = algorithm1(chain(T), S, ALPHA, tau1=TAU1, eta1=ETA1, tau2=TAU2, eta2=ETA2, beta0=BETA0,
                                batch_size=BATCH, seed=0, device=cfg.device, eps=e)
by_eps = {}
for e in sorted(eps_runs, reverse=True):
    with torch.no_grad():
        final = eps_runs[e].loss(test.tokens, test.labels).item()
    by_eps[e] = {"log(S/ε)": math.log(S / e), "final test loss": final,
                 "m·log(S/ε) (unseen)": m_test * math.log(S / e), "R (seen tokens)": final - m_test * math.log(S / e)}
by_eps = pd.DataFrame(by_eps).T.rename_axis("ε")
print(by_eps.round(3))
print(f"in-context estimator {est_loss:.3f}; uniform {math.log(S):.3f}; m·ln 10 = {m_test * math.log(10):.3f}")
steps = by_eps["final test loss"].diff().dropna()  # the cost of each decade, ε from 0.1 down to 1e-4
assert by_eps["final test loss"].is_monotonic_increasing, "the smaller ε, the higher the final loss"
assert ((steps - m_test * math.log(10)).abs() < 0.03).all(), "each decade costs about m·ln 10 = 0.47 nats"
assert by_eps["R (seen tokens)"].max() - by_eps["R (seen tokens)"].min() < 0.03, "R does not depend on ε"
assert abs(by_eps["R (seen tokens)"].mean() - 1.32) < 0.05, "R is about 1.32 nats"
assert abs(by_eps.loc[1e-3, "m·log(S/ε) (unseen)"] - 1.89) < 0.005, "1.9 of the 3.2 nats at ε = 1e-3"
assert by_eps.loc[1e-1, "final test loss"] < math.log(S) - 0.02, "at ε = 0.1 it ends below the uniform line"
assert by_eps.loc[1e-1, "final test loss"] - est_loss > 0.4, "yet still well above the estimator"
assert abs(by_eps.loc[1e-1, "final test loss"] - 2.26) < 0.05, "about 2.26 at ε = 0.1"
assert abs(by_eps.loc[1e-4, "final test loss"] - 3.68) < 0.05, "about 3.68 at ε = 1e-4"

# %% [markdown]
# The final loss climbs by about 0.47 nats per decade of $\varepsilon$ (from about 2.26 at
# $\varepsilon = 0.1$ to about 3.68 at $10^{-4}$), as $m\ln 10$ predicts, while $R$, the loss on the tokens
# the sequence shows, stays at about 1.32 nats whatever $\varepsilon$. At our $\varepsilon = 10^{-3}$,
# 1.89 of the 3.2 nats are the price $m\log(S/\varepsilon)$; at $\varepsilon = 0.1$ the same algorithm
# ends below the uniform line. No choice of $\varepsilon$ brings the reconstruction to the estimator,
# though: even at $\varepsilon = 0.1$ it stays about 0.5 nats above, because a fixed floor is not
# the count-dependent smoothing the estimator does. The prior position supplies that smoothing, and
# with it Algorithm 1 ends about 0.01 nats above the estimator. Whether the paper's own model meets
# the same floor we cannot say from here; under the theorem's assumptions $m$ is small, and so is the
# price.

# %% [markdown]
# ## Where it weakens: large α
#
# The argument needs the margin to beat the noise of a batch, and the margin shrinks fast as $\alpha$
# grows (previous section). The paper's results are stated for its own prior; what follows is our
# measurement, beyond its claims. We count the stage-1 steps to lock onto the chain at several
# $\alpha$, with the same batch and step size, within a budget of 150 steps (records every 2 steps).

# %% tags=["nbval-ignore-output"]
by_alpha = {a: steps_to_lock(chain(T), a, 150) for a in (0.1, 1.0, 3.0, 10.0, 30.0)}
by_alpha = pd.DataFrame(by_alpha, index=["lock step", "stays locked", "attention on parent"]).T
by_alpha.rename_axis("α")

# %%
lk = by_alpha["lock step"]
assert lk[0.1] <= 10 and lk[1.0] <= 10, "quick at small α"
assert lk[10.0] >= 5 * lk[0.1], "five times slower or more at α = 10"
assert pd.isna(lk[30.0]) or (lk[30.0] >= 50 and not by_alpha["stays locked"][30.0]), \
    "and at α = 30 no lock within 150 steps, or only a late one that is lost again"
assert by_alpha["attention on parent"][30.0] < 0.3, "layer 1 stays near its uniform start at α = 30"
assert by_alpha["attention on parent"].is_monotonic_decreasing, "the larger α, the less sharp layer 1"

# %% [markdown]
# The lock comes within the first records for $\alpha \le 1$, five or more times later at
# $\alpha = 10$, and at $\alpha = 30$ not at all within the 150 steps (larger batches, as at the
# paper's scale, can give a late lock that is lost again); there, after 150 steps, the attention on the
# parent is below 0.3 (it starts at the uniform $1/(i+1)$). At large $\alpha$ the lock comes later, and
# the larger $\alpha$, the less sharp layer 1 is after the same number of steps:
# the same argument holds, but with a margin so small that the batch noise takes many more steps to
# average out. With the budget and batch fixed, recovery would eventually fail altogether as $\alpha$
# grows further.
#
# ## Summary
#
# - The reduced model keeps two attention layers: layer 1 by position ($A^{(1)}$, $T\times T$), layer
#   2 comparing the query's token with the layer-1 output ($A^{(2)}$, $S\times S$), and it predicts
#   the attended average of tokens.
# - At initialisation, to first order in $\beta_0$ and $\varepsilon$, with $\hat\nu\approx\mu$ and the
#   query uniform, the gradient on $A^{(1)}[i,k]$ is $\beta_0(1-\varepsilon)/(TS(i+1))\,(G[i,k] -
#   c_i)$, with $G[i,p(i)] = 1 + \mathbb E[I_{\chi^2}(s_{p(i)}; s_i)]$; Cauchy–Schwarz and the
#   data-processing inequality make the parent every child row's largest entry.
# - Autograd agrees with the formula's shape on the chain, icl pairs and a random tree, and every child
#   row of both peaks at the parent.
# - The χ² margin shrinks steeply as $\alpha$ grows past about 0.1–0.3 (and is smaller at very small
#   $\alpha$ too); Algorithm 1 recovers each graph within a few
#   steps at $\alpha = 0.1$, and needs more steps at large $\alpha$.
# - The paper's theorem ({prf:ref}`thm-ch5-main`, paraphrased): under its assumptions on the prior,
#   the length $T$, the initialisation and the step sizes, stage 1 puts layer 1 on the graph and stage 2
#   brings the loss close to the in-context estimator's.
# - Stage 2 brings our reconstruction of the reduced model to about the loss of the best hand-built
#   model of its kind. Without a prior position that is far above the in-context estimator's line at
#   our $\varepsilon = 10^{-3}$: it pays $\log(S/\varepsilon)$ on the fifth of the label's mass the
#   sequence never shows, about 0.47 nats more per decade of $\varepsilon$, and a fixed floor cannot
#   smooth as the estimator does. With a prior position of weight $S\alpha$ (our addition) it ends
#   just above the estimator's line.
#
# ## Exercises

# %% [markdown]
# ```{exercise} The information on one edge, by hand
# :label: ex-ch5-edge-chi2
#
# **Difficulty** ★★☆ · **Importance** ★★☆ · **About 20 min**
#
# Take $S = 2$ and $\pi = \begin{pmatrix}1-a & a\\ b & 1-b\end{pmatrix}$ with $a = 0.2$, $b = 0.3$.
# Find its stationary law $\mu$, write the joint law of $(s_p, s_i)$, and compute
# $I_{\chi^2}(s_p; s_i)$ by hand. Check your number with `check_edge_chi2(value, pi, mu)` from
# `causal_tutorial.exercises.theory`. Can you find a closed form in $a$ and $b$?
# ```

# %% nbgrader={"grade": false, "grade_id": "ex-ch5-edge-chi2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["remove-cell", "nbval-skip"]
from causal_tutorial.exercises.theory import check_edge_chi2

### BEGIN SOLUTION
import torch

a, b = 0.2, 0.3
pi = torch.tensor([[1 - a, a], [b, 1 - b]], dtype=torch.float64)
mu = torch.tensor([b, a], dtype=torch.float64) / (a + b)
P = mu[:, None] * pi
value = (P**2 / (mu[:, None] * mu[None, :])).sum() - 1
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex-ch5-edge-chi2-tests", "locked": true, "schema_version": 3, "solution": false, "task": false, "points": 3} tags=["remove-cell", "nbval-skip"]
assert check_edge_chi2(value, pi, mu)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-ch5-edge-chi2-words", "locked": false, "schema_version": 3, "solution": true, "task": false, "points": 1}
# ```{solution} ex-ch5-edge-chi2
# :class: dropdown
#
# $\mu = (b, a)/(a+b) = (0.6, 0.4)$ and $P(s_p = x, s_i = y) = \mu(x)\pi[x,y]$. For two states,
# $I_{\chi^2}$ is the squared correlation of the two indicators, and for a stationary two-state chain
# that correlation is $1 - a - b$: so $I_{\chi^2} = (1 - a - b)^2 = 0.25$.
#
# ~~~python
# import torch
# from causal_tutorial.exercises.theory import check_edge_chi2
# a, b = 0.2, 0.3
# pi = torch.tensor([[1 - a, a], [b, 1 - b]], dtype=torch.float64)
# mu = torch.tensor([b, a], dtype=torch.float64) / (a + b)
# P = mu[:, None] * pi
# value = (P**2 / (mu[:, None] * mu[None, :])).sum() - 1
# check_edge_chi2(value, pi, mu)
# ~~~
# ```

# %% [markdown]
# ```{exercise} The parent wins at every α
# :label: ex-ch5-row-argmax
#
# **Difficulty** ★★★ · **Importance** ★★★ · **About 30 min**
#
# Compute `initial_gradient_formula(random_tree(T, seed=3), S, alpha, 512).mean` for
# $\alpha = 1$ and $\alpha = 10$, and check with `check_row_argmax(G, parents)` from
# `causal_tutorial.exercises.theory` that every child row peaks at its parent over $k < i$. Which
# proposition guarantees it? Then include the diagonal $k = i$ in the comparison: does the parent still
# win, and why does the chapter leave the diagonal out?
# ```

# %% nbgrader={"grade": false, "grade_id": "ex-ch5-row-argmax-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["remove-cell", "nbval-skip"]
from causal_tutorial.exercises.theory import check_row_argmax

### BEGIN SOLUTION
from causal_tutorial.graphs import random_tree
from causal_tutorial.theory import initial_gradient_formula

parents = random_tree(20, seed=3)
for alpha in (1.0, 10.0):
    G = initial_gradient_formula(parents, 10, alpha, 512).mean
    check_row_argmax(G, parents)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex-ch5-row-argmax-tests", "locked": true, "schema_version": 3, "solution": false, "task": false, "points": 5} tags=["remove-cell", "nbval-skip"]
assert check_row_argmax(G, parents)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-ch5-row-argmax-words", "locked": false, "schema_version": 3, "solution": true, "task": false, "points": 1}
# ```{solution} ex-ch5-row-argmax
# :class: dropdown
#
# ~~~python
# from causal_tutorial.exercises.theory import check_row_argmax
# from causal_tutorial.graphs import random_tree
# from causal_tutorial.theory import initial_gradient_formula
# parents = random_tree(20, seed=3)
# for alpha in (1.0, 10.0):
#     G = initial_gradient_formula(parents, 10, alpha, 512).mean
#     check_row_argmax(G, parents)
# ~~~
#
# {prf:ref}`prop-dpi` guarantees $G[i,k]\le G[i,p]$ for every $\pi$, hence on average; the margin is
# small at $\alpha = 10$ but the argmax is still the parent. The diagonal is
# $G[i,i] = \mathbb E[\operatorname{tr}\pi] = 1$, the value of an independent position, so it never beats the parent in the formula; in the model,
# layer 2 also averages the query's own token, which makes the autograd diagonal more negative than
# the formula (see {func}`~causal_tutorial.theory.compare_gradient`), so the diagonal is left out of
# the comparison.
# ```
