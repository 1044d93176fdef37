"""Chapters 1 and 2: their figures (``causal_tutorial.plots``) and the exercise checks."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from causal_tutorial import plots  # noqa: E402
from causal_tutorial.estimators import in_context_estimator, unigram_predictor  # noqa: E402
from causal_tutorial.exercises.graphs import check_expected_roots, check_interleaved_chains, check_needs_graph  # noqa: E402
from causal_tutorial.exercises.markov import check_chain_estimator, check_power_iteration, check_unigram_loss_reason  # noqa: E402
from causal_tutorial.graphs import chain, icl_pairs, random_forest, random_tree  # noqa: E402
from causal_tutorial.priors import stationary_distribution  # noqa: E402

T = 20


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ---- figures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parents",
    [chain(T), icl_pairs(T), random_tree(T, seed=1), random_forest(T, seed=2)],
    ids=["chain", "icl", "random", "forest"],
)
def test_draw_parents_draws_one_arc_per_child_and_marks_roots(parents):
    ax = plots.draw_parents(parents, tokens=list(range(T)))
    n_children = sum(p >= 0 for p in parents)
    assert len(ax.patches) == n_children, "one arc per parent-child edge"
    assert ax.get_title() and ax.get_xlabel() == "position i"
    node_colors = ax.collections[0].get_facecolors()
    n_roots = sum(p < 0 for p in parents)
    assert sum(np.allclose(c[:3], matplotlib.colors.to_rgb(plots.ROOT_COLOR)) for c in node_colors) == n_roots


def test_draw_adjacency_shows_the_adjacency_matrix():
    parents = random_tree(T, seed=3)
    ax = plots.draw_adjacency(parents)
    shown = ax.images[0].get_array()
    expected = np.zeros((T, T))
    for i, p in enumerate(parents):
        if p >= 0:
            expected[i, p] = 1
    np.testing.assert_array_equal(np.asarray(shown), expected)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_draw_parents_rejects_tokens_of_the_wrong_length():
    with pytest.raises(ValueError, match="tokens must have length"):
        plots.draw_parents(chain(T), tokens=[0] * (T - 1))


def test_draw_parents_rejects_an_invalid_parent_array():
    with pytest.raises(ValueError, match="parents"):
        plots.draw_parents([-1, 0, 5, 1])


def test_gallery_and_chapter_figures_draw_without_error(figure_tables):
    fig = plots.draw_graph_gallery({"chain": chain(T), "icl": icl_pairs(T)}, suptitle="two graphs")
    assert len(fig.axes) == 4
    P = {a: torch.distributions.Dirichlet(torch.full((5,), a)).sample((5,)).numpy() for a in (0.1, 1.0)}
    assert len(plots.plot_transition_rows(P, title="rows").axes) == 3  # two panels and a colour bar
    assert plots.plot_token_sequences(torch.randint(0, 10, (3, T)), title="sequences").get_title() == "sequences"
    fig = plots.plot_mixing({"α = 0.1": np.array([0.01, 0.2])}, {"GTH": np.array([1e-16, 2e-16])}, title="mixing")
    assert len(fig.axes) == 2
    ax = plots.plot_bayes_convergence({16: (1.9, 0.01), 64: (1.8, 0.01)}, {"estimator": 1.77})
    assert ax.get_xlabel() and ax.get_ylabel()
    table, fam, mism = (figure_tables[k] for k in ("baselines", "families", "mismatch"))
    assert len(plots.plot_graph_mismatch(mism, title="mismatch").patches) == 4


# ---- chapter 1 exercises ---------------------------------------------------------------------


def _bigram(tokens, S, alpha):
    match = (tokens[:, :-2] == tokens[:, -1:]).float()
    counts = (match.unsqueeze(-1) * F.one_hot(tokens[:, 1:-1], S)).sum(1)
    return (counts + alpha) / (counts.sum(-1, keepdim=True) + S * alpha)


def test_check_chain_estimator_accepts_the_bigram_estimator():
    assert check_chain_estimator(_bigram)
    assert check_chain_estimator(
        lambda tokens, S, alpha: in_context_estimator(tokens, chain(tokens.shape[1]), S, alpha)
    )


def test_check_chain_estimator_rejects_counting_the_query_pair():
    def wrong(tokens, S, alpha):  # also counts (s_{T-2}, s_{T-1})
        match = (tokens[:, :-1] == tokens[:, -1:]).float()
        counts = (match.unsqueeze(-1) * F.one_hot(tokens[:, 1:], S)).sum(1)
        return (counts + alpha) / (counts.sum(-1, keepdim=True) + S * alpha)

    with pytest.raises(AssertionError, match="query"):
        check_chain_estimator(wrong)


def test_check_chain_estimator_rejects_the_unigram_and_a_wrong_shape():
    with pytest.raises(AssertionError):
        check_chain_estimator(unigram_predictor)
    with pytest.raises(AssertionError, match="shape"):
        check_chain_estimator(lambda tokens, S, alpha: torch.full((tokens.shape[0], S + 1), 1 / (S + 1)))


def _power_iteration(P, tol=1e-13, max_steps=100_000):
    mu = torch.full(P.shape[:-1], 1.0 / P.shape[-1], dtype=P.dtype)
    for _ in range(max_steps):
        new = torch.einsum("nab,na->nb", P, mu)
        if (new - mu).abs().max() < tol:
            break
        mu = new
    return new / new.sum(-1, keepdim=True)


def test_check_power_iteration_accepts_power_iteration_and_gth():
    assert check_power_iteration(_power_iteration)
    assert check_power_iteration(stationary_distribution)


def test_check_power_iteration_rejects_too_few_steps_and_the_transposed_update():
    def few_steps(P):
        mu = torch.full(P.shape[:-1], 1.0 / P.shape[-1], dtype=P.dtype)
        for _ in range(2):
            mu = torch.einsum("nab,na->nb", P, mu)
        return mu / mu.sum(-1, keepdim=True)

    def transposed(P):  # μ ← P μ: the right eigenvector, which is constant
        mu = torch.full(P.shape[:-1], 1.0 / P.shape[-1], dtype=P.dtype)
        for _ in range(200):
            mu = torch.einsum("nab,nb->na", P, mu)
        return mu / mu.sum(-1, keepdim=True)

    for wrong in (few_steps, transposed):
        with pytest.raises(AssertionError, match="GTH"):
            check_power_iteration(wrong)


def test_check_unigram_loss_reason_accepts_b_only():
    assert check_unigram_loss_reason("b")
    assert check_unigram_loss_reason("(B)")
    for wrong in ("a", "c", "d"):
        with pytest.raises(AssertionError):
            check_unigram_loss_reason(wrong)
    with pytest.raises(AssertionError, match="one letter"):
        check_unigram_loss_reason("e")


# ---- chapter 2 exercises ---------------------------------------------------------------------


def test_check_interleaved_chains_accepts_the_answer():
    assert check_interleaved_chains([-1, -1] + [i - 2 for i in range(2, T - 1)])


@pytest.mark.parametrize(
    "wrong",
    [
        chain(T),
        [-1] + [i - 2 if i >= 2 else -1 for i in range(1, T - 1)][:-1],
        [-1, 0] + [i - 2 for i in range(2, T - 1)],
        [-1, -1, 3],
    ],
    ids=["chain", "short", "second-root-missing", "invalid"],
)
def test_check_interleaved_chains_rejects_wrong_arrays(wrong):
    with pytest.raises(AssertionError):
        check_interleaved_chains(wrong)


def test_check_needs_graph_accepts_estimator_and_bayes_only():
    assert check_needs_graph({"estimator", "bayes"})
    assert check_needs_graph(["Bayes", "estimator"])
    for wrong in ({"estimator"}, {"bayes"}, {"estimator", "bayes", "unigram"}, set()):
        with pytest.raises(AssertionError):
            check_needs_graph(wrong)
    with pytest.raises(AssertionError, match="unknown"):
        check_needs_graph({"transformer"})


def test_check_expected_roots_accepts_the_exact_values_and_matches_simulation():
    harmonic = sum(1 / (i + 1) for i in range(T - 1))
    assert check_expected_roots("random", harmonic)
    assert check_expected_roots("forest", 10)
    # the exact values agree with the package's samplers
    g = torch.Generator().manual_seed(0)
    trees = [sum(p < 0 for p in random_tree(T, generator=g)) for _ in range(3000)]
    forests = [sum(p < 0 for p in random_forest(T, generator=g)) for _ in range(3000)]
    assert abs(np.mean(trees) - harmonic) < 0.1
    assert abs(np.mean(forests) - 10) < 0.15


def test_check_expected_roots_rejects_wrong_values_and_families():
    with pytest.raises(AssertionError):
        check_expected_roots("random", 19 / 2)
    with pytest.raises(AssertionError):
        check_expected_roots("forest", 9)
    with pytest.raises(ValueError, match="family"):
        check_expected_roots("chain", 1)
