"""Chapters 3 and 4: the circuit helpers (``causal_tutorial.circuits``) and the exercise checks."""

import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from causal_tutorial import analysis, plots  # noqa: E402
from causal_tutorial.estimators import (  # noqa: E402
    in_context_estimator,
    matching_children_average,
    readout_floor,
    soft_cross_entropy_from_logits,
)
from causal_tutorial.exercises.training import check_recovers_graph, check_zero_init_gradients  # noqa: E402
from causal_tutorial.exercises.transformer import check_layer1_matrix, check_readout_constant  # noqa: E402
from causal_tutorial.graphs import chain, icl_pairs, random_tree  # noqa: E402
from causal_tutorial.models import DisentangledTransformer, block_slices, induction_head  # noqa: E402
from causal_tutorial.tasks import SingleParentTask  # noqa: E402
from causal_tutorial.training import TrainConfig, train  # noqa: E402

S, T = 10, 20


@pytest.fixture(scope="module")
def chain_batch():
    return SingleParentTask(S, T, chain(T), alpha=0.1).sample(2048, torch.Generator().manual_seed(5))


# ---- chapter 3 -----------------------------------------------------------------------------


def test_residual_stream_holds_the_input_and_the_parents_token(chain_batch):
    tokens = chain_batch.tokens[:16]
    head = induction_head(S, T, chain(T), beta=30.0)
    h1 = analysis.residual_stream(head, tokens)
    blocks = dict(block_slices(S, T, (1, 1), 2))
    assert h1.shape == (16, T, 2 * (S + T))
    assert torch.equal(h1[..., blocks["tok"]], torch.nn.functional.one_hot(tokens, S).float())
    gathered = h1[:, 1 : T - 1, blocks["L1h0·tok"]]
    torch.testing.assert_close(gathered, torch.nn.functional.one_hot(tokens[:, : T - 2], S).float(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("parents", [chain(T), icl_pairs(T), random_tree(T, seed=2)], ids=["chain", "icl", "random"])
def test_matching_children_mask_counts_what_the_estimator_counts(parents):
    tokens, _ = SingleParentTask(S, T, parents).sample(512, torch.Generator().manual_seed(6))
    _, counts = matching_children_average(tokens, parents, S)
    mask = analysis.matching_children_mask(tokens, parents)
    assert torch.equal(mask.sum(-1).to(counts.dtype), counts)
    roots = [i for i, p in enumerate(parents) if p < 0] + [T - 1]
    assert not mask[:, roots].any(), "roots and the query are never matching children"


def test_query_layer2_output_is_the_matching_children_average(chain_batch):
    tokens = chain_batch.tokens
    v, counts = matching_children_average(tokens, chain(T), S)
    v_model = analysis.query_layer2_token_average(induction_head(S, T, chain(T), beta=30.0), tokens)
    torch.testing.assert_close(v_model[counts > 0], v[counts > 0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("parents", [chain(T), icl_pairs(T)], ids=["chain", "icl"])
def test_smoothing_the_exact_average_gives_the_in_context_estimator(parents):
    tokens, _ = SingleParentTask(S, T, parents).sample(1024, torch.Generator().manual_seed(7))
    v, counts = matching_children_average(tokens, parents, S)
    torch.testing.assert_close(
        analysis.smooth_like_estimator(v, counts, 0.3),
        in_context_estimator(tokens, parents, S, 0.3),
        atol=1e-6,
        rtol=1e-5,
    )


def test_hand_built_loss_settles_on_the_readout_floor_where_there_is_a_match(chain_batch):
    tokens, labels = chain_batch.tokens, chain_batch.labels
    _, counts = matching_children_average(tokens, chain(T), S)
    hit = counts > 0
    floor, c = readout_floor(tokens[hit], labels[hit], chain(T), S)
    losses = analysis.induction_head_losses(tokens[hit], labels[hit], chain(T), S, [0.0, 2.0, 4.0, 32.0], c)
    assert losses[0] > losses[1] > losses[2], "the loss falls as the attention sharpens"
    assert abs(losses[-1] - float(floor)) < 1e-3


def test_readout_loss_at_the_best_scale_is_the_floor(chain_batch):
    tokens, labels = chain_batch.tokens, chain_batch.labels
    floor, c = readout_floor(tokens, labels, chain(T), S)
    v, _ = matching_children_average(tokens, chain(T), S)
    assert abs(analysis.readout_loss(v, labels, c) - float(floor)) < 1e-4
    assert analysis.readout_loss(v, labels, c + 1.0) > float(floor)
    assert analysis.readout_loss(v, labels, c - 1.0) > float(floor)
    assert analysis.readout_loss(v, labels, c) == pytest.approx(
        float(soft_cross_entropy_from_logits(c * v, labels)), abs=1e-6
    )


def test_ideal_readout_is_uniform_without_a_match_and_the_softmax_readout_otherwise(chain_batch):
    tokens = chain_batch.tokens
    v, counts = matching_children_average(tokens, chain(T), S)
    f = analysis.ideal_readout(v, counts, 2.5)
    assert torch.allclose(f[counts == 0], torch.full_like(f[counts == 0], 1 / S))
    torch.testing.assert_close(f[counts > 0], torch.softmax(2.5 * v[counts > 0], -1))


def test_softmax_readout_of_agreeing_children_does_not_depend_on_their_number():
    d = analysis.agreeing_children_prediction(S, 0.1, 2.5, n_max=6)
    assert len(set(d["readout"].round(12))) == 1
    assert all(a < b for a, b in zip(d["estimator"], d["estimator"][1:])), "the estimator grows surer with N"
    assert d["estimator"][0] == pytest.approx(1.1 / 2.0)


def test_pick_example_returns_a_sequence_with_enough_matches(chain_batch):
    tokens = chain_batch.tokens
    i = analysis.pick_example(tokens, chain(T), S, min_matches=3)
    assert analysis.matching_children_mask(tokens[i : i + 1], chain(T)).sum() >= 3
    with pytest.raises(ValueError, match="min_matches"):
        analysis.pick_example(tokens[:4], chain(T), S, min_matches=T)


def test_chapter3_figures_draw(chain_batch):
    head = induction_head(S, T, chain(T), beta=20.0, c=3.0)
    ex = chain_batch.tokens[0]
    plots.plot_residual_stream(head, ex)
    plots.plot_attention_example(head, ex, chain(T))
    plots.plot_circuit_matrices(head, "title")
    plots.plot_loss_vs_beta([0, 1], [2.0, 1.9], {"estimator": 1.8, "readout_floor": 1.85})
    plots.plot_counting(S, 0.1, 2.5)
    plt.close("all")


# ---- chapter 4 -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run():
    task = SingleParentTask(5, 8, chain(8), alpha=0.1)
    model = DisentangledTransformer(5, 8)
    snaps = analysis.ParameterSnapshots()
    cfg = TrainConfig(steps=40, batch_size=128, optimizer="adamw", lr=0.05, eval_every=10, test_size=256, device="cpu")
    res = train(model, task, cfg, metrics=analysis.parent_metrics(task), callback=snaps, progress=False)
    return task, model, snaps, res


def test_snapshots_keep_every_evaluation_and_rebuild_the_model(tiny_run):
    task, model, snaps, res = tiny_run
    assert snaps.steps == [h["step"] for h in res.history] == [0, 10, 20, 30, 40]
    assert torch.count_nonzero(snaps[0]["A1"]) == 0 and torch.count_nonzero(snaps[0]["W"]) == 0
    rebuilt = snaps.model_at(40, 5, 8)
    tokens, _ = task.sample(16, torch.Generator().manual_seed(0))
    torch.testing.assert_close(rebuilt(tokens), model(tokens))
    assert not torch.equal(snaps[10]["W"], snaps[40]["W"]), "snapshots are copies, not views"


def test_lock_step_is_the_first_step_where_every_parent_is_recovered():
    hist = [
        {"step": 0, "parent_recovered": 0.0},
        {"step": 50, "parent_recovered": 0.0},
        {"step": 100, "parent_recovered": 1.0},
        {"step": 150, "parent_recovered": 1.0},
    ]
    assert analysis.lock_step(hist) == 100
    assert analysis.lock_step(hist[:2]) is None


def test_rows_on_parent_counts_the_zero_init_as_unlocked_and_the_hand_built_head_as_locked():
    snaps = analysis.ParameterSnapshots()
    snaps(0, DisentangledTransformer(S, T), {})
    snaps(1, induction_head(S, T, chain(T), beta=5.0), {})
    assert analysis.rows_on_parent(snaps, chain(T), S) == {0: 0, 1: T - 2}


def test_load_result_reads_a_result_file_or_returns_none(tmp_path):
    assert analysis.load_result(tmp_path / "missing" / "result.json") is None
    (tmp_path / "result.json").write_text(json.dumps({"history": [], "baselines": {}}))
    assert analysis.load_result(tmp_path / "result.json") == {"history": [], "baselines": {}}


def test_chapter4_figures_draw(tiny_run):
    task, _, snaps, res = tiny_run
    plots.plot_snapshots(snaps, [10, 40], 5, 8)
    plots.plot_locking(res.history, analysis.rows_on_parent(snaps, task.parents, 5), 6, 20)
    run = {"history": res.history, "baselines": {"estimator": 1.0, "uniform": 1.6}}
    plots.plot_book_vs_paper(run, run)
    plt.close("all")


def _small_text(fig) -> list[tuple[str, float]]:
    fig.canvas.draw()  # makes the tick labels
    return [
        (t.get_text(), t.get_fontsize())
        for t in fig.findobj(matplotlib.text.Text)
        if t.get_text().strip() and t.get_fontsize() < 8
    ]


def test_every_figure_fits_the_column_and_its_text_is_at_least_8pt(
    tiny_run, chain_batch, tmp_path, monkeypatch, figure_tables
):
    import numpy as np

    task, model, snaps, res = tiny_run
    head = induction_head(S, T, chain(T), beta=20.0)
    ex = chain_batch.tokens[0]
    tokens, labels = chain_batch.tokens[:256], chain_batch.labels[:256]
    run = {"history": res.history, "baselines": {"estimator": 1.0, "uniform": 1.6, "bayes": 0.9}}
    table, fam, mism = (figure_tables[k] for k in ("baselines", "families", "mismatch"))
    with torch.no_grad():
        hand_built = torch.softmax(head(tokens), -1)
    by_count = analysis.loss_by_match_count(
        tokens,
        labels,
        chain(T),
        S,
        {"estimator": in_context_estimator(tokens, chain(T), S, 0.1), "hand_built": hand_built},
    )
    P = {a: np.full((S, S), 1 / S) for a in (0.1, 1.0, 10.0)}
    sweep_table = [
        {
            "family": family,
            "alpha": alpha,
            "S": S_,
            "seed": seed,
            "steps": 400,
            "parent_recovered": float(alpha < 1),
            "attn_on_parent": 0.9 if alpha < 1 else 0.3,
            "gap_to_estimator": 0.01 * seed,
            "margin": 1.0 / (alpha * S_),
            "recovered_at_step": 100.0 * S_ if alpha < 1 else float("nan"),
        }
        for family in ("chain", "random")
        for alpha in (0.1, 1.0, 10.0)
        for S_ in (2, 5, 10)
        for seed in (0, 1)
    ]
    figures = {
        "loss_curve": lambda: plots.loss_curve(res.history, run["baselines"], title="a long title " * 12),
        "matrix_heatmap": lambda: plots.matrix_heatmap(np.eye(T), title="eye"),
        "block_heatmap": lambda: plots.block_heatmap(head.head(1).detach(), block_slices(S, T, (1, 1), 1)),
        "draw_parents": lambda: plots.draw_parents(random_tree(T, seed=1), tokens=ex.tolist(), title="tree " * 20),
        "draw_adjacency": lambda: plots.draw_adjacency(random_tree(T, seed=1)),
        "draw_graph_gallery": lambda: plots.draw_graph_gallery({"chain": chain(T), "icl": icl_pairs(T)}, "two"),
        "plot_transition_rows": lambda: plots.plot_transition_rows(P, title="rows"),
        "plot_token_sequences": lambda: plots.plot_token_sequences(chain_batch.tokens[:4], S=S, title="seq"),
        "plot_mixing": lambda: plots.plot_mixing({"α = 0.1": np.array([0.01, 0.2])}, {"GTH": np.array([1e-16])}, "m"),
        "plot_bayes_convergence": lambda: plots.plot_bayes_convergence(
            {16: (1.9, 0.01), 64: (1.8, 0.01)}, {"estimator": 1.77}
        ),
        "plot_baselines": lambda: plots.plot_baselines(table, title="baselines"),
        "plot_family_baselines": lambda: plots.plot_family_baselines(fam, title="families"),
        "plot_gap_vs_roots": lambda: plots.plot_gap_vs_roots(fam, title="gap"),
        "plot_graph_mismatch": lambda: plots.plot_graph_mismatch(mism, title="mismatch"),
        "plot_residual_stream": lambda: plots.plot_residual_stream(head, ex),
        "plot_attention_example": lambda: plots.plot_attention_example(head, ex, chain(T)),
        "plot_circuit_matrices": lambda: plots.plot_circuit_matrices(head, "the hand-built head"),
        "plot_loss_vs_beta": lambda: plots.plot_loss_vs_beta([0, 1], [2.0, 1.9], {"estimator": 1.8}),
        "plot_counting": lambda: plots.plot_counting(S, 0.1, 2.5),
        "plot_snapshots": lambda: plots.plot_snapshots(snaps, [0, 20, 40], 5, 8, suptitle="snapshots"),
        "plot_locking": lambda: plots.plot_locking(
            res.history, analysis.rows_on_parent(snaps, task.parents, 5), 6, 20, suptitle="locking"
        ),
        "plot_by_match_count": lambda: plots.plot_by_match_count(
            by_count, analysis.layer2_attention_by_count(head, tokens, chain(T)), suptitle="by count"
        ),
        "plot_book_vs_paper": lambda: plots.plot_book_vs_paper(run, run),
        "plot_gradient_vs_formula": lambda: plots.plot_gradient_vs_formula(
            {name: (np.eye(T - 1), -np.eye(T - 1), np.eye(T - 1)) for name in ("chain", "icl", "tree")},
            suptitle="gradient against formula " * 6,
        ),
        "plot_algorithm1": lambda: plots.plot_algorithm1(
            {"paper's model": res.history, "with a prior position": res.history},
            {"uniform": 2.3, "estimator": 1.75, "reduced_limit": 3.1, "reduced_limit_prior": 1.8},
            tau1=10,
        ),
        "plot_multiparent_training": lambda: plots.plot_multiparent_training(
            [
                {
                    "step": s,
                    "test_loss": 1.6 - 0.01 * s,
                    **{f"attn_h{h}_parent{k}": 0.1 * (h + k + 1) for h in (0, 1) for k in (0, 1)},
                }
                for s in range(0, 50, 10)
            ],
            {"uniform": 1.6, "unigram": 1.46, "one_parent": 1.36, "estimator": 0.87},
            marks={"heads separate": 20},
            suptitle="two heads " * 10,
        ),
        "plot_head_blocks": lambda: plots.plot_head_blocks(
            [np.eye(T), -np.eye(T)],
            [np.eye(T), np.eye(T)],
            ["head 0 " * 6, "head 1"],
            ["adjacency " * 5, "adj"],
            "blocks",
        ),
        "plot_learned_graphs": lambda: plots.plot_learned_graphs(
            {name: (np.eye(T), p) for name, p in (("chain", chain(T)), ("icl", icl_pairs(T)), ("tree", chain(T)))},
            suptitle="learned graphs",
        ),
        "plot_family_losses": lambda: plots.plot_family_losses(
            {name: (res.history, run["baselines"]) for name in ("chain", "icl pairs", "random tree")}, suptitle="losses"
        ),
        "plot_forests": lambda: plots.plot_forests(
            {"position": [1, 2, 3], "mean": [0.5, 0.6, 0.7], "sd": [0.1, 0.1, 0.2]},
            [0.8, 0.9],
            [0.7, 0.75],
            paper=(0.837, 0.054),
            suptitle="forests",
        ),
        "plot_margin": lambda: plots.plot_margin(
            {
                "S": [3, 3, 5, 5],
                "alpha": [0.1, 1, 0.1, 1],
                "edge": [2, 1, 3, 1],
                "edge_se": [0.1] * 4,
                "margin": [1, 0.5, 2, 0.3],
            },
            suptitle="margin",
        ),
        "plot_attention_map": lambda: plots.plot_attention_map(
            torch.eye(T).tolist(),
            {"standard": [None] + [0.9] * (T - 2), "disentangled": [None] + [0.8] * (T - 2)},
            map_title="map",
            suptitle="attention",
        ),
        "plot_loss_curves": lambda: plots.plot_loss_curves(
            {
                "a": [{"step": 0, "test_loss": 2.3}, {"step": 10, "test_loss": 1.8}],
                "b": [{"step": 0, "test_loss": 2.3}],
            },
            {"uniform": 2.3, "estimator": 1.77, "readout_floor": 1.83, "bayes": 1.76},
            title="two models",
            ylim=(1.7, 2.4),
        ),
        "plot_ood": lambda: plots.plot_ood(
            {"a": {"α = 1": 0.1, "icl pairs": 0.3}, "b": {"α = 1": 0.05, "icl pairs": 0.2, "chain": 0.1}},
            {"length": [5, 10, 20], "a": [0.2, 0.1, 0.0], "b": [0.3, 0.1, 0.0]},
            suptitle="out of distribution",
        ),
        "plot_phase_diagram": lambda: plots.plot_phase_diagram(sweep_table, suptitle="phase diagram " * 6),
        "plot_recovery_vs_margin": lambda: plots.plot_recovery_vs_margin(sweep_table, title="recovery"),
    }
    not_figures = {
        "PHASE_PANELS",
        "BaselineStyle",
        "BASELINES",
        "BASELINE_LABELS",
        "ROOT_COLOR",
        "QUERY_COLOR",
        "PAGE_WIDTH",
        "set_style",
        "experiment_figures",
    }
    assert set(figures) == set(plots.__all__) - not_figures, "every figure function of plots.py is checked here"
    closed = []
    monkeypatch.setattr(plt, "close", lambda fig=None: closed.append(fig))  # keep experiment_figures' figures
    with matplotlib.rc_context({"figure.max_open_warning": 0}):
        plots.set_style()
        made = {name: make() for name, make in figures.items()}
        plots.experiment_figures(
            {
                "experiment": "chain",
                "scale": "test",
                "history": res.history,
                "baselines": run["baselines"],
                "A1_position_block": torch.eye(8).numpy(),
            },
            tmp_path,
        )
        made.update({f"experiment_figures[{i}]": fig for i, fig in enumerate(closed)})
        assert len(closed) == 2
        for name, obj in made.items():
            fig = obj if isinstance(obj, matplotlib.figure.Figure) else obj.figure
            assert fig.get_figwidth() <= plots.PAGE_WIDTH + 1e-9, f"{name} is {fig.get_figwidth():.2f} in wide"
            assert not _small_text(fig), f"{name} has text under 8 pt: {_small_text(fig)[:5]}"
    monkeypatch.undo()
    plt.close("all")


# ---- exercise checks -----------------------------------------------------------------------


def test_check_layer1_matrix_accepts_the_parent_block_and_rejects_a_shifted_one():
    assert check_layer1_matrix(induction_head(S, T, icl_pairs(T), beta=20.0).head(1))
    A1 = torch.zeros(S + T, S + T)
    for i in range(3, T - 1, 2):
        A1[S + i, S + i - 2] = 20.0  # attends to the previous x, not to its own parent
    with pytest.raises(AssertionError, match="row 1 puts only"):
        check_layer1_matrix(A1)
    with pytest.raises(AssertionError, match="shape"):
        check_layer1_matrix(torch.zeros(T, T))


def test_check_readout_constant_accepts_the_best_scale_and_rejects_others():
    tokens, labels = SingleParentTask(S, T, icl_pairs(T)).sample(8192, torch.Generator().manual_seed(32))
    _, counts = matching_children_average(tokens, icl_pairs(T), S)
    _, c = readout_floor(tokens[counts > 0], labels[counts > 0], icl_pairs(T), S)
    assert check_readout_constant(float(c))
    with pytest.raises(AssertionError, match="larger"):
        check_readout_constant(0.5)
    with pytest.raises(AssertionError, match="smaller"):
        check_readout_constant(float(c) + 3.0)


def test_check_recovers_graph_accepts_the_graph_and_rejects_the_zero_model():
    assert check_recovers_graph(induction_head(S, T, icl_pairs(T)), icl_pairs(T))
    with pytest.raises(AssertionError, match="rows miss their parent"):
        check_recovers_graph(DisentangledTransformer(S, T), icl_pairs(T))
    with pytest.raises(AssertionError, match="rows miss their parent"):
        check_recovers_graph(induction_head(S, T, random_tree(T, seed=1)), chain(T))


def test_check_zero_init_gradients_accepts_the_true_norms_and_rejects_wrong_ones():
    model = DisentangledTransformer(S, T)
    tokens, labels = SingleParentTask(S, T, chain(T)).sample(256, torch.Generator().manual_seed(8))
    soft_cross_entropy_from_logits(model(tokens), labels).backward()
    norms = {"A1": model.head(1).grad.norm(), "A2": model.head(2).grad.norm(), "W": model.W.grad.norm()}
    assert check_zero_init_gradients(norms)
    with pytest.raises(AssertionError, match="A1"):
        check_zero_init_gradients({**norms, "A1": 0.3})
    with pytest.raises(AssertionError, match="should not vanish"):
        check_zero_init_gradients({**norms, "W": 0.0})
    with pytest.raises(AssertionError, match="missing"):
        check_zero_init_gradients({"W": 1.0})


# --- chapter 6: the paper's Fig. 9 metric and its spread over graphs -----------------------------
def test_block_attention_on_parent_on_a_hand_made_block_with_a_known_value():
    """The parent entry of each child row gets log(w) and every other causal entry 0, so the softmax
    gives w / (w + i) at the parent of row i (the row's i other causal entries, itself included).
    For the chain of T = 5 with w = 3: rows 1, 2, 3 give 3/4, 3/5, 3/6, mean 0.6167; roots and the
    query row do not count; entries above the diagonal are masked."""
    parents = chain(5)
    block = torch.zeros(5, 5, dtype=torch.float64)
    for i, p in enumerate(parents):
        if p >= 0:
            block[i, p] = math.log(3.0)
    block[0, 4] = 100.0  # above the diagonal: masked, must not matter
    block[4, 0] = 100.0  # the query's row: not a child, must not matter
    expected = (3 / 4 + 3 / 5 + 3 / 6) / 3
    assert abs(analysis.block_attention_on_parent(block, parents) - expected) < 1e-12
    assert math.isnan(analysis.block_attention_on_parent(torch.zeros(4, 4), (-1, -1, -1)))
    with pytest.raises(ValueError, match="block"):
        analysis.block_attention_on_parent(torch.zeros(4, 4), parents)


def test_attention_by_position_and_the_spread_over_graphs():
    att = torch.zeros(2, 5, 5)
    att[0, 1, 0], att[1, 1, 0] = 0.5, 1.0  # mean 0.75 at position 1
    att[:, 3, 1] = 0.2
    curve = analysis.attention_by_position(att, (-1, 0, -1, 1))
    assert curve == [None, 0.75, None, pytest.approx(0.2)]
    assert analysis.spread_over_graphs([0.8, 0.9, 1.0]) == (pytest.approx(0.9), pytest.approx(math.sqrt(2 / 300)))
    over = analysis.curve_over_graphs([curve, [None, 0.25, 0.5, None]])
    assert over["position"] == [1, 2, 3] and over["graphs"] == [2, 1, 1]
    assert over["mean"] == [pytest.approx(0.5), 0.5, pytest.approx(0.2)] and over["sd"][0] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="curves"):
        analysis.curve_over_graphs([[None], [None, 0.1]])
