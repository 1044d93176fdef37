"""Baselines: every predictor a trained transformer is compared with, and the one loss that scores them.

Chapter 1 ("In-context Markov chains") introduces the single-parent baselines and the true Bayes
predictor, chapter 3 ("The disentangled transformer") the matching-children average and the
read-out floor; the k-parent estimators are those of the paper's multi-parent task (its Fig. 5/7).

Every predictor takes a batch of token sequences ``tokens (n, T)`` (position ``T-1`` is the query
``q``) and returns probability vectors ``(n, S)`` (float32) for the token that follows the query.
All are batched: Python loops run over positions or chunks of sequences, never over sequences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .checks import check_alpha, check_tokens, check_vocab, generator_or_default
from .graphs import edges, validate_parent_lists, validate_parents
from .priors import (
    SamplerSettings,
    dirichlet_posterior_mean,
    gth_back_substitute,
    gth_eliminate_,
    gth_reduce_first_rows_,
    normalise_rows_,
    sample_gamma,
)

__all__ = [
    "mean_and_se",
    "soft_cross_entropy",
    "soft_cross_entropy_from_logits",
    "uniform_predictor",
    "unigram_predictor",
    "transition_counts",
    "in_context_estimator",
    "matching_children_average",
    "readout_floor",
    "k_parent_estimator",
    "one_parent_estimator",
    "bayes_predictor",
    "bayes_loss_curve",
    "baseline_losses",
]


# --- the loss ------------------------------------------------------------------------------------
def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "none":
        return x
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def soft_cross_entropy(probs: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The loss that scores every predictor: ``-Σ_s y_s log f_s`` (chapter 1, "In-context Markov chains").

    ``probs`` ``(n, S)`` is clamped at 1e-30 before the log, so a zero probability where the label is
    also zero costs nothing instead of ``0·(-inf)``. ``reduction="mean"`` gives a 0-d tensor,
    ``"none"`` the per-sequence losses ``(n,)``.
    """
    return _reduce(-(labels * probs.clamp_min(1e-30).log()).sum(-1), reduction)


def soft_cross_entropy_from_logits(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The same loss for a model that outputs logits, ``f = softmax(logits)``, via ``log_softmax`` (chapter 1)."""
    return _reduce(-(labels * torch.log_softmax(logits, dim=-1)).sum(-1), reduction)


def mean_and_se(per: torch.Tensor) -> tuple[float, float]:
    """The mean of per-sequence values (losses, or paired differences of losses) and its standard
    error ``std / √n`` (chapter 1): how every loss in the book is reported. ``nan`` for one value."""
    per = per.double().reshape(-1)
    se = float(per.std() / math.sqrt(per.numel())) if per.numel() > 1 else float("nan")
    return float(per.mean()), se


def _edge_index(parents: Sequence[int], device, count_roots: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`causal_tutorial.graphs.edges` as index tensors on ``device``."""
    kids, par = edges(parents, count_roots)
    return (torch.tensor(kids, dtype=torch.long, device=device), torch.tensor(par, dtype=torch.long, device=device))


# --- simple baselines ------------------------------------------------------------------------------
def uniform_predictor(tokens: torch.Tensor, S: int) -> torch.Tensor:
    """The uniform law ``1/S``; its loss is ``log S`` on any labels (chapter 1, "In-context Markov chains")."""
    S = check_vocab(S)
    return torch.full((tokens.shape[0], S), 1.0 / S, dtype=torch.float32, device=tokens.device)


def unigram_predictor(tokens: torch.Tensor, S: int, alpha: float) -> torch.Tensor:
    """In-context token frequencies over all ``T`` tokens, add-``α`` smoothed: ``(count + α)/(T + Sα)``.

    Chapter 1 ("In-context Markov chains"): what a model that ignores the query predicts.
    """
    S, alpha = check_vocab(S), check_alpha(alpha)
    tokens = check_tokens(tokens, S)
    return dirichlet_posterior_mean(F.one_hot(tokens, S).sum(1).double(), alpha)


def transition_counts(tokens: torch.Tensor, parents: Sequence[int], S: int) -> torch.Tensor:
    """Transition counts ``N (n, S, S)``: ``N[b, a, c]`` positions of sequence ``b`` hold ``c``, their parent ``a``.

    Only positions ``i ≤ T-2`` with a parent count; roots and the query do not. These are the
    sufficient statistics of the transitions (chapter 1, "In-context Markov chains").
    """
    S = check_vocab(S)
    tokens = check_tokens(tokens, S)
    parents = validate_parents(parents, tokens.shape[1])
    kids, par = _edge_index(parents, tokens.device)
    n = tokens.shape[0]
    N = torch.zeros(n, S * S, dtype=torch.float32, device=tokens.device)
    idx = tokens[:, par] * S + tokens[:, kids]  # (n, K)
    N.scatter_add_(1, idx, torch.ones(idx.shape, dtype=N.dtype, device=N.device))
    return N.view(n, S, S)


def in_context_estimator(
    tokens: torch.Tensor, parents: Sequence[int], S: int, alpha: float, count_roots: bool = False
) -> torch.Tensor:
    """The in-context estimator, the paper's "Bayes" line (chapter 1, "In-context Markov chains").

    ``f(s') = (N(q → s') + α) / (N(q → ·) + Sα)``, where ``q = s_{T-1}`` and ``N(q → s')`` counts
    the positions ``i ≤ T-2`` that have a parent holding ``q`` and hold ``s'``. Roots are not
    counted. It is the posterior mean of ``π[q]`` given the transitions alone; it ignores what the
    roots (drawn from ``μ_π``) say about ``π``, so it is *not* the Bayes-optimal predictor when
    there are roots (see :func:`bayes_predictor`).

    ``count_roots=True`` reproduces the slip of the paper's research code: it strips the query off
    the sequence and then indexes the rest with the parent array, so a root's parent index ``-1``
    reads the last remaining token ``s_{T-2}``. Each root thus counts as a child of ``q`` whenever
    ``s_{T-2} = q``. Chapter 1 measures what the slip costs on the chain (with its test-set size
    and paired standard error).
    """
    S, alpha = check_vocab(S), check_alpha(alpha)
    tokens = check_tokens(tokens, S)
    parents = validate_parents(parents, tokens.shape[1])
    kids, par = _edge_index(parents, tokens.device, count_roots)
    match = (tokens[:, par] == tokens[:, -1:]).double()  # (n, K): the parent holds the query token
    counts = torch.einsum("nk,nks->ns", match, F.one_hot(tokens[:, kids], S).double())
    return dirichlet_posterior_mean(counts, alpha)


# --- the hand-built circuit (chapter 3) -------------------------------------------------------------
def matching_children_average(
    tokens: torch.Tensor, parents: Sequence[int], S: int, no_match: str = "zero"
) -> tuple[torch.Tensor, torch.Tensor]:
    """What a perfect induction head attends to (chapter 3, "The disentangled transformer").

    ``v (n, S)``: the average one-hot token of the *matching children*, the positions ``i ≤ T-2``
    with a parent whose token equals the query ``q``. When no child matches, ``v = 0`` by default
    (``no_match="zero"``: a uniform read-out, like the estimator's), which isolates the read-out's
    own cost; ``no_match="all"`` gives the average over **all** children instead, which is what
    the hand-built head (roots masked out, every child scored alike) actually attends to.
    (``v = 0`` if the graph has no children at all.) Also returns ``counts (n,)``, the number of
    matching children; wherever ``counts > 0``, ``(counts·v + α)/(counts + Sα)`` is exactly the
    in-context estimator: the circuit cannot do that smoothing, its read-out is ``softmax(c·v)``.
    """
    S = check_vocab(S)
    if no_match not in ("all", "zero"):
        raise ValueError(f"no_match must be 'all' or 'zero', got {no_match!r}")
    tokens = check_tokens(tokens, S)
    parents = validate_parents(parents, tokens.shape[1])
    kids, par = _edge_index(parents, tokens.device)
    n = tokens.shape[0]
    if kids.numel() == 0:
        return torch.zeros(n, S, device=tokens.device), torch.zeros(n, device=tokens.device)
    onehot = F.one_hot(tokens[:, kids], S).float()  # (n, K, S)
    match = (tokens[:, par] == tokens[:, -1:]).float()  # (n, K)
    counts = match.sum(1)
    fallback = torch.ones_like(match) if no_match == "all" else torch.zeros_like(match)
    weights = torch.where(counts[:, None] > 0, match, fallback)
    v = torch.einsum("nk,nks->ns", weights, onehot) / weights.sum(1, keepdim=True).clamp_min(1)
    return v, counts


def readout_floor(
    tokens: torch.Tensor,
    labels: torch.Tensor,
    parents: Sequence[int],
    S: int,
    no_match: str = "zero",
    tol: float = 1e-6,
    max_iter: int = 100,
) -> tuple[float, float]:
    """The read-out floor ``min_c`` mean loss of ``softmax(c·v)`` (chapter 3, "The disentangled transformer").

    ``v`` is the matching-children average (:func:`matching_children_average`, with its
    ``no_match`` rule): the exact output of a perfect induction head, which its read-out turns into
    ``softmax(c·v)``. That prediction does not depend on how many children matched, while the
    estimator grows more confident with every match, so even the perfect circuit sits above the
    estimator line. Chapter 3 measures the gap on the chain at ``S=10, T=20, α=0.1`` on the
    sequences with a match, chapter 4 on all of them (with the default ``no_match="zero"``, uniform
    where nothing matches; ``"all"`` also pays for the sequences in which nothing matches).

    The mean loss is convex in the scalar ``c`` (a log-sum-exp minus a linear term): a safeguarded
    Newton method in float64 (bisection whenever a step leaves the bracket) finds the minimiser to
    ``tol`` in ``c``. Returns ``(loss, c)`` as floats.
    """
    v, _ = matching_children_average(tokens, parents, S, no_match)
    v, y = v.double(), labels.to(v.device).double()
    ysum, yv = y.sum(-1), (y * v).sum(-1)

    def grad_hess(c: float) -> tuple[float, float]:
        p = torch.softmax(c * v, -1)
        m1 = (p * v).sum(-1)
        var = (p * v * v).sum(-1) - m1**2
        return float((ysum * m1 - yv).mean()), float((ysum * var).mean())

    # Bracket the root of the (non-decreasing) derivative, growing outwards from c = 0.
    g0, _ = grad_hess(0.0)
    direction = -1.0 if g0 > 0 else 1.0
    lo, hi, step = 0.0, 0.0, 1.0
    while True:
        hi = direction * step
        if (grad_hess(hi)[0] > 0) == (direction > 0) or step > 1e6:
            break
        lo, step = hi, step * 2
    lo, hi = min(lo, hi), max(lo, hi)
    c = 0.5 * (lo + hi)
    for _ in range(max_iter):
        g, h = grad_hess(c)
        if g > 0:
            hi = c
        else:
            lo = c
        new = c - g / h if h > 0 else 0.5 * (lo + hi)
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        done = abs(new - c) < tol
        c = new
        if done or hi - lo < tol:
            break
    loss = float(soft_cross_entropy_from_logits(c * v, y))
    return loss, float(c)


# --- several parents (the paper's Fig. 5/7) -------------------------------------------------------------------
def k_parent_estimator(
    tokens: torch.Tensor, parent_lists: Sequence[Sequence[int]], S: int, alpha: float
) -> torch.Tensor:
    """The conditional k-gram estimator of the multi-parent task (the paper's Fig. 5/7).

    The target (position ``T``) has parents ``(p_1 … p_k)``. Count the positions ``i ≤ T-1`` with
    exactly ``k`` parents whose tokens equal, in order, the target's parent tokens
    ``(s_{p_1(T)} … s_{p_k(T)})``, and predict ``(N(· → s') + α)/(N + Sα)``. All positions with
    ``k`` parents share one table ``π_k``, whose rows have a Dirichlet prior, and roots are
    uniform (they say nothing about ``π_k``): the posterior of the target's row is conjugate, and
    this estimator **is** the Bayes-optimal predictor ``E[π_k[row] | s_0 … s_{T-1}]``.
    """
    S, alpha = check_vocab(S), check_alpha(alpha)
    tokens = check_tokens(tokens, S)
    T = tokens.shape[1]
    lists = validate_parent_lists(parent_lists, T)
    target = lists[T]
    k = len(target)
    pos = [i for i in range(T) if len(lists[i]) == k]
    n = tokens.shape[0]
    if not pos:
        return uniform_predictor(tokens, S)
    par = torch.tensor([lists[i] for i in pos], dtype=torch.long, device=tokens.device)  # (P, k)
    tpar = torch.tensor(target, dtype=torch.long, device=tokens.device)  # (k,)
    match = (tokens[:, par] == tokens[:, tpar].view(n, 1, k)).all(-1).double()  # (n, P)
    counts = torch.einsum("np,nps->ns", match, F.one_hot(tokens[:, pos], S).double())
    return dirichlet_posterior_mean(counts, alpha)


def one_parent_estimator(tokens: torch.Tensor, S: int, alpha: float, first_child: int = 2) -> torch.Tensor:
    """The one-parent baseline of the multi-parent task (the paper's Fig. 5/7).

    It pretends every position's only parent is the one before it (the target's is ``T-1``) and
    counts the transitions ``s_{i-1} → s_i`` with ``s_{i-1} = s_{T-1}``, for the children
    ``i = first_child … T-1``: the bigram in-context estimator. The default 2 counts, like the
    research code, only the positions that have parents in the DAG (positions 0 and 1 are its roots,
    so ``s_0 → s_1`` is not a transition of the one-parent graph); ``first_child=1`` counts it too.
    """
    S, alpha = check_vocab(S), check_alpha(alpha)
    tokens = check_tokens(tokens, S)
    T = tokens.shape[1]
    if isinstance(first_child, bool) or not isinstance(first_child, int) or not 1 <= first_child <= T - 1:
        raise ValueError(f"first_child must be an int in 1 … T-1 = {T - 1}, got first_child={first_child!r}")
    match = (tokens[:, first_child - 1 : T - 1] == tokens[:, -1:]).double()  # parents i-1 of i = first_child … T-1
    counts = torch.einsum("nk,nks->ns", match, F.one_hot(tokens[:, first_child:], S).double())
    return dirichlet_posterior_mean(counts, alpha)


# --- the true Bayes-optimal predictor (chapter 1) --------------------------------------------------
#: The Bayes predictor's gamma variates: float64, one NumPy stream on the CPU (its own random stream).
_BAYES_GAMMA = SamplerSettings(gamma_streams=1)


def _dirichlet(conc: torch.Tensor, size: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Float64 rows ``Dirichlet(conc)`` (last axis) of shape ``size``, ``conc`` broadcast to it: one
    gamma stream (:func:`causal_tutorial.priors.sample_gamma`), then :func:`~causal_tutorial.priors.normalise_rows_`."""
    G = sample_gamma(conc, size, generator, conc.device, dtype=torch.float64, settings=_BAYES_GAMMA)
    return normalise_rows_(G, dim=-1)


def bayes_predictor(
    tokens: torch.Tensor,
    parents: Sequence[int],
    S: int,
    alpha: float,
    n_draws: int = 256,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
    row_draws: int = 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The true Bayes-optimal predictor ``E[π[q] | s_0 … s_{T-1}]`` (chapter 1, "In-context Markov chains").

    The likelihood of a sequence is ``Π_roots μ_π(s_r) · Π_children π[s_{p(i)}, s_i]``. The second
    factor is conjugate to the Dirichlet prior, the first (through the stationary law ``μ_π``) is
    not. Self-normalised importance sampling: draw ``π`` from the conjugate posterior (row ``a``
    ~ ``Dirichlet(α + N[a, :])``, :func:`transition_counts`), weight it by the roots' likelihood
    ``w = Π_r μ_π(s_r)`` (in log space; ``μ`` by GTH elimination, as in
    :func:`causal_tutorial.priors.stationary_distribution`), and return ``Σ w π[q] / Σ w``.

    The draws are structured to beat the noise: each of the ``n_draws`` draws of the whole matrix
    is paired with ``row_draws`` fresh draws of the query row ``π[q]`` (all from the same conjugate
    proposal, so the estimate is the plain self-normalised one over ``n_draws × row_draws`` pairs).
    A new query row only costs ``O(S²)`` (it enters the elimination linearly), and the query row
    is where the noise is: with ``α = 0.1`` a single draw of it is nearly one-hot, and the
    log-loss of a noisy average is biased upwards. ``row_draws=1`` is the textbook estimator.
    Check convergence with :func:`bayes_loss_curve`. At ``S=10, T=20, α=0.1`` the defaults cost
    about 4 ms of one CPU core per sequence; they are converged to within 0.002 nats on the chain
    and random trees, while icl pairs (10 roots) gain another 0.005–0.01 nats up to
    ``n_draws=1024, row_draws=64`` (and no more beyond).

    Returns ``(probs (n, S), ess (n,))``, with the effective sample size ``(Σ W)² / Σ W²`` of the
    ``n_draws`` whole-matrix weights ``W_k`` (each summed over its query rows), so ``1 ≤ ess ≤
    n_draws``. Sequences are processed in chunks of ``chunk_size`` (default: about 4·10⁶ numbers
    per array, a few hundred MB of working memory); the result is deterministic given the
    generator and the chunk size.
    """
    S, alpha = check_vocab(S), check_alpha(alpha)
    tokens = check_tokens(tokens, S)
    parents = validate_parents(parents, tokens.shape[1])
    for name, value in (("n_draws", n_draws), ("row_draws", row_draws)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    dev = tokens.device
    g = generator_or_default(generator, dev)
    n, K, J = tokens.shape[0], n_draws, row_draws
    if chunk_size is None:
        chunk_size = max(1, 4_000_000 // (K * (S * S + J * S)))
    roots = [i for i, p in enumerate(parents) if p < 0]
    N = transition_counts(tokens, parents, S).double()  # (n, S, S)
    ar = torch.arange(S - 1, device=dev)
    # The outputs are allocated once: small tensors kept from every chunk would sit between the
    # chunks' large freed blocks and fragment the heap (measured: resident memory grew to > 8 GB
    # over the 2^16 sequences of a paper-scale test set).
    probs = torch.empty(n, S, dtype=torch.float32, device=dev)
    ess = torch.empty(n, dtype=torch.float32, device=dev)
    for lo in range(0, n, chunk_size):
        hi = min(n, lo + chunk_size)
        m = hi - lo
        q = tokens[lo:hi, -1]
        # Relabel the tokens so that q is state 0: perm[b, i] = original token at new index i.
        perm = torch.cat([q[:, None], ar + (ar >= q[:, None]).long()], 1)  # (m, S)
        Np = torch.gather(
            torch.gather(N[lo:hi], 1, perm[:, :, None].expand(m, S, S)), 2, perm[:, None, :].expand(m, S, S)
        )
        conc = Np + alpha  # (m, S, S); row 0 is the query row
        # GTH, batch last: eliminate each drawn matrix once, then swap in each candidate query row.
        A = gth_eliminate_(
            _dirichlet(conc[:, None], (m, K, S, S), g).permute(2, 3, 0, 1).contiguous(), first_row=False
        )  # (S, S, m, K)
        r = _dirichlet(conc[:, None, None, 0], (m, K, J, S), g)  # (m, K, J, S): query rows, relabelled
        u = gth_back_substitute(A, gth_reduce_first_rows_(A, r.permute(3, 0, 1, 2).clone()))  # (S, m, K, J)
        u = u.permute(1, 2, 3, 0)  # (m, K, J, S)
        log_mu = u.clamp_min(1e-300).log() - u.sum(-1, keepdim=True).log()
        rt = tokens[lo:hi, roots]  # (m, R) root tokens, relabelled below
        rt = torch.where(rt == q[:, None], 0, rt + (rt < q[:, None]).long())
        logw = torch.gather(log_mu, 3, rt[:, None, None, :].expand(m, K, J, len(roots))).sum(-1)
        w = torch.softmax(logw.reshape(m, K * J), 1).view(m, K, J)
        f = (w.unsqueeze(-1) * r).sum((1, 2))  # (m, S), relabelled
        probs[lo:hi].scatter_(1, perm, f.float())
        ess[lo:hi] = 1.0 / (w.sum(2) ** 2).sum(1)
    return probs, ess


def bayes_loss_curve(
    tokens: torch.Tensor,
    labels: torch.Tensor,
    parents: Sequence[int],
    S: int,
    alpha: float,
    draws: Sequence[int] = (16, 64, 256, 1024),
    generator: torch.Generator | None = None,
    row_draws: int = 16,
) -> dict[int, tuple[float, float]]:
    """The Bayes predictor's loss against the number of importance draws: ``{K: (mean, standard error)}``.

    Chapter 1 ("In-context Markov chains"), single-parent task. The plug-in ``log`` of a noisy
    weighted average is biased upwards (by about ``Σ_s y_s Var(f_s) / (2 f_s²)``, which shrinks like
    ``1/K``), so the curve falls and flattens as ``K`` (``n_draws``, each with ``row_draws`` query
    rows) grows; its plateau is the Bayes floor. The standard error is that of the mean over
    sequences; the draws for successive ``K`` continue the same generator.
    """
    g = generator_or_default(generator, tokens.device)
    out: dict[int, tuple[float, float]] = {}
    for K in draws:
        f, _ = bayes_predictor(tokens, parents, S, alpha, n_draws=int(K), generator=g, row_draws=row_draws)
        out[int(K)] = mean_and_se(soft_cross_entropy(f, labels, reduction="none"))
    return out


# --- every baseline at once -------------------------------------------------------------------------
def baseline_losses(
    task,
    tokens: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator | None = None,
    bayes_draws: int = 256,
    bayes_row_draws: int = 16,
) -> dict[str, float]:
    """The loss of every baseline on one test set, with standard errors under ``<name>_se`` (chapters 1, 3).

    Single-parent tasks (``task.kind == "single"``): ``uniform``, ``unigram``, ``estimator``,
    ``estimator_roots_counted`` (the research code's slip), ``bayes`` (``bayes_draws`` importance
    draws of ``π``, each with ``bayes_row_draws`` query rows; ``bayes_ess`` is the mean effective
    sample size), ``readout_floor`` (``readout_c`` is its
    scale, fitted on this set). Multi-parent tasks (``"multi"``): ``uniform``, ``unigram``,
    ``estimator`` (k-parent), ``one_parent`` and ``bayes``, which *is* the k-parent estimator
    (conjugate posterior). Standard errors are ``std / √n`` of the per-sequence losses.
    """
    S, alpha = task.S, task.alpha
    preds: dict[str, torch.Tensor] = {
        "uniform": uniform_predictor(tokens, S),
        "unigram": unigram_predictor(tokens, S, alpha),
    }
    extra: dict[str, float] = {}
    if task.kind == "single":
        preds["estimator"] = in_context_estimator(tokens, task.parents, S, alpha)
        preds["estimator_roots_counted"] = in_context_estimator(tokens, task.parents, S, alpha, count_roots=True)
        preds["bayes"], ess = bayes_predictor(
            tokens, task.parents, S, alpha, n_draws=bayes_draws, generator=generator, row_draws=bayes_row_draws
        )
        extra["bayes_ess"] = float(ess.mean())
        _, c = readout_floor(tokens, labels, task.parents, S)
        v, _ = matching_children_average(tokens, task.parents, S)
        preds["readout_floor"] = torch.softmax(c * v.double(), -1).float()
        extra["readout_c"] = c
    elif task.kind == "multi":
        preds["estimator"] = k_parent_estimator(tokens, task.parent_lists, S, alpha)
        preds["one_parent"] = one_parent_estimator(tokens, S, alpha)
        preds["bayes"] = preds["estimator"]
    else:
        raise ValueError(f"task.kind must be 'single' or 'multi', got {task.kind!r}")
    out: dict[str, float] = {}
    for name, f in preds.items():
        out[name], out[f"{name}_se"] = mean_and_se(soft_cross_entropy(f, labels, reduction="none"))
    out.update(extra)
    return out
