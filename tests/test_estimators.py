"""The baselines against brute force, the Bayes predictor against exact integration, the read-out floor."""

import itertools
import math

import numpy as np
import pytest
import torch

from causal_tutorial.estimators import (
    baseline_losses,
    bayes_loss_curve,
    bayes_predictor,
    in_context_estimator,
    k_parent_estimator,
    matching_children_average,
    one_parent_estimator,
    readout_floor,
    soft_cross_entropy,
    soft_cross_entropy_from_logits,
    transition_counts,
    uniform_predictor,
    unigram_predictor,
)
from causal_tutorial.graphs import chain, icl_pairs, make_parents, multi_parent_dag
from causal_tutorial.priors import gth_back_substitute, gth_eliminate_, gth_reduce_first_rows_, stationary_distribution
from causal_tutorial.tasks import MultiParentTask, SingleParentTask

S, ALPHA = 3, 0.1
TINY_GRAPHS = [(-1, 0, 1, 2, 3), (-1, 0, -1, 2, -1), (-1, 0, 0, -1, 1), (-1, -1, 1, 0, 3)]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are small: on a busy 2-core machine torch's thread pool costs more than it saves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tokens(T, n=300, seed=0, S=S):
    return torch.randint(0, S, (n, T), generator=torch.Generator().manual_seed(seed))


def _smoothed(counts, alpha=ALPHA):
    return (counts + alpha) / (counts.sum() + len(counts) * alpha)


def _brute_estimator(seq, parents, count_roots=False):
    """Plain loops. ``count_roots`` mimics the research code: strip the query, index the rest with
    the parent array (Python's ``rest[-1]`` is the last remaining token)."""
    q, rest = seq[-1], seq[:-1]
    counts = np.zeros(S)
    for i, p in enumerate(parents):
        if (p >= 0 or count_roots) and rest[p] == q:
            counts[rest[i]] += 1
    return _smoothed(counts)


# ---- brute force --------------------------------------------------------------------------------


@pytest.mark.parametrize("parents", TINY_GRAPHS)
def test_estimator_both_root_rules_and_counts_equal_brute_force_loops(parents):
    tokens = _tokens(len(parents) + 1)
    est = in_context_estimator(tokens, parents, S, ALPHA)
    slip = in_context_estimator(tokens, parents, S, ALPHA, count_roots=True)
    N = transition_counts(tokens, parents, S)
    assert est.dtype == slip.dtype == torch.float32 and est.shape == (len(tokens), S)
    for b, seq in enumerate(tokens.tolist()):
        np.testing.assert_allclose(est[b].numpy(), _brute_estimator(seq, parents), rtol=1e-6)
        np.testing.assert_allclose(slip[b].numpy(), _brute_estimator(seq, parents, count_roots=True), rtol=1e-6)
        brute_N = np.zeros((S, S))
        for i, p in enumerate(parents):
            if p >= 0:
                brute_N[seq[p], seq[i]] += 1
        np.testing.assert_array_equal(N[b].numpy(), brute_N)


def test_estimator_excludes_roots():
    # position 0 is a root holding 2 and the query is 0: the root must not count as a child of 0
    tokens = torch.tensor([[2, 0, 1, 0]])
    est = in_context_estimator(tokens, chain(4), S, 1.0)  # counted: 0 -> 1 only
    np.testing.assert_allclose(est[0].numpy(), [1 / 4, 2 / 4, 1 / 4])


def test_roots_counted_variant_treats_every_roots_parent_as_position_T_minus_2():
    T = 6
    tokens = _tokens(T, seed=11)
    for parents in TINY_GRAPHS:
        slip = in_context_estimator(tokens, parents, S, ALPHA, count_roots=True)
        q = tokens[:, -1]
        counts = torch.zeros(len(tokens), S)
        for i, p in enumerate(parents):
            parent_token = tokens[:, p if p >= 0 else T - 2]
            counts[torch.arange(len(tokens)), tokens[:, i]] += (parent_token == q).float()
        torch.testing.assert_close(slip, (counts + ALPHA) / (counts.sum(1, keepdim=True) + S * ALPHA))


def test_unigram_and_uniform_equal_brute_force():
    tokens = _tokens(6)
    uni = unigram_predictor(tokens, S, ALPHA)
    for b, seq in enumerate(tokens.tolist()):
        np.testing.assert_allclose(uni[b].numpy(), _smoothed(np.bincount(seq, minlength=S)), rtol=1e-6)
    torch.testing.assert_close(uniform_predictor(tokens, S), torch.full((len(tokens), S), 1 / S))


@pytest.mark.parametrize("parents", TINY_GRAPHS)
def test_matching_children_average_equals_brute_force_in_both_no_match_rules(parents):
    tokens = _tokens(len(parents) + 1, seed=3)
    v_all, counts = matching_children_average(tokens, parents, S, no_match="all")
    v_zero, counts_zero = matching_children_average(tokens, parents, S, no_match="zero")
    assert torch.equal(matching_children_average(tokens, parents, S)[0], v_zero), "the default is no_match='zero'"
    assert torch.equal(counts, counts_zero)
    for b, seq in enumerate(tokens.tolist()):
        kids = [seq[i] for i, p in enumerate(parents) if p >= 0]
        hits = [seq[i] for i, p in enumerate(parents) if p >= 0 and seq[p] == seq[-1]]
        assert counts[b] == len(hits)
        expected = np.bincount(hits or kids, minlength=S) / len(hits or kids)
        np.testing.assert_allclose(v_all[b].numpy(), expected, atol=1e-6)
        np.testing.assert_allclose(v_zero[b].numpy(), expected if hits else np.zeros(S), atol=1e-6)


@pytest.mark.parametrize("parents", TINY_GRAPHS + [icl_pairs(20)])
def test_smoothing_the_matching_children_average_gives_the_estimator_where_a_child_matches(parents):
    tokens = _tokens(len(parents) + 1, seed=4)
    v, counts = matching_children_average(tokens, parents, S)
    hit = counts > 0
    assert hit.any() and (~hit).any()
    smoothed = (counts[:, None] * v + ALPHA) / (counts[:, None] + S * ALPHA)
    torch.testing.assert_close(smoothed[hit], in_context_estimator(tokens, parents, S, ALPHA)[hit])


def test_k_parent_and_one_parent_estimators_equal_brute_force():
    T = 7
    lists = multi_parent_dag(T)
    tokens = _tokens(T, seed=5)
    k = k_parent_estimator(tokens, lists, S, ALPHA)
    one = one_parent_estimator(tokens, S, ALPHA)
    one_from_1 = one_parent_estimator(tokens, S, ALPHA, first_child=1)
    for b, seq in enumerate(tokens.tolist()):
        target_parents = [seq[p] for p in lists[T]]
        c = np.zeros(S)
        for i in range(T):
            if len(lists[i]) == 2 and [seq[p] for p in lists[i]] == target_parents:
                c[seq[i]] += 1
        np.testing.assert_allclose(k[b].numpy(), _smoothed(c), rtol=1e-6)
        # the one-parent graph keeps each DAG child's last parent, i - 1 (the target's is T-1)
        c1 = np.zeros(S)
        for i in range(T):
            if lists[i] and seq[lists[i][-1]] == seq[lists[T][-1]]:
                c1[seq[i]] += 1
        np.testing.assert_allclose(one[b].numpy(), _smoothed(c1), rtol=1e-6)
        if seq[0] == seq[-1]:  # first_child=1 also counts s_0 → s_1
            c1[seq[1]] += 1
        np.testing.assert_allclose(one_from_1[b].numpy(), _smoothed(c1), rtol=1e-6)
    with pytest.raises(ValueError, match="first_child"):
        one_parent_estimator(tokens, S, ALPHA, first_child=0)


def test_k_parent_estimator_is_the_posterior_mean_by_monte_carlo():
    # S=2, T=4: 16 possible contexts; the mean label over many draws of each context is E[y | context]
    T, alpha, n = 4, 0.5, 200_000
    task = MultiParentTask(2, T, multi_parent_dag(T), alpha=alpha)
    tokens, labels = task.sample(n, torch.Generator().manual_seed(0))
    code = (tokens * 2 ** torch.arange(T)).sum(1)
    est = k_parent_estimator(tokens, task.parent_lists, 2, alpha)
    for c in range(2**T):
        sel = code == c
        mean, se = labels[sel, 0].mean(), labels[sel, 0].std() / sel.sum().sqrt()
        assert abs(float(mean - est[sel][0, 0])) < 4 * float(se) + 1e-4, c


# ---- the loss -----------------------------------------------------------------------------------


def test_soft_cross_entropy_is_the_formula_and_the_logits_variant_agrees():
    z = torch.randn(5, S, generator=torch.Generator().manual_seed(0))
    y = torch.softmax(torch.randn(5, S, generator=torch.Generator().manual_seed(1)), -1)
    p = torch.softmax(z, -1)
    torch.testing.assert_close(soft_cross_entropy(p, y, "none"), -(y * p.log()).sum(-1))
    torch.testing.assert_close(soft_cross_entropy(p, y), -(y * p.log()).sum(-1).mean())
    torch.testing.assert_close(soft_cross_entropy_from_logits(z, y, "none"), soft_cross_entropy(p, y, "none"))
    assert soft_cross_entropy(p, y).dim() == 0
    # a zero probability where the label is zero costs nothing
    assert float(soft_cross_entropy(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))) == 0.0
    with pytest.raises(ValueError, match="reduction"):
        soft_cross_entropy(p, y, "sum")


def test_uniform_prediction_costs_log_S_on_any_labels():
    y = torch.distributions.Dirichlet(torch.full((7,), 0.2)).sample((100,))
    loss = soft_cross_entropy(uniform_predictor(torch.zeros(100, 5, dtype=torch.long), 7), y, "none")
    torch.testing.assert_close(loss, torch.full((100,), math.log(7)))


# ---- the read-out floor ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain_batch():
    return SingleParentTask(10, 20, chain(20), alpha=0.1).sample(4096, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("no_match", ["all", "zero"])
def test_readout_floor_is_the_minimum_over_c_and_lies_above_the_estimator(chain_batch, no_match):
    tokens, labels = chain_batch
    floor, c = readout_floor(tokens, labels, chain(20), 10, no_match=no_match)
    v, _ = matching_children_average(tokens, chain(20), 10, no_match=no_match)
    grid = np.linspace(c - 1.0, c + 1.0, 41)
    losses = [float(soft_cross_entropy_from_logits(x * v.double(), labels.double())) for x in grid]
    assert floor <= min(losses) + 1e-9
    assert abs(grid[int(np.argmin(losses))] - c) <= 0.05  # the grid's best point is the grid point next to c
    assert abs(float(soft_cross_entropy_from_logits(c * v.double(), labels.double())) - floor) < 1e-9
    est = float(soft_cross_entropy(in_context_estimator(tokens, chain(20), 10, 0.1), labels))
    assert floor > est - 1e-3


def test_readout_floor_finds_a_negative_scale_when_the_labels_avoid_v():
    v_tokens = torch.tensor([[0, 1, 0, 1, 0]] * 8)  # chain(5): query 0, its children are all 1
    labels = torch.tensor([[0.5, 0.0, 0.5]] * 8)
    floor, c = readout_floor(v_tokens, labels, chain(5), 3)
    assert c < -10 and floor < math.log(3)


# ---- the Bayes predictor --------------------------------------------------------------------------


def _exact_posterior_mean_s2(seq, parents):
    """E[π[q] | seq] for S=2, α=1 by 200×200 Gauss–Legendre quadrature over p = π[0,1], r = π[1,0]."""
    x, w = np.polynomial.legendre.leggauss(200)
    x, w = (x + 1) / 2, w / 2
    p, r = np.meshgrid(x, x, indexing="ij")
    W = np.outer(w, w)
    P = np.array([[1 - p, p], [r, 1 - r]])  # (2, 2, grid, grid)
    mu = np.array([r, p]) / (p + r)
    like = np.ones_like(p)
    for i, pa in enumerate(parents):
        like = like * (P[seq[pa], seq[i]] if pa >= 0 else mu[seq[i]])
    return np.array([(W * like * P[seq[-1], s]).sum() for s in range(2)]) / (W * like).sum()


@pytest.mark.parametrize("row_draws", [1, 16])
def test_bayes_predictor_matches_exact_integration_for_two_tokens(row_draws):
    parents = (-1, 0, -1, 2, -1)  # three roots: the posterior is far from conjugate
    seqs = torch.tensor(list(itertools.product([0, 1], repeat=6)))
    exact = np.stack([_exact_posterior_mean_s2(s, parents) for s in seqs.tolist()])[:, 0]
    runs = torch.stack(
        [
            bayes_predictor(
                seqs, parents, 2, 1.0, n_draws=256, row_draws=row_draws, generator=torch.Generator().manual_seed(seed)
            )[0][:, 0]
            for seed in range(16)
        ]
    ).double()
    z = (runs.mean(0).numpy() - exact) / (runs.std(0) / math.sqrt(len(runs))).numpy()  # Monte-Carlo z-scores
    assert np.abs(z).max() < 5 and (z**2).mean() < 1.8, z
    conj = in_context_estimator(seqs, parents, 2, 1.0)[:, 0].numpy()
    assert np.abs(exact - conj).max() > 0.05, "the roots do move the posterior away from the estimator"


def test_bayes_predictor_is_the_mean_label_given_the_context_by_monte_carlo():
    # S=3, T=4, two roots: 81 contexts; over many draws the mean label of a context is E[π[q] | context]
    T, alpha, n = 4, 1.0, 400_000
    task = SingleParentTask(3, T, (-1, 0, -1), alpha=alpha)
    tokens, labels = task.sample(n, torch.Generator().manual_seed(0))
    code = (tokens * 3 ** torch.arange(T)).sum(1)
    contexts = torch.tensor(list(itertools.product(range(3), repeat=T)))
    # enough draws that the predictor's own Monte-Carlo error is small beside the mean labels' errors
    f, _ = bayes_predictor(contexts, task.parents, 3, alpha, n_draws=4096, generator=torch.Generator().manual_seed(1))
    z = []
    for c, ctx in enumerate(contexts):
        sel = code == int((ctx * 3 ** torch.arange(T)).sum())
        mean, se = labels[sel].double().mean(0), labels[sel].double().std(0) / math.sqrt(int(sel.sum()))
        z.append(((mean - f[c]) / se).numpy())
    z = np.array(z)
    assert np.abs(z).max() < 5 and (z**2).mean() < 1.5, np.abs(z).max()


def test_the_cheap_query_row_swap_gives_the_stationary_law():
    torch.manual_seed(0)
    P = torch.distributions.Dirichlet(torch.full((6,), 0.1)).sample((40, 6)).double()
    r = torch.distributions.Dirichlet(torch.full((6,), 0.1)).sample((40, 5)).double()
    A = gth_eliminate_(P.permute(1, 2, 0).clone(), first_row=False)  # (S, S, 40), row 0 left alone
    u = gth_back_substitute(A, gth_reduce_first_rows_(A, r.permute(2, 0, 1).clone())).permute(1, 2, 0)
    # u (40, 5, S): row 0 replaced by each of the 5 candidates
    P_swapped = P[:, None].repeat(1, 5, 1, 1)
    P_swapped[:, :, 0] = r
    torch.testing.assert_close(u / u.sum(-1, keepdim=True), stationary_distribution(P_swapped), rtol=1e-9, atol=1e-13)


@pytest.fixture(scope="module")
def icl_batch():
    return SingleParentTask(10, 20, icl_pairs(20), alpha=0.1).sample(3000, torch.Generator().manual_seed(0))


def test_bayes_predictor_beats_the_estimator_on_icl_pairs_and_reports_a_valid_ess(icl_batch):
    tokens, labels = icl_batch
    f, ess = bayes_predictor(tokens, icl_pairs(20), 10, 0.1, n_draws=64, generator=torch.Generator().manual_seed(1))
    assert f.shape == (3000, 10) and torch.allclose(f.sum(-1), torch.ones(3000), atol=1e-5)
    diff = soft_cross_entropy(f, labels, "none") - soft_cross_entropy(
        in_context_estimator(tokens, icl_pairs(20), 10, 0.1), labels, "none"
    )
    assert float(diff.mean()) < -2 * float(diff.std() / math.sqrt(len(diff)))
    assert torch.all(ess >= 1 - 1e-4) and torch.all(ess <= 64 + 1e-3)


def test_bayes_predictor_is_deterministic_given_the_generator():
    tokens = _tokens(6, n=20, seed=6)
    a = bayes_predictor(tokens, TINY_GRAPHS[1], S, ALPHA, n_draws=8, generator=torch.Generator().manual_seed(3))
    b = bayes_predictor(tokens, TINY_GRAPHS[1], S, ALPHA, n_draws=8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="n_draws"):
        bayes_predictor(tokens, TINY_GRAPHS[1], S, ALPHA, n_draws=0)


def test_bayes_loss_curve_falls_with_more_draws(icl_batch):
    tokens, labels = icl_batch.tokens[:300], icl_batch.labels[:300]
    curve = bayes_loss_curve(
        tokens, labels, icl_pairs(20), 10, 0.1, draws=(2, 64), row_draws=4, generator=torch.Generator().manual_seed(2)
    )
    assert set(curve) == {2, 64} and curve[2][0] > curve[64][0] + 0.05 and curve[64][1] > 0


# ---- everything at once -------------------------------------------------------------------------


def test_baseline_losses_report_every_key_with_standard_errors():
    task = SingleParentTask(10, 20, make_parents("random", 20, seed=0))
    tokens, labels = task.sample(256, torch.Generator().manual_seed(0))
    b = baseline_losses(task, tokens, labels, bayes_draws=8, bayes_row_draws=2)
    names = ("uniform", "unigram", "estimator", "estimator_roots_counted", "bayes", "readout_floor")
    assert set(b) == {*names, *(f"{k}_se" for k in names), "bayes_ess", "readout_c"}
    assert abs(b["uniform"] - math.log(10)) < 1e-5 and b["estimator"] < b["uniform"]
    assert b["estimator_se"] > 0 and 1 <= b["bayes_ess"] <= 8
    floor, c = readout_floor(tokens, labels, task.parents, 10)
    assert abs(b["readout_floor"] - floor) < 1e-5 and b["readout_c"] == c
    multi = MultiParentTask(5, 32, multi_parent_dag(32))
    tokens, labels = multi.sample(256, torch.Generator().manual_seed(0))
    m = baseline_losses(multi, tokens, labels)
    assert {"uniform", "unigram", "estimator", "one_parent", "bayes", "one_parent_se"} <= set(m)
    assert m["bayes"] == m["estimator"] < m["one_parent"] < m["uniform"]


def test_bad_input_is_named_in_the_error():
    tokens = _tokens(6, n=4)
    with pytest.raises(ValueError, match="tokens must lie"):
        in_context_estimator(tokens + 3, TINY_GRAPHS[0], S, ALPHA)
    with pytest.raises(ValueError, match="alpha"):
        unigram_predictor(tokens, S, 0.0)
    with pytest.raises(ValueError, match="no_match"):
        matching_children_average(tokens, TINY_GRAPHS[0], S, no_match="none")
    with pytest.raises(ValueError, match="length"):
        transition_counts(tokens, chain(5), S)
