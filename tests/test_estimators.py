"""Baselines against brute force, the Bayes predictor against exact integration, the read-out floor."""

import itertools

import numpy as np
import pytest
import torch

from causal_tutorial.estimators import (baseline_losses, bayes_loss_curve, bayes_predictor, in_context_estimator,
                                        k_parent_estimator, matching_children_average, one_parent_estimator,
                                        readout_floor, roots_counted_loss, soft_cross_entropy,
                                        soft_cross_entropy_from_logits, transition_counts, unigram_predictor,
                                        uniform_predictor)
from causal_tutorial.graphs import chain, icl_pairs, make_parents, multi_parent_dag
from causal_tutorial.tasks import MultiParentTask, SingleParentTask

S, ALPHA = 3, 0.1
TINY_GRAPHS = [(-1, 0, 1, 2, 3), (-1, 0, -1, 2, -1), (-1, 0, 0, -1, 1), (-1, -1, 1, 0, 3)]


def _tokens(T, n=300, seed=0):
    return torch.randint(0, S, (n, T), generator=torch.Generator().manual_seed(seed))


def _brute_estimator(seq, parents, alpha, count_roots_with_target=None):
    q = seq[-1]
    counts = np.zeros(S)
    for i, p in enumerate(parents):
        if p >= 0 and seq[p] == q:
            counts[seq[i]] += 1
        if p < 0 and count_roots_with_target is not None and count_roots_with_target == q:
            counts[seq[i]] += 1
    return (counts + alpha) / (counts.sum() + S * alpha)


@pytest.mark.parametrize("parents", TINY_GRAPHS)
def test_estimator_and_counts_equal_brute_force_counting(parents):
    tokens = _tokens(len(parents) + 1)
    est = in_context_estimator(tokens, parents, S, ALPHA)
    N = transition_counts(tokens, parents, S)
    for b, seq in enumerate(tokens.tolist()):
        np.testing.assert_allclose(est[b].numpy(), _brute_estimator(seq, parents, ALPHA), rtol=1e-6)
        brute_N = np.zeros((S, S))
        for i, p in enumerate(parents):
            if p >= 0:
                brute_N[seq[p], seq[i]] += 1
        np.testing.assert_array_equal(N[b].numpy(), brute_N)


def test_estimator_excludes_roots():
    # the root token 2 at position 0 never counts, even though it would "follow" the query 0
    tokens = torch.tensor([[2, 0, 1, 0]])
    est = in_context_estimator(tokens, chain(4), S, 1.0)
    np.testing.assert_allclose(est[0].numpy(), [1 / 4, 2 / 4, 1 / 4])


@pytest.mark.parametrize("parents", TINY_GRAPHS)
def test_roots_counted_variant_reads_the_target_as_every_roots_parent(parents):
    tokens = _tokens(len(parents) + 1, seed=1)
    target = torch.randint(0, S, (tokens.shape[0],), generator=torch.Generator().manual_seed(2))
    est = in_context_estimator(tokens, parents, S, ALPHA, count_roots=True, target=target)
    for b, seq in enumerate(tokens.tolist()):
        np.testing.assert_allclose(est[b].numpy(), _brute_estimator(seq, parents, ALPHA, int(target[b])), rtol=1e-6)


def test_roots_counted_loss_is_the_expectation_over_the_target():
    task = SingleParentTask(S, 6, (-1, 0, -1, 2, -1), alpha=0.5)
    tokens, labels = task.sample(200, torch.Generator().manual_seed(0))
    mix = torch.zeros(200)
    for t in range(S):
        f = in_context_estimator(tokens, task.parents, S, 0.5, count_roots=True, target=torch.full((200,), t))
        mix += labels[:, t] * soft_cross_entropy(f, labels, "none")
    torch.testing.assert_close(roots_counted_loss(tokens, labels, task.parents, S, 0.5, "none"), mix)


def test_unigram_and_uniform_equal_brute_force():
    tokens = _tokens(6)
    uni = unigram_predictor(tokens, S, ALPHA)
    for b, seq in enumerate(tokens.tolist()):
        c = np.bincount(seq, minlength=S)
        np.testing.assert_allclose(uni[b].numpy(), (c + ALPHA) / (6 + S * ALPHA), rtol=1e-6)
    labels = torch.softmax(torch.randn(len(tokens), S), -1)
    assert abs(float(soft_cross_entropy(uniform_predictor(tokens, S), labels)) - np.log(S)) < 1e-6


def test_soft_cross_entropy_is_the_formula_and_logits_variant_agrees():
    z = torch.randn(5, S)
    y = torch.softmax(torch.randn(5, S), -1)
    p = torch.softmax(z, -1)
    torch.testing.assert_close(soft_cross_entropy(p, y, "none"), -(y * p.log()).sum(-1))
    torch.testing.assert_close(soft_cross_entropy_from_logits(z, y), soft_cross_entropy(p, y))


@pytest.mark.parametrize("parents", TINY_GRAPHS)
def test_matching_children_average_equals_brute_force_and_smooths_to_the_estimator(parents):
    tokens = _tokens(len(parents) + 1, seed=3)
    v, counts = matching_children_average(tokens, parents, S)
    for b, seq in enumerate(tokens.tolist()):
        kids = [seq[i] for i, p in enumerate(parents) if p >= 0 and seq[p] == seq[-1]]
        expected = np.bincount(kids, minlength=S) / max(len(kids), 1)
        np.testing.assert_allclose(v[b].numpy(), expected, atol=1e-6)
        assert counts[b] == len(kids)
    smoothed = (counts[:, None] * v + ALPHA) / (counts[:, None] + S * ALPHA)
    torch.testing.assert_close(smoothed, in_context_estimator(tokens, parents, S, ALPHA))


def test_readout_floor_is_the_minimum_over_c():
    task = SingleParentTask(10, 20, chain(20))
    tokens, labels = task.sample(4000, torch.Generator().manual_seed(0))
    floor, c = readout_floor(tokens, labels, chain(20), 10)
    v, _ = matching_children_average(tokens, chain(20), 10)
    grid = [float(soft_cross_entropy_from_logits(x * v, labels)) for x in np.linspace(0.1, 8, 80)]
    assert floor <= min(grid) + 1e-6 and abs(float(soft_cross_entropy_from_logits(c * v, labels)) - floor) < 1e-6


def test_k_parent_and_one_parent_estimators_equal_brute_force():
    T = 7
    lists = multi_parent_dag(T)
    tokens = _tokens(T, seed=4)
    k = k_parent_estimator(tokens, lists, S, ALPHA)
    one = one_parent_estimator(tokens, S, ALPHA)
    for b, seq in enumerate(tokens.tolist()):
        tp = [seq[p] for p in lists[T]]
        c = np.zeros(S)
        for i in range(T):
            if len(lists[i]) == 2 and [seq[p] for p in lists[i]] == tp:
                c[seq[i]] += 1
        np.testing.assert_allclose(k[b].numpy(), (c + ALPHA) / (c.sum() + S * ALPHA), rtol=1e-6)
        c1 = np.zeros(S)
        for i in range(1, T):
            if seq[i - 1] == seq[-1]:
                c1[seq[i]] += 1
        np.testing.assert_allclose(one[b].numpy(), (c1 + ALPHA) / (c1.sum() + S * ALPHA), rtol=1e-6)


def _exact_posterior_mean_s2(seq, parents, q):
    """E[π[q] | seq] for S=2, α=1 by 2-D Gauss–Legendre quadrature over p = π[0,1], r = π[1,0]."""
    x, w = np.polynomial.legendre.leggauss(200)
    x, w = (x + 1) / 2, w / 2
    p, r = np.meshgrid(x, x, indexing="ij")
    W = np.outer(w, w)
    P = np.array([[1 - p, p], [r, 1 - r]])  # (2, 2, grid, grid)
    mu = np.array([r, p]) / (p + r)
    like = np.ones_like(p)
    for i, pa in enumerate(parents):
        like = like * (P[seq[pa], seq[i]] if pa >= 0 else mu[seq[i]])
    Z = (W * like).sum()
    return np.array([(W * like * P[q, s]).sum() / Z for s in range(2)])


def test_bayes_predictor_matches_exact_integration_for_two_tokens():
    parents = (-1, 0, -1, 2, -1)  # three roots: the posterior is far from conjugate
    seqs = torch.tensor([list(s) for s in itertools.product([0, 1], repeat=6)][::5])
    probs, ess = bayes_predictor(seqs, parents, 2, 1.0, n_draws=20000, generator=torch.Generator().manual_seed(0))
    for b, seq in enumerate(seqs.tolist()):
        exact = _exact_posterior_mean_s2(seq, parents, seq[-1])
        np.testing.assert_allclose(probs[b].numpy(), exact, atol=4e-3)
    assert torch.all(ess > 1000) and torch.all(ess <= 20000)


def test_bayes_predictor_beats_the_estimator_when_there_are_roots():
    task = SingleParentTask(10, 20, icl_pairs(20))
    tokens, labels = task.sample(1000, torch.Generator().manual_seed(0))
    f, _ = bayes_predictor(tokens, task.parents, 10, 0.1, n_draws=2048, generator=torch.Generator().manual_seed(1))
    diff = soft_cross_entropy(f, labels, "none") - soft_cross_entropy(in_context_estimator(tokens, task.parents, 10, 0.1), labels, "none")
    assert float(diff.mean()) < -3 * float(diff.std() / 1000**0.5)


def test_bayes_loss_curve_falls_with_more_draws():
    task = SingleParentTask(10, 20, chain(20))
    tokens, labels = task.sample(500, torch.Generator().manual_seed(0))
    curve = bayes_loss_curve(tokens, labels, chain(20), 10, 0.1, draws=(4, 64, 512), generator=torch.Generator().manual_seed(2))
    assert curve[4][0] > curve[64][0] > curve[512][0] - 2e-3


def test_baseline_losses_report_every_key():
    task = SingleParentTask(10, 20, make_parents("random", 20, seed=0))
    tokens, labels = task.sample(256, torch.Generator().manual_seed(0))
    b = baseline_losses(task, tokens, labels, bayes_draws=16)
    for key in ("uniform", "unigram", "estimator", "estimator_roots_counted", "bayes", "readout_floor", "bayes_ess"):
        assert key in b
    assert abs(b["uniform"] - np.log(10)) < 1e-5 and b["estimator"] < b["uniform"]
    multi = MultiParentTask(5, 32, multi_parent_dag(32))
    tokens, labels = multi.sample(256, torch.Generator().manual_seed(0))
    m = baseline_losses(multi, tokens, labels)
    assert m["bayes"] == m["estimator"] < m["one_parent"] < m["uniform"]
