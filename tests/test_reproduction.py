"""The reproduction page's claims, verdicts and lines (causal_tutorial.reproduction)."""

import copy

import pytest

from causal_tutorial.experiments import run_experiment
from causal_tutorial.reproduction import (
    EXPERIMENT_ORDER,
    REACH_SE,
    STATUSES,
    book_lines,
    claims,
    load_results,
    plateau_and_drop,
    reaches,
    summary_row,
    where_it_stops,
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    for name, kw in (("chain", {}), ("forests", {"n_graphs": 2}), ("multiparent", {}), ("standard", {})):
        run_experiment(name, scale="test", out=root, progress=False, figures=False, bayes_draws=4, **kw)
    return root, load_results(root)


def _claim(rows, figure, start):
    return next(r for r in rows if r["figure"] == figure and r["claim"].startswith(start))


def test_load_results_reads_what_exists(results):
    _, res = results
    assert list(res) == list(EXPERIMENT_ORDER)
    assert res["icl"] is None and res["random"] is None
    assert all(res[n] is not None for n in ("chain", "forests", "multiparent", "standard"))


def test_every_row_claim_and_line_is_built(results):
    _, res = results
    for name, r in res.items():
        row = summary_row(name, r)
        assert row["experiment"] == name and row["paper reports"]
        if r is None:
            assert row["ours"] == "not run yet"
            continue
        assert isinstance(row["ours: final loss"], float) and row["device"]
        assert book_lines(name, r)["where it stops"]
    rows = claims(res, book=res)
    assert all(r["status"] in STATUSES and r["reason"] and r["where"].startswith("ch. ") for r in rows)
    assert {r["figure"] for r in rows} >= {"Fig. 2 (chain)", "Fig. 9 (forests)", "Fig. 8 (standard)"}
    missing = [r for r in rows if r["figure"] in ("Fig. 6 (icl)", "Fig. 6 (random)")]
    assert missing and all(r["status"] == "not testable here" for r in missing)


def test_a_loss_reaches_a_line_within_three_standard_errors_above_it():
    assert reaches(1.0, 1.0, 0.01) and reaches(0.9, 1.0, 0.01) and reaches(1.0 + REACH_SE * 0.01 - 1e-9, 1.0, 0.01)
    assert not reaches(1.0 + REACH_SE * 0.01 + 1e-9, 1.0, 0.01)


def _single(results, final, roots_line, clean_line, floor, se=0.002):
    r = copy.deepcopy(results[1]["chain"])
    r["final"]["test_loss"] = final
    b = r["baselines"]
    b.update(
        estimator=clean_line,
        estimator_se=se,
        estimator_roots_counted=roots_line,
        estimator_roots_counted_se=se,
        readout_floor=floor,
    )
    r["recovered_parents"] = [-1] + list(r["task"]["parents"][1:]) + [0]
    return {"chain": r}


def test_the_loss_claim_follows_the_roots_counted_line_and_names_the_slip(results):
    # the paper-scale chain: above both lines, at the read-out floor -> not reproduced, with the reason
    rows = claims(_single(results, 1.8092, 1.7759, 1.7637, 1.8193))
    line = _claim(rows, "Fig. 2 (chain)", "the test loss")
    assert line["status"] == "not reproduced" and "read-out floor" in line["reason"]
    assert _claim(rows, "Fig. 2 (chain)", "A⁽¹⁾")["status"] == "reproduced"
    # the random tree's case: below the roots-counted line, far above the clean one -> only through the slip
    line = _claim(claims(_single(results, 1.9021, 1.9056, 1.876, 1.9175)), "Fig. 2 (chain)", "the test loss")
    assert line["status"] == "reproduced" and line["reason"].startswith("only through the slip")
    # the icl case: at both lines
    line = _claim(claims(_single(results, 1.9289, 1.9615, 1.9276, 1.957)), "Fig. 2 (chain)", "the test loss")
    assert line["status"] == "reproduced" and line["reason"].startswith("also reaches")


def test_a_row_off_its_parent_fails_the_adjacency_claim(results):
    res = _single(results, 1.8, 1.8, 1.8, 1.8)
    res["chain"]["recovered_parents"][5] = 0
    assert _claim(claims(res), "Fig. 2 (chain)", "A⁽¹⁾")["status"] == "not reproduced"


def test_where_a_run_stops(results):
    res = _single(results, 1.8092, 1.7759, 1.7637, 1.8193, se=0.0026)["chain"]
    assert where_it_stops(res) == "at the read-out floor"
    res["final"]["test_loss"] = 1.7637 + 0.005
    assert where_it_stops(res) == "at the estimator line"
    res["final"]["test_loss"] = 1.79
    assert where_it_stops(res) == "between the estimator line and the read-out floor"
    res["final"]["test_loss"] = 1.75
    assert where_it_stops(res) == "below the estimator line"


def _history(losses, every=512):
    return [{"step": k * every, "test_loss": x} for k, x in enumerate(losses)]


def test_plateau_and_drop_read_off_a_curve():
    shape = plateau_and_drop(_history([1.609, 1.191, 1.179, 1.166, 1.143, 1.096, 0.939, 0.929, 0.92]))
    assert (shape["drop_from_step"], shape["drop_to_step"]) == (2560, 3072)
    assert shape["plateau_low"] == 1.143 and shape["plateau_high"] == 1.191
    assert shape["plateau"] == pytest.approx(1.1725)
    with pytest.raises(ValueError, match="at least 4 evaluations"):
        plateau_and_drop(_history([1.6, 1.2, 1.1]))


def test_multi_parent_claims_follow_the_numbers(results):
    r = copy.deepcopy(results[1]["multiparent"])
    r["history"] = _history([1.609, 1.18, 1.17, 1.16, 1.15, 1.14, 0.95, 0.9, 0.895])
    r["final"]["test_loss"] = 0.895
    total = r["child_rows_per_slot"]
    r["rows_on_parent_slot"] = [[total[0], 1], [2, total[1]]]
    rows = [c for c in claims({"multiparent": r}) if c["figure"].startswith("Figs. 5, 7")]
    assert [c["status"] for c in rows] == ["reproduced"] * 4
    assert rows[1]["reason"] == "at the early edge of the figure's range"
    r["rows_on_parent_slot"] = [[total[0], 1], [total[0] - 1, 2]]  # both heads on slot 0
    r["history"] = _history([1.609] + [1.4 - 0.005 * k for k in range(10)] + [0.9])  # drop after 5,120 steps
    rows = [c for c in claims({"multiparent": r}) if c["figure"].startswith("Figs. 5, 7")]
    assert [c["status"] for c in rows] == ["not reproduced", "not reproduced", "reproduced", "not reproduced"]


def test_forests_claim_compares_with_the_papers_spread(results):
    r = copy.deepcopy(results[1]["forests"])
    r["final"]["block_attn_on_parent_mean"], r["final"]["block_attn_on_parent_std"] = 0.80, 0.05
    assert next(c for c in claims({"forests": r}) if c["figure"].startswith("Fig. 9"))["status"] == "reproduced"
    r["final"]["block_attn_on_parent_mean"] = 0.70
    row = next(c for c in claims({"forests": r}) if c["figure"].startswith("Fig. 9"))
    assert row["status"] == "not reproduced"


def test_standard_attention_outside_the_figures_range_is_not_reproduced(results):
    r = copy.deepcopy(results[1]["standard"])
    r["attn_by_position"] = [None, 0.81, 0.81]
    row = _claim(claims({"standard": r}), "Fig. 8 (standard)", "layer-1 attention")
    assert row["status"] == "not reproduced" and row["reason"].startswith("higher")
    r["attn_by_position"] = [None, 0.65, 0.7]
    assert _claim(claims({"standard": r}), "Fig. 8 (standard)", "layer-1 attention")["status"] == "reproduced"


def test_unknown_experiment_is_refused():
    with pytest.raises(ValueError, match="name must be one of"):
        book_lines("fig99", {})
