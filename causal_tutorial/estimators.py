"""Baselines: every predictor a trained transformer is compared with, and the one loss that scores them.

Chapter 1 (``book/01_markov_chains``) introduces the single-parent baselines and the true Bayes
predictor, chapter 2 the general in-context estimator, chapter 3 the matching-children average and
the read-out floor, chapter 7 the k-parent estimators.

Every predictor takes a batch of token sequences ``tokens (n, T)`` and returns probability
vectors ``(n, S)`` for the token that follows the query ``s_{T-1}``. All are batched: the Python
loops run over positions or chunks, never over sequences.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .graphs import validate_parent_lists, validate_parents
from .tasks import stationary_distribution

__all__ = [
    "soft_cross_entropy",
    "soft_cross_entropy_from_logits",
    "uniform_predictor",
    "unigram_predictor",
    "transition_counts",
    "in_context_estimator",
    "roots_counted_loss",
    "matching_children_average",
    "readout_floor",
    "k_parent_estimator",
    "one_parent_estimator",
    "bayes_predictor",
    "bayes_loss_curve",
    "baseline_losses",
]


# --- the loss --------------------------------------------------------------------------------
def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "none":
        return x
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def soft_cross_entropy(probs: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``-Σ_s y_s log f_s``: the loss that scores any predictor against soft labels (chapter 1).

    ``probs`` is clamped at 1e-30 so that a zero where the label is also zero costs nothing.
    """
    return _reduce(-(labels * probs.clamp_min(1e-30).log()).sum(-1), reduction)


def soft_cross_entropy_from_logits(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The same loss for a model that outputs logits (``f = softmax(logits)``), via ``log_softmax``."""
    return _reduce(-(labels * torch.log_softmax(logits, dim=-1)).sum(-1), reduction)


# --- simple baselines --------------------------------------------------------------------------
def uniform_predictor(tokens: torch.Tensor, S: int) -> torch.Tensor:
    """The uniform law: loss ``log S`` on any labels (chapter 1)."""
    return torch.full((tokens.shape[0], S), 1.0 / S, device=tokens.device)


def unigram_predictor(tokens: torch.Tensor, S: int, alpha: float) -> torch.Tensor:
    """In-context token frequencies over all ``T`` tokens, add-``α`` smoothed (chapter 1)."""
    counts = F.one_hot(tokens, S).sum(1).float()
    return (counts + alpha) / (tokens.shape[1] + S * alpha)


def _children(parents: Sequence[int], device) -> tuple[torch.Tensor, torch.Tensor]:
    kids = [i for i, p in enumerate(parents) if p >= 0]
    return (torch.tensor(kids, dtype=torch.long, device=device),
            torch.tensor([parents[i] for i in kids], dtype=torch.long, device=device))


def transition_counts(tokens: torch.Tensor, parents: Sequence[int], S: int) -> torch.Tensor:
    """``N[b, a, c]``: how often parent token ``a`` is followed by child token ``c`` in sequence ``b``.

    Only positions ``i ≤ T-2`` with a parent count; roots do not (chapter 1).
    """
    parents = validate_parents(parents, tokens.shape[1])
    kids, par = _children(parents, tokens.device)
    n = tokens.shape[0]
    idx = tokens[:, par] * S + tokens[:, kids]  # (n, K)
    N = torch.zeros(n, S * S, device=tokens.device)
    N.scatter_add_(1, idx, torch.ones_like(idx, dtype=N.dtype))
    return N.view(n, S, S)


def in_context_estimator(tokens: torch.Tensor, parents: Sequence[int], S: int, alpha: float,
                         count_roots: bool = False, target: torch.Tensor | None = None) -> torch.Tensor:
    """The in-context estimator (the paper's "Bayes" line; chapters 1 and 2).

    ``f(s') = (N(q → s') + α) / (N(q → ·) + Sα)`` where ``q = s_{T-1}`` and ``N`` counts the
    children whose parent token is ``q``. Roots are not counted.

    ``count_roots=True`` reproduces the research code's slip: its sequence array ends with the
    target token ``s_T``, so a root's parent index ``-1`` reads ``s_T``, and every root counts as a
    child of ``q`` exactly when ``s_T = q``. Pass the ``target`` tokens ``(n,)`` for that variant
    (:func:`roots_counted_loss` takes the expectation over the target instead).
    """
    parents = validate_parents(parents, tokens.shape[1])
    kids, par = _children(parents, tokens.device)
    q = tokens[:, -1:]
    match = (tokens[:, par] == q).float()  # (n, K)
    counts = torch.einsum("nk,nks->ns", match, F.one_hot(tokens[:, kids], S).float())
    total = match.sum(1, keepdim=True)
    if count_roots:
        if target is None:
            raise ValueError("count_roots=True needs the target tokens (n,): a root's parent index -1 reads s_T")
        roots = [i for i, p in enumerate(parents) if p < 0]
        if roots:
            hit = (target == tokens[:, -1]).float()[:, None]  # (n, 1): the root reads s_T; it counts if s_T = q
            root_counts = F.one_hot(tokens[:, roots], S).float().sum(1)  # (n, S)
            counts = counts + hit * root_counts
            total = total + hit * len(roots)
    return (counts + alpha) / (total + S * alpha)


def roots_counted_loss(tokens: torch.Tensor, labels: torch.Tensor, parents: Sequence[int], S: int, alpha: float,
                       reduction: str = "mean") -> torch.Tensor:
    """Loss of the research code's root-counting estimator, in expectation over the target ``s_T ~ y`` (chapter 1).

    The slip changes the prediction only when ``s_T = q``, which happens with probability ``y_q``.
    """
    n = tokens.shape[0]
    q = tokens[:, -1]
    with_roots = in_context_estimator(tokens, parents, S, alpha, count_roots=True, target=q)
    without = in_context_estimator(tokens, parents, S, alpha)
    yq = labels[torch.arange(n, device=labels.device), q]
    per = yq * soft_cross_entropy(with_roots, labels, "none") + (1 - yq) * soft_cross_entropy(without, labels, "none")
    return _reduce(per, reduction)


def matching_children_average(tokens: torch.Tensor, parents: Sequence[int], S: int):
    """``v``: the average one-hot token of the children whose parent token equals the query (chapter 3).

    ``v`` is the zero vector when no child matches (so ``softmax(c·v)`` is uniform there, like the
    estimator). Returns ``(v (n, S), counts (n,))`` with ``counts`` the number of matching
    children, so that ``(counts·v + α)/(counts + Sα)`` is exactly the in-context estimator.
    """
    parents = validate_parents(parents, tokens.shape[1])
    kids, par = _children(parents, tokens.device)
    match = (tokens[:, par] == tokens[:, -1:]).float()
    counts = match.sum(1)
    v = torch.einsum("nk,nks->ns", match, F.one_hot(tokens[:, kids], S).float()) / counts.clamp_min(1)[:, None]
    return v, counts


def readout_floor(tokens: torch.Tensor, labels: torch.Tensor, parents: Sequence[int], S: int,
                  tol: float = 1e-7, max_iter: int = 100) -> tuple[float, float]:
    """The read-out floor: ``min_c`` of the mean loss of ``softmax(c·v)`` (chapter 3).

    ``v`` is the matching-children average (zero when nothing matches): what a perfect induction
    head feeds its softmax read-out. Because ``softmax(c·v)`` ignores how many children matched
    while the estimator grows more confident with every match, even the perfect circuit sits above
    the estimator line; a trained model with finite attention can beat this floor slightly. The loss is convex in ``c``; Newton's method (in float64) finds the minimum.
    Returns ``(loss, c)``.
    """
    v, _ = matching_children_average(tokens, parents, S)
    v, y = v.double(), labels.double()
    ybar = (y * v).sum(-1)  # the linear term of the loss: -c Σ y v

    def stats(c):
        p = torch.softmax(c * v, -1)
        m1 = (p * v).sum(-1)
        return p, m1, (p * v * v).sum(-1) - m1**2

    c = 1.0
    for _ in range(max_iter):
        _, m1, var = stats(c)
        grad = float((m1 - ybar).mean())
        hess = float(var.mean())
        step = grad / max(hess, 1e-12)
        c_new = max(c - step, 0.0) if c - step > -50 else c / 2
        if abs(c_new - c) < tol:
            c = c_new
            break
        c = c_new
    loss = float(soft_cross_entropy_from_logits(c * v, y))
    return loss, float(c)


# --- several parents (chapter 7) ---------------------------------------------------------------
def k_parent_estimator(tokens: torch.Tensor, parent_lists: Sequence[Sequence[int]], S: int, alpha: float) -> torch.Tensor:
    """The conditional k-gram estimator for the multi-parent task (chapter 7).

    The target (position ``T``) has parents ``p_1 … p_k``; count the positions ``i ≤ T-1`` with
    exactly ``k`` parents whose parent tokens equal the target's, and smooth with ``α``. Roots are
    uniform in this task, so the posterior is conjugate and this *is* the Bayes-optimal predictor.
    """
    T = tokens.shape[1]
    lists = validate_parent_lists(parent_lists, T)
    target = lists[T]
    k = len(target)
    pos = [i for i in range(T) if len(lists[i]) == k]
    n = tokens.shape[0]
    if not pos:
        return torch.full((n, S), 1.0 / S, device=tokens.device)
    par = torch.tensor([lists[i] for i in pos], device=tokens.device)  # (P, k)
    tpar = torch.tensor(target, device=tokens.device)  # (k,)
    match = (tokens[:, par] == tokens[:, tpar].unsqueeze(1)).all(-1).float()  # (n, P)
    counts = torch.einsum("np,nps->ns", match, F.one_hot(tokens[:, pos], S).float())
    return (counts + alpha) / (match.sum(1, keepdim=True) + S * alpha)


def one_parent_estimator(tokens: torch.Tensor, S: int, alpha: float) -> torch.Tensor:
    """The one-parent baseline of the multi-parent task: the bigram estimator on parent ``i-1`` alone (chapter 7)."""
    q = tokens[:, -1:]
    match = (tokens[:, :-1] == q).float()  # positions i-1 = 0 … T-2, children i = 1 … T-1
    counts = torch.einsum("nk,nks->ns", match, F.one_hot(tokens[:, 1:], S).float())
    return (counts + alpha) / (match.sum(1, keepdim=True) + S * alpha)


# --- the true Bayes-optimal predictor (chapter 1) ----------------------------------------------
def bayes_predictor(tokens: torch.Tensor, parents: Sequence[int], S: int, alpha: float, n_draws: int = 256,
                    generator: torch.Generator | None = None, chunk_size: int | None = None):
    """The posterior mean ``E[π[q] | s_0 … s_{T-1}]`` by self-normalised importance sampling (chapter 1).

    Proposal: the conjugate posterior, each row ``a`` of ``π`` drawn ``Dirichlet(α + N[a, :])``
    (the transitions' likelihood). Weight: the roots' likelihood ``Π_r μ_π(s_r)``, which the
    conjugate part leaves out (computed in log space). The exactly known conjugate posterior mean
    serves as a control variate, which removes most of the Monte-Carlo noise. Returns ``(probs (n, S), ess (n,))`` with
    the effective sample size ``(Σw)² / Σw²`` of each sequence. Without roots the weights are
    constant and the answer is the in-context estimator, up to Monte-Carlo error.
    """
    parents = validate_parents(parents, tokens.shape[1])
    if n_draws < 1:
        raise ValueError(f"n_draws must be a positive int, got {n_draws}")
    g = generator if generator is not None else torch.Generator(device=tokens.device).manual_seed(0)
    n, T = tokens.shape
    roots = torch.tensor([i for i, p in enumerate(parents) if p < 0], dtype=torch.long, device=tokens.device)
    N = transition_counts(tokens, parents, S)  # (n, S, S)
    if chunk_size is None:
        chunk_size = max(1, 2_000_000 // (n_draws * S * S))
    probs, ess = [], []
    for lo in range(0, n, chunk_size):
        hi = min(n, lo + chunk_size)
        m = hi - lo
        conc = (N[lo:hi] + alpha).unsqueeze(1).expand(m, n_draws, S, S).double()
        gam = torch._standard_gamma(conc, generator=g) if conc.device.type != "cpu" else _cpu_gamma(conc, g)
        pi = gam / gam.sum(-1, keepdim=True).clamp_min(1e-300)  # (m, K, S, S)
        q = tokens[lo:hi, -1]
        rows = pi[torch.arange(m, device=pi.device), :, q]  # (m, K, S)
        if len(roots):
            mu = stationary_distribution(pi)  # (m, K, S)
            rt = tokens[lo:hi, roots]  # (m, R)
            logw = torch.gather(mu, 2, rt.unsqueeze(1).expand(m, n_draws, len(roots))).clamp_min(1e-300).log().sum(-1)
            w = torch.softmax(logw, dim=1)  # (m, K), normalised weights
        else:
            w = torch.full((m, n_draws), 1.0 / n_draws, dtype=pi.dtype, device=pi.device)
        # Control variate: the conjugate posterior mean m of row q is known exactly, and the plain
        # average of the draws estimates it; subtracting that error removes most of the noise
        # (with constant weights the answer is exactly m, the in-context estimator).
        Nq = N[lo:hi][torch.arange(m, device=N.device), q].double()  # (m, S)
        mean_q = (Nq + alpha) / (Nq.sum(-1, keepdim=True) + S * alpha)
        f = mean_q + ((w - 1.0 / n_draws).unsqueeze(-1) * rows).sum(1)
        f = torch.maximum(f, 1e-3 * mean_q)  # a rare negative correction is clipped, then renormalised
        probs.append((f / f.sum(-1, keepdim=True)).float())
        ess.append((1.0 / (w**2).sum(1)).float())
    return torch.cat(probs), torch.cat(ess)


def _cpu_gamma(conc: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Gamma variates with the given concentrations on the CPU, seeded from ``g``."""
    import numpy as np

    seed = int(torch.randint(0, 2**62, (1,), generator=g))
    rng = np.random.Generator(np.random.SFC64(seed))
    return torch.from_numpy(rng.standard_gamma(conc.numpy()))


def bayes_loss_curve(tokens: torch.Tensor, labels: torch.Tensor, parents: Sequence[int], S: int, alpha: float,
                     draws: Sequence[int] = (16, 64, 256), generator: torch.Generator | None = None) -> dict:
    """The Bayes predictor's loss against the number of importance draws: ``{K: (mean, standard error)}``.

    The log of a noisy weighted average is biased upwards, so the curve falls and flattens as the
    number of draws grows; its plateau is the Bayes floor (chapter 1).
    """
    out = {}
    for K in draws:
        f, _ = bayes_predictor(tokens, parents, S, alpha, n_draws=K, generator=generator)
        per = soft_cross_entropy(f, labels, reduction="none")
        out[int(K)] = (float(per.mean()), float(per.std() / per.numel() ** 0.5))
    return out


def baseline_losses(task, tokens: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None,
                    bayes_draws: int = 256) -> dict:
    """The loss of every baseline on one test set, with standard errors under ``<name>_se``.

    Single-parent tasks: ``uniform``, ``unigram``, ``estimator``, ``estimator_roots_counted``,
    ``bayes`` (plus ``bayes_ess``), ``readout_floor`` (plus ``readout_c``). Multi-parent tasks:
    ``uniform``, ``unigram``, ``estimator`` (k-parent), ``one_parent``, ``bayes`` (= the k-parent
    estimator, whose posterior is conjugate).
    """
    S, alpha = task.S, task.alpha
    preds: dict[str, torch.Tensor] = {
        "uniform": uniform_predictor(tokens, S),
        "unigram": unigram_predictor(tokens, S, alpha),
    }
    extra: dict[str, float] = {}
    if task.kind == "single":
        preds["estimator"] = in_context_estimator(tokens, task.parents, S, alpha)
        preds["bayes"], ess = bayes_predictor(tokens, task.parents, S, alpha, n_draws=bayes_draws, generator=generator)
        extra["bayes_ess"] = float(ess.mean())
        floor, c = readout_floor(tokens, labels, task.parents, S)
        v, _ = matching_children_average(tokens, task.parents, S)
        preds["readout_floor"] = torch.softmax(c * v, -1)
        extra["readout_c"] = c
    else:
        preds["estimator"] = k_parent_estimator(tokens, task.parent_lists, S, alpha)
        preds["one_parent"] = one_parent_estimator(tokens, S, alpha)
        preds["bayes"] = preds["estimator"]
    per_seq = {name: soft_cross_entropy(f, labels, reduction="none") for name, f in preds.items()}
    if task.kind == "single":
        per_seq["estimator_roots_counted"] = roots_counted_loss(tokens, labels, task.parents, S, alpha, "none")
    out: dict[str, float] = {}
    for name, per in per_seq.items():
        out[name] = float(per.mean())
        out[f"{name}_se"] = float(per.std() / per.numel() ** 0.5)
    out.update(extra)
    return out
