"""The samplers: the stationary law, and statistical tests that every token follows its law.

The statistical tests use the randomised probability integral transform: for a token ``s`` drawn
from a law ``p`` on ``0 … S-1``, ``u = F(s-1) + V·p(s)`` with ``V ~ U(0, 1)`` is exactly uniform on
``(0, 1)``. Pooling ``u`` over every draw of a batch (each draw with its own law) and binning it
gives a chi-square test with 9 degrees of freedom. With a fixed seed the tests are deterministic;
the threshold p > 1e-3 is their false-alarm rate over seeds.
"""

import math

import pytest
import torch

from causal_tutorial.graphs import chain, icl_pairs, multi_parent_dag, random_tree
from causal_tutorial.tasks import (MultiParentTask, SingleParentTask, check_alpha, sample_dirichlet,
                                   stationary_distribution)

P_MIN = 1e-3


def chi2_pvalue(stat: float, dof: int) -> float:
    return float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64),
                                         torch.tensor(stat / 2, dtype=torch.float64)))


def pit_pvalue(tokens: torch.Tensor, probs: torch.Tensor, seed: int = 0, bins: int = 10) -> float:
    """p-value that ``tokens (m,)`` were drawn from the laws ``probs (m, S)`` (randomised PIT)."""
    g = torch.Generator().manual_seed(seed)
    probs = probs.double()
    cdf_before = probs.cumsum(-1).gather(1, tokens[:, None]).squeeze(1) - probs.gather(1, tokens[:, None]).squeeze(1)
    u = cdf_before + torch.rand(len(tokens), generator=g, dtype=torch.float64) * probs.gather(1, tokens[:, None]).squeeze(1)
    counts = torch.bincount((u * bins).long().clamp(0, bins - 1), minlength=bins).double()
    expected = len(tokens) / bins
    return chi2_pvalue(float(((counts - expected) ** 2 / expected).sum()), bins - 1)


@pytest.fixture(scope="module")
def random_batch():
    task = SingleParentTask(6, 12, random_tree(12, seed=2), alpha=0.5)
    return task, task.sample(20000, torch.Generator().manual_seed(7), return_law=True)


def test_stationary_law_residual_is_tiny_on_dirichlet_draws():
    pi = sample_dirichlet(0.1, (100_000, 10), 10, torch.Generator().manual_seed(0), "cpu").float()
    mu = stationary_distribution(pi)
    assert mu.dtype == torch.float32
    resid = (torch.einsum("nij,ni->nj", pi, mu) - mu).abs().sum(-1)
    assert float(resid.max()) < 1e-5
    assert torch.allclose(mu.sum(-1), torch.ones(100_000)) and float(mu.min()) >= 0


@pytest.mark.parametrize("eps", [1e-4, 1e-6, 1e-7])
def test_stationary_law_is_exact_for_nearly_reducible_chains(eps):
    # two blocks that barely talk to each other: μ is set by the tiny coupling, which a
    # subtraction-based solver loses in float32
    P = torch.tensor([[0.5, 0.5 - eps, eps, 0.0], [0.3, 0.7, 0.0, 0.0],
                      [0.0, 0.0, 0.6, 0.4], [3 * eps, 0.0, 0.2, 0.8 - 3 * eps]], dtype=torch.float64)
    w, V = torch.linalg.eig(P.T)
    ref = V[:, torch.argmin((w - 1).abs())].real
    ref = ref / ref.sum()
    for method in ("auto", "gth"):
        mu = stationary_distribution(P.float()[None], method=method)[0].double()
        assert torch.allclose(mu, ref, rtol=1e-4, atol=1e-7), method


def test_fast_stationary_law_agrees_with_gth():
    pi = sample_dirichlet(0.1, (5000, 10), 10, torch.Generator().manual_seed(1), "cpu")
    torch.testing.assert_close(stationary_distribution(pi), stationary_distribution(pi, method="gth"),
                               atol=1e-6, rtol=1e-4)


def test_children_follow_their_parents_row(random_batch):
    task, b = random_batch
    kids = [i for i, p in enumerate(task.parents) if p >= 0]
    n = b.tokens.shape[0]
    rows = torch.stack([b.pi[torch.arange(n), b.tokens[:, task.parents[i]]] for i in kids], 1)  # (n, K, S)
    assert pit_pvalue(b.tokens[:, kids].reshape(-1), rows.reshape(-1, task.S)) > P_MIN


def test_roots_follow_the_stationary_law(random_batch):
    task, b = random_batch
    roots = [i for i, p in enumerate(task.parents) if p < 0]
    probs = b.mu[:, None].expand(-1, len(roots), -1).reshape(-1, task.S)
    assert pit_pvalue(b.tokens[:, roots].reshape(-1), probs) > P_MIN


def test_query_is_uniform_and_the_label_is_its_row(random_batch):
    task, b = random_batch
    q = b.tokens[:, -1]
    assert pit_pvalue(q, torch.full((len(q), task.S), 1 / task.S)) > P_MIN
    assert torch.equal(b.labels, b.pi[torch.arange(len(q)), q])


def test_a_wrong_law_is_detected():
    """The test has power: chain children checked against the row of the wrong parent token."""
    task = SingleParentTask(6, 12, chain(12), alpha=0.5)
    b = task.sample(5000, torch.Generator().manual_seed(1), return_law=True)
    n = b.tokens.shape[0]
    wrong = torch.stack([b.pi[torch.arange(n), (b.tokens[:, i - 1] + 1) % 6] for i in range(1, 11)], 1)
    assert pit_pvalue(b.tokens[:, 1:11].reshape(-1), wrong.reshape(-1, 6)) < 1e-6


def test_dirichlet_rows_have_the_prior_mean_and_variance():
    S, a = 4, 0.3
    x = sample_dirichlet(a, (200_000,), S, torch.Generator().manual_seed(3), "cpu")[:, 0]
    var = (1 / S) * (1 - 1 / S) / (S * a + 1)
    se = math.sqrt(var / 200_000)
    assert abs(float(x.mean()) - 1 / S) < 5 * se
    assert abs(float(x.var()) - var) < 0.02 * var


def test_multi_parent_children_follow_their_table_row_and_roots_are_uniform():
    task = MultiParentTask(3, 10, multi_parent_dag(10), alpha=0.5)
    b = task.sample(20000, torch.Generator().manual_seed(4), return_law=True)
    n, S = b.tokens.shape[0], task.S
    rows = []
    for i in range(2, 10):
        p1, p2 = task.parent_lists[i]
        rows.append(b.pi[torch.arange(n), b.tokens[:, p1] * S + b.tokens[:, p2]])
    assert pit_pvalue(b.tokens[:, 2:].reshape(-1), torch.stack(rows, 1).reshape(-1, S)) > P_MIN
    assert pit_pvalue(b.tokens[:, :2].reshape(-1), torch.full((2 * n, S), 1 / S)) > P_MIN
    p1, p2 = task.parent_lists[10]
    assert torch.equal(b.labels, b.pi[torch.arange(n), b.tokens[:, p1] * S + b.tokens[:, p2]])


def test_same_seed_same_batch_other_seed_other_batch():
    task = SingleParentTask(10, 20, icl_pairs(20))
    a = task.sample(64, torch.Generator().manual_seed(0))
    b = task.sample(64, torch.Generator().manual_seed(0))
    c = task.sample(64, torch.Generator().manual_seed(1))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.tokens, c.tokens)
    tokens, labels = a  # a batch unpacks as (tokens, labels)
    assert tokens.shape == (64, 20) and tokens.dtype == torch.long and labels.shape == (64, 10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(S=1), "S must be at least 2"),
    (dict(T=2), "T must be an int >= 3"),
    (dict(alpha=0.0), "alpha must be a positive finite number"),
    (dict(alpha=float("nan")), "alpha must be a positive finite number"),
    (dict(alpha=float("inf")), "alpha must be a positive finite number"),
    (dict(parents=(-1, 0)), "length T-1 = 4"),
])
def test_bad_task_arguments_name_the_argument_and_rule(kwargs, match):
    args = dict(S=3, T=5, parents=chain(5), alpha=0.1)
    args.update(kwargs)
    if "T" in kwargs and "parents" not in kwargs:
        args["parents"] = (-1,)
    with pytest.raises((ValueError, TypeError), match=match):
        SingleParentTask(**args)


def test_bad_sample_size_is_rejected():
    with pytest.raises(ValueError, match="n .* must be a positive int"):
        SingleParentTask(3, 5, chain(5)).sample(0)
    with pytest.raises(TypeError, match="alpha"):
        check_alpha("a lot")
