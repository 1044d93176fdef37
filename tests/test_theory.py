"""The χ²-mutual information between positions against brute force, direct formulas and its own laws."""

import itertools
import math

import pytest
import torch

from causal_tutorial.checks import make_generator
from causal_tutorial.graphs import chain, icl_pairs
from causal_tutorial.priors import normalise_rows_, sample_gamma, stationary_distribution
from causal_tutorial.theory import chi2_mutual_information, chi2_of_joint, pairwise_joint

FOREST = (-1, 0, 0, 1, -1)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are small: on a busy 2-core machine torch's thread pool costs more than it saves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _laws(S: int, m: int, alpha: float = 0.5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``m`` float64 transition laws with rows Dirichlet(α) and their stationary laws (GTH)."""
    g = make_generator(seed)
    pi = normalise_rows_(sample_gamma(alpha, (m, S, S), g, "cpu", dtype=torch.float64), dim=-1)
    return pi, stationary_distribution(pi)


def _brute_force_joint(parents, pi: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """``J[i, j, a, b] = P(s_i = a, s_j = b)`` by summing the law of every one of the S^(T-1) sequences."""
    S, n = pi.shape[-1], len(parents)
    P, m = pi.tolist(), mu.tolist()
    J = torch.zeros(n, n, S, S, dtype=torch.float64)
    for seq in itertools.product(range(S), repeat=n):
        w = 1.0
        for i, p in enumerate(parents):
            w *= m[seq[i]] if p < 0 else P[seq[p]][seq[i]]
        for i in range(n):
            for j in range(n):
                J[i, j, seq[i], seq[j]] += w
    return J


@pytest.mark.parametrize(
    "parents, S",
    [(chain(6), 2), (chain(5), 3), (icl_pairs(6), 2), (icl_pairs(5), 3), (FOREST, 2), (FOREST, 3)],
    ids=["chain-S2", "chain-S3", "icl-S2", "icl-S3", "forest-S2", "forest-S3"],
)
def test_pairwise_joint_equals_brute_force_enumeration(parents, S):
    pi, mu = _laws(S, 1, seed=S)
    J = pairwise_joint(parents, pi, mu)
    n = len(parents)
    assert J.shape == (1, n, n, S, S) and J.dtype == torch.float64
    torch.testing.assert_close(J[0], _brute_force_joint(parents, pi[0], mu[0]), rtol=0, atol=1e-12)


def test_pairwise_joint_is_symmetric_with_diag_mu_on_the_diagonal():
    pi, mu = _laws(4, 8, seed=1)
    J = pairwise_joint(FOREST, pi, mu)
    torch.testing.assert_close(J, J.transpose(1, 2).transpose(-1, -2), rtol=0, atol=1e-15)
    for i in range(len(FOREST)):
        torch.testing.assert_close(J[:, i, i], torch.diag_embed(mu), rtol=0, atol=1e-15)
    torch.testing.assert_close(J.sum(-1), mu[:, None, None, :].expand(-1, 5, 5, -1), rtol=0, atol=1e-13)


def test_pairwise_joint_batches_equal_one_law_at_a_time():
    pi, mu = _laws(3, 5, seed=2)
    J = pairwise_joint(chain(6), pi, mu)
    for k in range(5):
        torch.testing.assert_close(J[k], pairwise_joint(chain(6), pi[k : k + 1], mu[k : k + 1])[0])


def test_chi2_of_an_edge_equals_the_direct_formula():
    S = 5
    pi, mu = _laws(S, 16, alpha=0.3, seed=3)
    parents = (-1, 0, 0, 1, -1)
    I = chi2_of_joint(pairwise_joint(parents, pi, mu))
    direct = (mu[:, :, None] * pi.square() / mu[:, None, :]).sum((-1, -2)) - 1  # Σ μ(a) π[a,b]² / μ(b) − 1
    for child, parent in [(1, 0), (2, 0), (3, 1)]:
        torch.testing.assert_close(I[:, child, parent], direct, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(I[:, parent, child], direct, rtol=1e-12, atol=1e-12)


def test_chi2_of_joint_on_hand_made_laws():
    independent = torch.outer(torch.tensor([0.2, 0.8], dtype=torch.float64), torch.tensor([0.5, 0.25, 0.25]))
    assert abs(float(chi2_of_joint(independent))) < 1e-15
    copy = torch.diag(torch.full((4,), 0.25, dtype=torch.float64))  # Y = X, uniform: I = S - 1
    assert float(chi2_of_joint(copy)) == pytest.approx(3.0, abs=1e-14)
    degenerate = torch.zeros(3, 3, dtype=torch.float64)
    degenerate[1, 2] = 1.0  # zero marginals elsewhere: those terms are 0
    assert float(chi2_of_joint(degenerate)) == pytest.approx(0.0, abs=1e-15)


def test_positions_in_different_trees_carry_no_information():
    pi, mu = _laws(4, 32, alpha=0.1, seed=4)
    I = chi2_of_joint(pairwise_joint(icl_pairs(8), pi, mu))
    assert float(I[:, 3, 1].abs().max()) < 1e-12
    assert float(I[:, 1, 3].abs().max()) < 1e-12
    assert float(I[:, 3, 2].min()) > 0  # (2, 3) is an edge


def test_data_processing_inequality_for_every_draw_on_a_chain():
    parents = chain(10)
    pi, mu = _laws(6, 128, alpha=0.2, seed=5)
    I = chi2_of_joint(pairwise_joint(parents, pi, mu))
    for i in range(2, len(parents)):
        farther = I[:, i, : i - 1]  # I(s_j; s_i) for j < i - 1
        assert bool((I[:, i, i - 1 : i] >= farther - 1e-12).all()), f"row {i}: a non-parent beats the parent"
        # and it decays along the chain: I(s_j; s_i) ≥ I(s_{j-1}; s_i)
        assert bool((farther[:, 1:] >= farther[:, :-1] - 1e-12).all())


def test_monte_carlo_mean_and_standard_error():
    parents = chain(8)
    small = chi2_mutual_information(parents, S=5, alpha=0.2, n_pi=256, generator=make_generator(0))
    large = chi2_mutual_information(parents, S=5, alpha=0.2, n_pi=1024, generator=make_generator(1))
    n = len(parents)
    assert small.mean.shape == small.se.shape == (n, n) and small.mean.dtype == torch.float64
    assert (small.n_pi, large.n_pi, small.S, small.alpha, small.parents) == (256, 1024, 5, 0.2, parents)
    below = torch.tril(torch.ones(n, n, dtype=torch.bool), diagonal=-1)
    assert float(small.mean[~below].abs().max()) == 0 and float(small.se[~below].abs().max()) == 0
    ratio = small.se[below] / large.se[below]
    assert bool(((ratio >= 1.6) & (ratio <= 2.5)).all()), ratio
    # a stationary chain: every edge has the same law, so the same information in expectation
    edge = torch.stack([large.mean[i, i - 1] for i in range(1, n)])
    edge_se = torch.stack([large.se[i, i - 1] for i in range(1, n)])
    assert float(edge.max() - edge.min()) <= 4 * float(edge_se.max())
    # also across independent draws for other graphs: an edge of icl pairs, of a forest
    for other, seed in [(icl_pairs(8), 2), (FOREST, 3)]:
        r = chi2_mutual_information(other, S=5, alpha=0.2, n_pi=1024, generator=make_generator(seed))
        diff, se = float(r.mean[1, 0] - edge[0]), math.hypot(float(r.se[1, 0]), float(edge_se[0]))
        assert abs(diff) <= 4 * se, (diff, se)


def test_same_seed_same_result_and_chunks_add_up():
    a = chi2_mutual_information(FOREST, S=3, alpha=0.5, n_pi=300, generator=make_generator(7))
    b = chi2_mutual_information(FOREST, S=3, alpha=0.5, n_pi=300, generator=make_generator(7))
    assert torch.equal(a.mean, b.mean) and torch.equal(a.se, b.se)
    c = chi2_mutual_information(FOREST, S=3, alpha=0.5, n_pi=300)  # unseeded: seed 0, reproducible
    d = chi2_mutual_information(FOREST, S=3, alpha=0.5, n_pi=300, generator=make_generator(0))
    assert torch.equal(c.mean, d.mean)
    # the same draws through pairwise_joint: 300 = one chunk of 256, then 44
    g = make_generator(7)
    draws = []
    for m in (256, 44):
        pi = normalise_rows_(sample_gamma(0.5, (m, 3, 3), g, "cpu", dtype=torch.float64), dim=-1)
        draws.append(chi2_of_joint(pairwise_joint(FOREST, pi, stationary_distribution(pi))))
    per = torch.cat(draws)
    below = torch.tril(torch.ones(5, 5, dtype=torch.bool), diagonal=-1)
    torch.testing.assert_close(a.mean[below], per.mean(0)[below], rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(a.se[below], (per.std(0) / math.sqrt(300))[below], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"S": 1}, ValueError, "S"),
        ({"S": 2.0}, TypeError, "S"),
        ({"alpha": 0}, ValueError, "alpha"),
        ({"alpha": float("nan")}, ValueError, "alpha"),
        ({"n_pi": 0}, ValueError, "n_pi"),
        ({"n_pi": 2.5}, TypeError, "n_pi"),
        ({"parents": (-1, 0, 3, 1)}, ValueError, "parents"),
        ({"parents": (-1,)}, ValueError, "parents"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, name):
    args = {"parents": chain(5), "S": 3, "alpha": 0.5, "n_pi": 4} | kwargs
    with pytest.raises(error, match=name):
        chi2_mutual_information(**args)


def test_pairwise_joint_rejects_mismatched_laws():
    pi, mu = _laws(3, 2)
    with pytest.raises(ValueError, match="mu"):
        pairwise_joint(chain(5), pi, mu[:, :2])
    with pytest.raises(ValueError, match="pi"):
        pairwise_joint(chain(5), pi[0], mu)
    with pytest.raises(TypeError, match="dtype"):
        pairwise_joint(chain(5), pi.float(), mu)
    with pytest.raises(ValueError, match="parents"):
        pairwise_joint((-1, 1, 0), pi, mu)


def test_stable_for_a_sparse_prior():
    S = 10
    r = chi2_mutual_information(chain(20), S=S, alpha=0.05, n_pi=512, generator=make_generator(0))
    for t in (r.mean, r.se):
        assert bool(torch.isfinite(t).all())
    assert float(r.mean.min()) >= 0 and float(r.mean.max()) <= S - 1 + 1e-9
    # and per draw: every pair of the chain and of a forest in [0, S - 1]
    pi, mu = _laws(S, 256, alpha=0.05, seed=9)
    assert float(mu.min()) < 1e-12  # the prior makes nearly reducible chains
    for parents in (chain(20), (-1, 0, 0, 1, -1, 4, 5, 2, 7, -1)):
        I = chi2_of_joint(pairwise_joint(parents, pi, mu))
        assert bool(torch.isfinite(I).all())
        assert float(I.min()) >= 0 and float(I.max()) <= S - 1 + 1e-9
