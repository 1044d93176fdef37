"""The samplers: the prior, the stationary law, and statistical tests that every token follows its law.

Two kinds of statistical test:

* **A fixed law.** :meth:`SingleParentTask.sample_given_law` / :meth:`MultiParentTask.sample_given_law`
  draw many sequences from one known ``π``; the counts of transitions, roots and queries are then
  compared with ``π``, ``μ_π`` and the uniform law by Pearson's chi-square test.
* **The law each sequence drew.** :meth:`sample` gives every sequence its own ``π``. For a token ``s``
  drawn from a law ``p`` on ``0 … S-1``, the randomised probability integral transform
  ``u = F(s-1) + V·p(s)`` with ``V ~ U(0, 1)`` is exactly uniform on ``(0, 1)``; pooling ``u`` over a
  batch (each draw with its own law) and binning it in 10 bins gives a chi-square test with 9 degrees
  of freedom.

Every test has a fixed seed, so it is deterministic; its threshold ``p > 1e-3`` is the false-alarm
rate it would have over seeds. Each of them also has power: a wrong law is rejected at ``p < 1e-6``
(see the ``..._is_detected`` tests). The chi-square survival function is
``gammaincc(k/2, x/2)`` (no SciPy).
"""

import importlib.util
import math
import multiprocessing
import os
from pathlib import Path

import pytest
import torch

from causal_tutorial import priors
from causal_tutorial.checks import check_alpha, check_vocab
from causal_tutorial.graphs import chain, icl_pairs, multi_parent_dag, random_tree
from causal_tutorial.priors import SamplerSettings, sample_dirichlet, sample_gamma, stationary_distribution
from causal_tutorial.tasks import MultiParentTask, SingleParentTask

P_MIN = 1e-3  # false-alarm rate of each statistical test (over seeds)


# --- chi-square machinery -----------------------------------------------------------------------
def chi2_sf(stat: float, dof: int) -> float:
    """P(χ²_dof > stat) = Q(dof/2, stat/2), the regularised upper incomplete gamma function."""
    return float(
        torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64), torch.tensor(stat / 2, dtype=torch.float64))
    )


def gof_pvalue(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """Pearson goodness of fit of ``counts (..., K)`` to ``probs (..., K)``, one multinomial per row."""
    counts, probs = counts.double().reshape(-1, counts.shape[-1]), probs.double().reshape(-1, probs.shape[-1])
    expected = counts.sum(-1, keepdim=True) * probs
    assert float(expected.min()) >= 5, "too few expected counts for the chi-square approximation"
    stat = float(((counts - expected) ** 2 / expected).sum())
    return chi2_sf(stat, counts.shape[0] * (counts.shape[1] - 1))


def homogeneity_pvalue(a: torch.Tensor, b: torch.Tensor) -> float:
    """Two-sample chi-square test that the counts ``a (K,)`` and ``b (K,)`` come from one law."""
    a, b = a.double(), b.double()
    keep = (a + b) >= 10  # bins too sparse for the approximation are dropped
    a, b = a[keep], b[keep]
    pooled = (a + b) / (a.sum() + b.sum())
    stat = sum(float(((x - x.sum() * pooled) ** 2 / (x.sum() * pooled)).sum()) for x in (a, b))
    return chi2_sf(stat, int(keep.sum()) - 1)


def pit_pvalue(tokens: torch.Tensor, probs: torch.Tensor, seed: int = 0, bins: int = 10) -> float:
    """p-value that ``tokens (m,)`` were drawn from the laws ``probs (m, S)`` (randomised PIT)."""
    g = torch.Generator().manual_seed(seed)
    probs = probs.double()
    p_tok = probs.gather(1, tokens[:, None]).squeeze(1)
    before = probs.cumsum(-1).gather(1, tokens[:, None]).squeeze(1) - p_tok
    u = before + torch.rand(len(tokens), generator=g, dtype=torch.float64) * p_tok
    counts = torch.bincount((u * bins).long().clamp(0, bins - 1), minlength=bins)
    return gof_pvalue(counts, torch.full((bins,), 1.0 / bins))


def transition_counts(tokens: torch.Tensor, parents, S: int) -> torch.Tensor:
    """``N[a, b]``: how often a child holds ``b`` while its parent holds ``a``, over a batch."""
    kids = [i for i, p in enumerate(parents) if p >= 0]
    a = tokens[:, [parents[i] for i in kids]].reshape(-1)
    b = tokens[:, kids].reshape(-1)
    return torch.bincount(a * S + b, minlength=S * S).reshape(S, S)


def reference_stationary(P: torch.Tensor) -> torch.Tensor:
    """μ of one stochastic matrix in float64, independently of GTH: power iteration by repeated squaring.

    ``P^(2^60)``: far past the mixing time of any chain below (spectral gaps down to ~1e-8), with the
    rounding of 60 float64 products. Every chain below has a positive diagonal, so it is aperiodic.
    """
    Q = P.double()
    for _ in range(60):
        Q = Q @ Q
        Q = Q / Q.sum(-1, keepdim=True)
    return Q.mean(0)


# A fixed transition matrix with every entry >= 0.05 (so the chi-square approximation holds).
PI4 = torch.tensor(
    [[0.70, 0.10, 0.15, 0.05], [0.20, 0.50, 0.05, 0.25], [0.05, 0.30, 0.40, 0.25], [0.25, 0.25, 0.25, 0.25]]
)


# --- the stationary law -------------------------------------------------------------------------
def test_stationary_law_residual_is_below_1e_5_in_float32_on_1e5_dirichlet_draws():
    pi = sample_dirichlet(0.1, (100_000, 10), 10, torch.Generator().manual_seed(0), "cpu")
    mu = stationary_distribution(pi)
    assert pi.dtype == mu.dtype == torch.float32 and mu.shape == (100_000, 10)
    resid = (torch.einsum("nij,ni->nj", pi.double(), mu.double()) - mu.double()).abs().sum(-1)
    assert float(resid.max()) < 1e-5
    assert float(mu.min()) >= 0 and torch.allclose(mu.sum(-1), torch.ones(100_000))
    # every entry, however small, to a relative 1e-5 of the float64 answer for the same matrices
    ref = stationary_distribution(pi.double())
    assert float(((mu.double() - ref).abs() / ref).max()) < 1e-5


def _block_chain(S: int, blocks: int, eps: float, seed: int) -> torch.Tensor:
    """Dense blocks along the diagonal, coupled to the next block (cyclically) by entries of size ~eps."""
    g = torch.Generator().manual_seed(seed)
    P = torch.zeros(S, S, dtype=torch.float64)
    size = S // blocks
    for k in range(blocks):
        lo, hi = k * size, (k + 1) * size
        P[lo:hi, lo:hi] = torch.rand(size, size, generator=g, dtype=torch.float64) + 0.1
        nxt = ((k + 1) % blocks) * size
        P[hi - 1, nxt] = eps * (1 + k)  # a different coupling out of each block: μ depends on them
    P[:, :] /= P.sum(-1, keepdim=True)
    return P


ADVERSARIAL = {
    "two blocks, coupling 1e-7": _block_chain(10, 2, 1e-7, 0),
    "five blocks, coupling 1e-6": _block_chain(10, 5, 1e-6, 1),
    "two blocks, coupling 1e-5": _block_chain(10, 2, 1e-5, 2),
    # a nearly absorbing state: leaves with probability 3e-7, is entered with probability ~1e-3
    "nearly absorbing state": torch.tensor(
        [[1 - 3e-7, 1e-7, 2e-7, 0.0], [1e-3, 0.5, 0.3, 0.2 - 1e-3], [0.0, 0.4, 0.6, 0.0], [0.0, 0.1, 0.1, 0.8]],
        dtype=torch.float64,
    ),
    # a cycle 0 → 1 → 2 → 0 that is almost deterministic, with tiny leaks back
    "near-deterministic cycle": torch.tensor(
        [[1e-6, 1 - 2e-6, 1e-6], [2e-7, 1e-7, 1 - 3e-7], [1 - 1e-5, 5e-6, 5e-6]], dtype=torch.float64
    ),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_stationary_law_is_accurate_entrywise_on_nearly_reducible_chains(name):
    """μ of these chains is set by couplings of 1e-7: a subtraction-based solver loses it in float32,
    GTH keeps every entry to a relative 1e-4 (float32) and 1e-10 (float64)."""
    P = ADVERSARIAL[name]
    ref = reference_stationary(P)
    w, V = torch.linalg.eig(P.T)  # a second, independent reference: the eigenvector of eigenvalue 1
    eig = V[:, torch.argmin((w - 1).abs())].real
    torch.testing.assert_close(eig / eig.sum(), ref, rtol=1e-6, atol=0)
    mu32 = stationary_distribution(P.float())
    assert mu32.dtype == torch.float32
    torch.testing.assert_close(mu32.double(), ref, rtol=1e-4, atol=0)
    torch.testing.assert_close(stationary_distribution(P), ref, rtol=1e-10, atol=0)
    # the same chain inside a batch, in a batch shape of its own
    batch = torch.stack([P.float(), torch.eye(P.shape[0]).roll(1, 0) * 0.5 + 0.5 / P.shape[0]])
    torch.testing.assert_close(stationary_distribution(batch[None])[0, 0].double(), ref, rtol=1e-4, atol=0)


def test_stationary_law_balances_the_flow_across_a_tiny_cut():
    """Two blocks joined only by 0 → 2 (probability ε) and 3 → 0 (probability 3ε): in the stationary
    law the flows across the cut balance, μ_0·ε = μ_3·3ε, whatever ε is (float32 input)."""
    for eps in (1e-3, 1e-6, 1e-7):
        P = torch.tensor(
            [[0.5, 0.5 - eps, eps, 0.0], [0.3, 0.7, 0.0, 0.0], [0.0, 0.0, 0.6, 0.4], [3 * eps, 0.0, 0.2, 0.8 - 3 * eps]]
        )
        mu = stationary_distribution(P).double()
        assert abs(float(mu[0] / mu[3]) - 3.0) < 3e-5, eps


def test_textbook_solve_agrees_with_gth_on_well_conditioned_chains():
    pi = sample_dirichlet(1.0, (2000, 6), 6, torch.Generator().manual_seed(1), "cpu").double()
    pi = pi / pi.sum(-1, keepdim=True)  # rows that sum to 1 in float64 (GTH ignores the diagonal, LU does not)
    torch.testing.assert_close(
        stationary_distribution(pi, method="solve"), stationary_distribution(pi), rtol=1e-8, atol=1e-12
    )


def test_stationary_law_rejects_non_square_input_and_unknown_methods():
    with pytest.raises(ValueError, match="P must be square"):
        stationary_distribution(torch.ones(3, 4))
    with pytest.raises(ValueError, match="method must be"):
        stationary_distribution(torch.eye(3), method="power")


# --- the prior ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_gamma_variates_follow_the_gamma_law(backend):
    """PIT through the regularised incomplete gamma function, on both halves of the two CPU streams
    (``numpy``) and on the path other devices run (``torch``)."""
    settings = SamplerSettings(gamma_source=backend)
    for a in (0.1, 2.5):
        x = sample_gamma(a, (200, 500), torch.Generator().manual_seed(3), "cpu", settings=settings).double()
        assert x.dtype == torch.float64 and x.shape == (200, 500)
        u = torch.special.gammainc(torch.tensor(a, dtype=torch.float64), x).reshape(-1)
        for half in u.chunk(2):  # each stream on its own
            counts = torch.bincount((half * 20).long().clamp(0, 19), minlength=20)
            assert gof_pvalue(counts, torch.full((20,), 0.05)) > P_MIN, (backend, a)


def test_gamma_stream_does_not_depend_on_the_worker_thread():
    def draw(thread_min):
        settings = SamplerSettings(thread_min=thread_min)
        return sample_gamma(0.1, (1 << 15,), torch.Generator().manual_seed(4), "cpu", settings=settings)

    assert torch.equal(draw(0), draw(1 << 62))


def test_dirichlet_rows_have_the_prior_mean_and_variance():
    S, a, n = 4, 0.3, 200_000
    x = sample_dirichlet(a, (n,), S, torch.Generator().manual_seed(3), "cpu")
    assert x.shape == (n, S) and torch.allclose(x.sum(-1), torch.ones(n))
    var = (1 / S) * (1 - 1 / S) / (S * a + 1)
    for j in range(S):
        assert abs(float(x[:, j].mean()) - 1 / S) < 5 * math.sqrt(var / n)
        assert abs(float(x[:, j].var()) - var) < 0.02 * var


# --- single parent: a fixed law -------------------------------------------------------------------
@pytest.mark.parametrize("parents", [chain(12), random_tree(12, seed=3)], ids=["chain", "random tree"])
def test_transitions_follow_the_fixed_law(parents):
    task = SingleParentTask(4, 12, parents)
    b = task.sample_given_law(PI4, 4000, torch.Generator().manual_seed(0))
    assert gof_pvalue(transition_counts(b.tokens, parents, 4), PI4) > P_MIN


def test_a_wrong_transition_law_is_detected():
    task = SingleParentTask(4, 12, chain(12))
    b = task.sample_given_law(PI4, 4000, torch.Generator().manual_seed(0))
    wrong = PI4.clone()
    wrong[0, :2] += torch.tensor([-0.05, 0.05])
    assert gof_pvalue(transition_counts(b.tokens, chain(12), 4), wrong) < 1e-6


def test_roots_follow_the_stationary_law_of_the_fixed_law():
    task = SingleParentTask(4, 20, icl_pairs(20))  # ten roots per sequence
    b = task.sample_given_law(PI4, 4000, torch.Generator().manual_seed(1), return_law=True)
    mu = reference_stationary(PI4)
    torch.testing.assert_close(b.mu[0].double(), mu, rtol=1e-5, atol=0)
    roots = torch.bincount(b.tokens[:, [i for i, p in enumerate(icl_pairs(20)) if p < 0]].reshape(-1), minlength=4)
    assert gof_pvalue(roots, mu) > P_MIN
    assert gof_pvalue(roots, torch.full((4,), 0.25)) < 1e-6  # μ is far from uniform: the test has power


def test_query_is_uniform_and_the_label_is_its_row_under_the_fixed_law():
    task = SingleParentTask(4, 8, chain(8))
    b = task.sample_given_law(PI4, 8000, torch.Generator().manual_seed(2))
    q = b.tokens[:, -1]
    assert gof_pvalue(torch.bincount(q, minlength=4), torch.full((4,), 0.25)) > P_MIN
    assert torch.equal(b.labels, PI4[q])


def test_a_given_law_is_checked():
    task = SingleParentTask(4, 8, chain(8))
    with pytest.raises(ValueError, match=r"pi must have shape \(4, 4\) or \(n, 4, 4\)"):
        task.sample_given_law(torch.full((3, 3), 1 / 3), 10)
    with pytest.raises(ValueError, match="every row of pi must sum to 1"):
        task.sample_given_law(torch.full((4, 4), 0.3), 10)
    negative = PI4.clone()
    negative[0, 0], negative[0, 3] = 0.8, -0.05  # the row still sums to 1
    with pytest.raises(ValueError, match="finite non-negative entries"):
        task.sample_given_law(negative, 10)
    with pytest.raises(TypeError, match="pi must be a torch.Tensor"):
        task.sample_given_law(PI4.tolist(), 10)


# --- single parent: the law each sequence drew ----------------------------------------------------
@pytest.fixture(scope="module")
def random_batch():
    task = SingleParentTask(6, 12, random_tree(12, seed=2), alpha=0.5)
    return task, task.sample(20000, torch.Generator().manual_seed(7), return_law=True)


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
    assert gof_pvalue(torch.bincount(q, minlength=task.S), torch.full((task.S,), 1 / task.S)) > P_MIN
    assert torch.equal(b.labels, b.pi[torch.arange(len(q)), q])


def test_the_returned_law_is_the_prior_and_mu_is_its_stationary_law(random_batch):
    task, b = random_batch
    n, S = b.tokens.shape[0], task.S
    assert b.pi.shape == (n, S, S) and b.mu.shape == (n, S)
    assert torch.allclose(b.pi.sum(-1), torch.ones(n, S)) and float(b.pi.min()) >= 0
    resid = (torch.einsum("nij,ni->nj", b.pi, b.mu) - b.mu).abs().sum(-1)
    assert float(resid.max()) < 1e-5
    # each entry of a Dirichlet(0.5·1_6) row has mean 1/6 and variance (1/6)(5/6)/4
    se = math.sqrt((1 / 6) * (5 / 6) / 4 / (n * S))
    assert (b.pi.mean((0, 1)) - 1 / 6).abs().max() < 5 * se


def test_paper_setting_chain_follows_its_laws():
    """S = 10, α = 0.1 (many nearly reducible chains): the root and every transition, by PIT."""
    task = SingleParentTask(10, 20, chain(20), alpha=0.1)
    b = task.sample(20000, torch.Generator().manual_seed(8), return_law=True)
    n = b.tokens.shape[0]
    assert pit_pvalue(b.tokens[:, 0], b.mu) > P_MIN
    rows = b.pi[torch.arange(n)[:, None], b.tokens[:, :18]]  # (n, 18, S): the row of each parent
    assert pit_pvalue(b.tokens[:, 1:19].reshape(-1), rows.reshape(-1, 10)) > P_MIN


def test_a_wrong_law_is_detected():
    """The PIT test has power: chain children checked against the row of the wrong parent token."""
    task = SingleParentTask(6, 12, chain(12), alpha=0.5)
    b = task.sample(5000, torch.Generator().manual_seed(1), return_law=True)
    n = b.tokens.shape[0]
    wrong = torch.stack([b.pi[torch.arange(n), (b.tokens[:, i - 1] + 1) % 6] for i in range(1, 11)], 1)
    assert pit_pvalue(b.tokens[:, 1:11].reshape(-1), wrong.reshape(-1, 6)) < 1e-6


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_large_batches_drawn_in_chunks_follow_their_laws(backend):
    """Chunks of 70 sequences (the real chunk is ~20k): the pieces join into one valid batch, on the
    CPU path and on the torch-gamma path that other devices run."""
    settings = SamplerSettings(chunk_entries=70 * 25, gamma_source=backend)
    task = SingleParentTask(5, 10, random_tree(10, seed=4), alpha=0.5, settings=settings)
    b = task.sample(5000, torch.Generator().manual_seed(9), return_law=True)
    assert b.tokens.shape == (5000, 10) and b.pi.shape == (5000, 5, 5) and b.mu.shape == (5000, 5)
    n = 5000
    kids = [i for i, p in enumerate(task.parents) if p >= 0]
    roots = [i for i, p in enumerate(task.parents) if p < 0]
    rows = torch.stack([b.pi[torch.arange(n), b.tokens[:, task.parents[i]]] for i in kids], 1)
    assert pit_pvalue(b.tokens[:, kids].reshape(-1), rows.reshape(-1, 5)) > P_MIN
    mu = b.mu[:, None].expand(-1, len(roots), -1).reshape(-1, 5)
    assert pit_pvalue(b.tokens[:, roots].reshape(-1), mu) > P_MIN
    assert torch.equal(b.labels, b.pi[torch.arange(n), b.tokens[:, -1]])


# --- multi-parent -----------------------------------------------------------------------------------
def _row(tokens, parents, S):
    r = torch.zeros(tokens.shape[0], dtype=torch.long)
    for p in parents:
        r = r * S + tokens[:, p]
    return r


def test_multi_parent_children_follow_the_fixed_table_and_roots_are_uniform():
    S, T = 3, 10
    task = MultiParentTask(S, T, multi_parent_dag(T), alpha=0.5)
    table = sample_dirichlet(2.0, (S * S,), S, torch.Generator().manual_seed(0), "cpu")
    table = (table + 0.1) / (table + 0.1).sum(-1, keepdim=True)  # every entry >= 0.1/1.3
    b = task.sample_given_law({2: table}, 4000, torch.Generator().manual_seed(5), return_law=True)
    counts = torch.zeros(S * S, S, dtype=torch.long)
    for i in range(2, T):
        counts += torch.bincount(
            _row(b.tokens, task.parent_lists[i], S) * S + b.tokens[:, i], minlength=S * S * S
        ).reshape(S * S, S)
    assert gof_pvalue(counts, table) > P_MIN
    wrong = table.roll(1, 0)
    assert gof_pvalue(counts, wrong) < 1e-6
    roots = torch.bincount(b.tokens[:, :2].reshape(-1), minlength=S)
    assert gof_pvalue(roots, torch.full((S,), 1 / S)) > P_MIN
    assert torch.equal(b.labels, table[_row(b.tokens, task.parent_lists[T], S)])
    assert torch.equal(b.pi, table.expand(4000, -1, -1))


def _root_pairs(task: MultiParentTask, n: int, seed: int, given: bool) -> torch.Tensor:
    """The counts ``N[a, b]`` of the two roots ``(s_0, s_1) = (a, b)`` over ``n`` sequences."""
    g = torch.Generator().manual_seed(seed)
    if given:
        b = task.sample_given_law({2: torch.full((task.S**2, task.S), 1 / task.S)}, n, g)
    else:
        b = task.sample(n, g)
    return torch.bincount(b.tokens[:, 0] * task.S + b.tokens[:, 1], minlength=task.S**2).reshape(task.S, task.S)


@pytest.mark.parametrize("given", [False, True], ids=["prior", "given tables"])
def test_multi_parent_roots_follow_their_law(given):
    """Under "dirichlet" the two roots of a sequence are i.i.d. from one ν ~ Dirichlet(α·1): so
    P(s_0 = a, s_1 = b) = E[ν_a ν_b] = α(α + [a = b]) / (Sα (Sα + 1)), a symmetric (exchangeable) law
    that favours agreement; under "uniform" every pair has 1/S². Pearson's test of the pair counts
    against each law (24 degrees of freedom, false-alarm rate 1e-3), and each is rejected for the
    other's data (power)."""
    S, T, alpha, n = 5, 12, 0.3, 20_000
    same = torch.eye(S, dtype=torch.float64)
    shared = alpha * (alpha + same) / (S * alpha * (S * alpha + 1))
    assert abs(float(shared.sum()) - 1) < 1e-12
    flat = torch.full((S, S), 1 / S**2, dtype=torch.float64)
    dirichlet = _root_pairs(MultiParentTask(S, T, multi_parent_dag(T), alpha, root_law="dirichlet"), n, 3, given)
    uniform = _root_pairs(MultiParentTask(S, T, multi_parent_dag(T), alpha), n, 4, given)
    assert gof_pvalue(dirichlet.reshape(1, -1), shared.reshape(1, -1)) > P_MIN
    assert gof_pvalue(uniform.reshape(1, -1), flat.reshape(1, -1)) > P_MIN
    assert gof_pvalue(dirichlet.reshape(1, -1), flat.reshape(1, -1)) < 1e-6
    assert gof_pvalue(uniform.reshape(1, -1), shared.reshape(1, -1)) < 1e-6


def test_multi_parent_uniform_roots_leave_the_stream_unchanged_and_the_law_is_checked():
    """root_law="uniform" is the default: the same batch with and without naming it (and, checked by
    hand when the option came, bit-identical to the sampler before it: 50,000 sequences at S = 5,
    T = 32); an unknown law is refused, naming the argument."""
    a = MultiParentTask(3, 8, multi_parent_dag(8), 0.5).sample(300, torch.Generator().manual_seed(1))
    b = MultiParentTask(3, 8, multi_parent_dag(8), 0.5, root_law="uniform").sample(
        300, torch.Generator().manual_seed(1)
    )
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.labels, b.labels)
    assert MultiParentTask(3, 8, multi_parent_dag(8), 0.5, root_law="dirichlet").describe()["root_law"] == "dirichlet"
    with pytest.raises(ValueError, match="root_law"):
        MultiParentTask(3, 8, multi_parent_dag(8), 0.5, root_law="stationary")


def test_multi_parent_children_follow_their_drawn_table_row():
    task = MultiParentTask(3, 10, multi_parent_dag(10), alpha=0.5)
    b = task.sample(20000, torch.Generator().manual_seed(4), return_law=True)
    n, S = b.tokens.shape[0], task.S
    rows = torch.stack([b.pi[torch.arange(n), _row(b.tokens, task.parent_lists[i], S)] for i in range(2, 10)], 1)
    assert pit_pvalue(b.tokens[:, 2:].reshape(-1), rows.reshape(-1, S)) > P_MIN
    assert gof_pvalue(torch.bincount(b.tokens[:, :2].reshape(-1), minlength=S), torch.full((S,), 1 / S)) > P_MIN
    assert torch.equal(b.labels, b.pi[torch.arange(n), _row(b.tokens, task.parent_lists[10], S)])


def test_multi_parent_mixed_numbers_of_parents():
    """One- and two-parent positions use separate tables; the label uses the target's."""
    lists = [(), (0,), (0, 1), (2,), (1, 3), (4,)]
    task = MultiParentTask(3, 5, lists, alpha=0.5)
    assert task.ks == [1, 2]
    t1 = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    t2 = sample_dirichlet(3.0, (9,), 3, torch.Generator().manual_seed(1), "cpu")
    b = task.sample_given_law({1: t1, 2: t2}, 6000, torch.Generator().manual_seed(6), return_law=True)
    c1 = sum(torch.bincount(b.tokens[:, lists[i][0]] * 3 + b.tokens[:, i], minlength=9).reshape(3, 3) for i in (1, 3))
    assert gof_pvalue(c1, t1) > P_MIN
    c2 = sum(
        torch.bincount(_row(b.tokens, lists[i], 3) * 3 + b.tokens[:, i], minlength=27).reshape(9, 3) for i in (2, 4)
    )
    assert gof_pvalue(c2, t2) > P_MIN
    assert torch.equal(b.labels, t1[b.tokens[:, 4]]) and b.pi.shape == (6000, 3, 3)


# --- determinism and the plain way -----------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [lambda: SingleParentTask(10, 20, icl_pairs(20)), lambda: MultiParentTask(5, 12, multi_parent_dag(12))],
    ids=["single", "multi"],
)
def test_same_seed_same_batch_other_seed_other_batch(make, monkeypatch):
    task = make()
    draw = lambda seed: task.sample(3000, torch.Generator().manual_seed(seed), return_law=True)  # noqa: E731
    a, b, c = draw(0), draw(0), draw(1)
    for f in ("tokens", "labels", "pi", "mu"):
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None and y is None) or torch.equal(x, y), f
    assert not torch.equal(a.tokens, c.tokens)
    task.settings = SamplerSettings(thread_min=1 << 62)  # the gamma worker thread changes nothing
    assert torch.equal(draw(0).tokens, a.tokens)
    tokens, labels = task.sample(64, torch.Generator().manual_seed(0))  # a batch unpacks as (tokens, labels)
    assert tokens.shape == (64, task.T) and tokens.dtype == torch.long and labels.shape == (64, task.S)
    assert labels.dtype == torch.float32 and torch.allclose(labels.sum(-1), torch.ones(64))


def test_a_generator_continues_its_stream_and_no_generator_means_seed_0():
    task = SingleParentTask(5, 8, chain(8))
    g = torch.Generator().manual_seed(0)
    first, second = task.sample(32, g), task.sample(32, g)
    assert not torch.equal(first.tokens, second.tokens)
    assert torch.equal(task.sample(32).tokens, first.tokens)


def _bench_sampler():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sampler.py"
    spec = importlib.util.spec_from_file_location("bench_sampler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _distinct(tokens: torch.Tensor, S: int) -> torch.Tensor:
    """How many sequences hold 1, 2, …, S distinct tokens (sensitive to α, μ and the graph)."""
    d = torch.nn.functional.one_hot(tokens, S).amax(1).sum(-1)
    return torch.bincount(d - 1, minlength=S)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SingleParentTask(5, 8, random_tree(8, seed=1), alpha=0.3),
        lambda: MultiParentTask(3, 8, multi_parent_dag(8), alpha=0.3),
    ],
    ids=["single", "multi"],
)
def test_the_plain_pytorch_way_and_ours_agree_in_distribution(make):
    """benchmarks/bench_sampler.py's baseline (torch.distributions.Dirichlet, a linear solve, one
    torch.multinomial per position) against ours: number of distinct tokens and the label's largest entry."""
    bench, task, n = _bench_sampler(), make(), 20000
    torch.manual_seed(0)  # the plain way draws from torch's global generator
    plain = bench.plain_multi if task.kind == "multi" else bench.plain_single
    tokens_p, labels_p = plain(task, n)
    tokens_o, labels_o = task.sample(n, torch.Generator().manual_seed(0))
    assert homogeneity_pvalue(_distinct(tokens_p, task.S), _distinct(tokens_o, task.S)) > P_MIN
    edges = torch.linspace(0, 1, 11)[1:-1]
    peak = lambda labels: torch.bincount(torch.bucketize(labels.amax(-1), edges), minlength=10)  # noqa: E731
    assert homogeneity_pvalue(peak(labels_p), peak(labels_o)) > P_MIN


def test_the_sampler_ablations_change_speed_only():
    """benchmarks/bench_sampler.py times our sampler with one choice undone: each variant must draw
    the same law (the fill by position the very same tokens, the float64 solve the same μ)."""
    bench, task = _bench_sampler(), SingleParentTask(10, 20, random_tree(20, seed=0))
    slow = bench._one_position_per_level(task)
    assert len(slow._groups) == 19 - task._n_roots > len(task._groups)
    ours, by_position = (t.sample(2000, torch.Generator().manual_seed(3), return_law=True) for t in (task, slow))
    assert torch.equal(ours.tokens, by_position.tokens) and torch.equal(ours.labels, by_position.labels)
    P = torch.distributions.Dirichlet(torch.full((10,), 0.5)).sample((500, 10))
    A = P.permute(1, 2, 0).contiguous()  # (S, S, n): A[i, j, m] = π_m[i, j]
    by_solve = priors._stationary_batch_last(A.clone(), SamplerSettings(stationary="solve"))
    assert torch.allclose(by_solve, priors._gth_(A.clone()), atol=1e-5)
    for fields in bench.UNDO.values():  # each undone choice still follows the prior (a coarse check)
        other = bench.undone(task, fields).sample(2000, torch.Generator().manual_seed(3))
        assert homogeneity_pvalue(_distinct(ours.tokens, 10), _distinct(other.tokens, 10)) > P_MIN


def test_the_sampler_ablations_run_on_every_case():
    """bench_sampler.ablations itself (it reads the task's fill groups), one round at a tiny batch: every choice
    is timed for every case, and the fill by position only where a level holds more than one position."""
    bench = _bench_sampler()
    for case in bench.CASES:
        res = bench.ablations(case, 64, rounds=1)
        assert set(bench.UNDO) <= set(res["speedup"]), case
        assert ("fill by depth level (vs by position)" in res["speedup"]) == case.startswith("random tree"), case


# --- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(S=1), ValueError, "S must be at least 2"),
        (dict(S=2.5), TypeError, "S must be an int"),
        (dict(T=2, parents=(-1,)), ValueError, "T must be an int >= 3"),
        (dict(T="5"), TypeError, "T must be an int >= 3"),
        (dict(alpha=0.0), ValueError, "alpha must be a positive finite number"),
        (dict(alpha=-1.0), ValueError, "alpha must be a positive finite number"),
        (dict(alpha=float("nan")), ValueError, "alpha must be a positive finite number"),
        (dict(alpha=float("inf")), ValueError, "alpha must be a positive finite number"),
        (dict(alpha="a lot"), TypeError, "alpha must be a positive finite number"),
        (dict(alpha=True), TypeError, "alpha must be a positive finite number"),
        (dict(parents=(-1, 0)), ValueError, "parents must have length T-1 = 4"),
        (
            dict(parents=(-1, 0, 3, 1)),
            ValueError,
            r"parents\[2\] = 3 is invalid: a parent must be -1 \(root\) or an earlier",
        ),
        (dict(parents=(-1, 0, 1, 7)), ValueError, r"parents\[3\] = 7 is invalid"),
    ],
)
def test_bad_single_parent_arguments_name_the_argument_and_rule(kwargs, error, match):
    args = dict(S=3, T=5, parents=chain(5), alpha=0.1)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        SingleParentTask(**args)


@pytest.mark.parametrize(
    "lists, T, match",
    [
        (multi_parent_dag(6), 7, r"parent_lists must have length T\+1 = 8"),
        (((), (0,), (2,), (1,)), 3, r"parent_lists\[2\] contains 2: parents must be earlier positions"),
        (((), (0,), (1, 1), (2,)), 3, "repeats a parent"),
        (((), (0,), (1,), ()), 3, r"the target\) must have at least one parent"),
    ],
)
def test_bad_multi_parent_arguments_name_the_argument_and_rule(lists, T, match):
    with pytest.raises(ValueError, match=match):
        MultiParentTask(3, T, lists)


def test_multi_parent_tables_must_be_given_for_every_number_of_parents():
    task = MultiParentTask(3, 6, multi_parent_dag(6))
    with pytest.raises(ValueError, match=r"tables must map each number of parents \[2\]"):
        task.sample_given_law({1: torch.full((3, 3), 1 / 3)}, 10)
    with pytest.raises(ValueError, match=r"tables\[2\] must have shape \(9, 3\)"):
        task.sample_given_law({2: torch.full((3, 3), 1 / 3)}, 10)


@pytest.mark.parametrize("n, error", [(0, ValueError), (-3, ValueError), (2.0, TypeError), (True, TypeError)])
def test_bad_sample_size_is_rejected(n, error):
    for task in (SingleParentTask(3, 5, chain(5)), MultiParentTask(3, 5, multi_parent_dag(5))):
        with pytest.raises(error, match=r"n \(the number of sequences\) must be a positive int"):
            task.sample(n)


def test_checkers_return_clean_values():
    assert check_alpha(0.1) == 0.1 and check_alpha(1) == 1.0 and check_vocab(10) == 10
    with pytest.raises(TypeError, match="S must be an int"):
        check_vocab(True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_sampler_runs_on_the_gpu_and_follows_its_laws():
    task = SingleParentTask(6, 12, random_tree(12, seed=2), alpha=0.5, device="cuda")
    b = task.sample(20000, torch.Generator(device="cuda").manual_seed(7), return_law=True)
    assert b.tokens.device.type == "cuda"
    tokens, pi, mu = b.tokens.cpu(), b.pi.cpu(), b.mu.cpu()
    kids = [i for i, p in enumerate(task.parents) if p >= 0]
    rows = torch.stack([pi[torch.arange(20000), tokens[:, task.parents[i]]] for i in kids], 1)
    assert pit_pvalue(tokens[:, kids].reshape(-1), rows.reshape(-1, 6)) > P_MIN
    assert pit_pvalue(tokens[:, 0], mu) > P_MIN


def _sample_in_child(queue):
    torch.set_num_threads(1)  # torch's own OpenMP pool does not survive a fork either (not ours to test)
    task = SingleParentTask(10, 20, chain(20))
    queue.put(task.sample(1024, torch.Generator().manual_seed(0)).tokens.sum().item())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_process_draws_its_gamma_variates_with_a_worker_of_its_own():
    """The parent's worker thread does not survive a fork; the child must not wait for it."""
    SingleParentTask(10, 20, chain(20)).sample(1024)  # the parent's worker thread now exists
    expected = SingleParentTask(10, 20, chain(20)).sample(1024, torch.Generator().manual_seed(0)).tokens.sum().item()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_sample_in_child, args=(queue,))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung")
    assert child.exitcode == 0 and queue.get(timeout=5) == expected
