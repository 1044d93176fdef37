"""The paper at its own scale (the reproduction page, ``book/09_reproduction``): each claim the paper makes,
where the book reproduces it, our numbers at the book's and the paper's scale, and a verdict computed from them;
then, separately, how each run sits against the book's own, stricter lines.

A paper-scale run (``python -m causal_tutorial run NAME --scale paper --out results/paper``) writes
``results/paper/NAME/result.json``; :func:`load_results` reads every one that exists.

**What the paper reports, and how we know it.** The paper (Nichani, Damian, Lee, ICML 2024) reports its
experiments as figures, not tables. :data:`PAPER_REPORTS` holds what its text states or what its figures show,
read off them, so every such number is approximate ("≈"). The one number printed as a number is Fig. 9's
attention on the parent, 0.837 ± 0.054 over twenty random forests, in the outputs of the authors' research code.
The figures' "Bayes" line for the single-parent tasks is the in-context estimator computed by that research code,
which also counts the roots: a root's parent index −1 reads the token at position T−2, so whenever that token
equals the query, every root is counted as a child (chapter 1; :func:`causal_tutorial.graphs.edges`). On the chain
that line is ≈ 1.77; we compute both it and the estimator without the slip on each run's test set.

**Verdicts.** :func:`claims` gives each claim one of three statuses, by rules written in its code: *reproduced*,
*not reproduced* (with the measured reason) or *not testable here*. A loss *reaches* a line when it ends no more
than :data:`REACH_SE` standard errors (of that line on the same test set) above it. Every result is one seed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .analysis import load_result

__all__ = [
    "EXPERIMENT_ORDER",
    "PAPER_REPORTS",
    "REACH_SE",
    "STATUSES",
    "load_results",
    "book_scale_results",
    "reaches",
    "plateau_and_drop",
    "claims",
    "book_lines",
    "where_it_stops",
    "summary_row",
]

#: The paper-scale experiments, in the order of the page's tables.
EXPERIMENT_ORDER = ("chain", "icl", "random", "forests", "multiparent", "standard")

#: A loss reaches a line when it ends at most this many standard errors above it.
REACH_SE = 3.0

#: The verdicts :func:`claims` gives.
STATUSES = ("reproduced", "not reproduced", "not testable here")

#: The paper's statement for each experiment, with the numbers read off its figures.
PAPER_REPORTS: dict[str, dict] = {
    "chain": {
        "figure": "Fig. 2",
        "statement": "A⁽¹⁾ ≈ the chain's adjacency; the test loss reaches the figure's 'Bayes' line "
        "(the estimator with roots counted, ≈1.77, read off)",
        "loss": 1.77,
    },
    "icl": {"figure": "Fig. 6", "statement": "A⁽¹⁾ ≈ the adjacency; the loss reaches the figure's 'Bayes' line"},
    "random": {"figure": "Fig. 6", "statement": "A⁽¹⁾ ≈ the adjacency; the loss reaches the figure's 'Bayes' line"},
    "forests": {
        "figure": "Fig. 9",
        "statement": "attention on the parent (softmax of the position block) 0.837 ± 0.054 over 20 forests",
        "attention": (0.837, 0.054),
    },
    "multiparent": {
        "figure": "Figs. 5, 7",
        "statement": "plateau ≈1.17, drop near 3–4k steps, final ≈0.89; k-gram ≈0.877, one-parent ≈1.355; "
        "each head learns one parent",
        "loss": 0.89,
        "plateau": 1.17,
        "drop_steps": (3000, 4000),
    },
    "standard": {
        "figure": "Fig. 8",
        "statement": "loss ≈1.77; layer-1 attention ≈0.6–0.7 on i−1",
        "loss": 1.77,
        "attention": (0.6, 0.7),
    },
}

#: Where the book reproduces each experiment at its own scale (chapter, section).
WHERE = {
    "chain": "ch. 4, 'The loss comes down near the estimator line'",
    "icl": "ch. 6, 'Three graphs side by side'",
    "random": "ch. 6, 'Three graphs side by side'",
    "forests": "ch. 6, 'Many random forests'",
    "multiparent": "ch. 7, 'A plateau, a drop, and the k-gram line'",
    "standard": "ch. 8, 'Layer 1 still finds the parent'",
}


def load_results(root: str | Path) -> dict[str, dict | None]:
    """``{name: result or None}`` for every experiment of :data:`EXPERIMENT_ORDER` under ``root``."""
    root = Path(root)
    return {name: load_result(root / name / "result.json") for name in EXPERIMENT_ORDER}


def book_scale_results(seed: int = 0, device: str = "auto", n_forests: int = 5, bayes_draws: int = 16) -> dict:
    """Every experiment of :data:`EXPERIMENT_ORDER` run at its book scale, quietly and without writing anything:
    the reproduction page's "book scale" column. As chapter 6 does, the forests train ``n_forests`` of their
    twenty graphs and the Bayes floor uses ``bayes_draws`` importance draws (the page reads no book-scale Bayes
    line), which keeps the page's runs to a few minutes on a laptop CPU."""
    from .experiments import run_experiment  # experiments imports the models and tasks; this module stays light

    return {
        name: run_experiment(
            name,
            scale="book",
            seed=seed,
            device=device,
            progress=False,
            figures=False,
            bayes_draws=bayes_draws,
            n_graphs=n_forests if name == "forests" else None,
        )
        for name in EXPERIMENT_ORDER
    }


def reaches(final: float, line: float, se: float) -> bool:
    """Whether a final loss reaches ``line``: at most :data:`REACH_SE` standard errors ``se`` above it."""
    return final <= line + REACH_SE * se


def plateau_and_drop(history: list[dict]) -> dict:
    """The plateau and the drop of a loss curve (Figs. 5 and 7), read off the evaluations in ``history``.

    The drop is the steepest fall of the test loss between two consecutive evaluations after the first one
    (the first interval is the fall from the uniform prediction onto the plateau); the plateau is every
    evaluation after step 0 and before the one the drop starts from. Returns the plateau's lowest, highest and
    median loss and the steps between which the drop happens (known only to the evaluation interval)."""
    steps = [h["step"] for h in history]
    loss = [h["test_loss"] for h in history]
    if len(loss) < 4:
        raise ValueError(f"history needs at least 4 evaluations to find a plateau and a drop, got {len(loss)}")
    falls = [loss[k] - loss[k + 1] for k in range(1, len(loss) - 1)]
    k = 1 + int(np.argmax(falls))  # the drop happens between evaluations k and k + 1
    plateau = loss[1:k] if k > 1 else loss[1:2]
    return {
        "plateau_low": float(min(plateau)),
        "plateau_high": float(max(plateau)),
        "plateau": float(np.median(plateau)),
        "drop_from_step": steps[k],
        "drop_to_step": steps[k + 1],
        "drop": float(falls[k - 1]),
    }


def _rows_on_parent(r: dict) -> tuple[int, int]:
    parents = r["task"]["parents"]
    kids = [i for i, p in enumerate(parents) if p >= 0]
    return sum(r["recovered_parents"][i] == parents[i] for i in kids), len(kids)


def _gap(final: float, line: float, se: float) -> str:
    return f"{final:.4f} vs {line:.4f} ({final - line:+.4f}, {(final - line) / se:+.0f} se)"


def _adjacency_claim(name: str, book: dict | None, paper: dict | None) -> dict:
    def say(r: dict | None) -> str:
        if r is None:
            return "–"
        on, n = _rows_on_parent(r)
        return f"{on}/{n} child rows peak at the parent; block softmax on it {r['block_attn_on_parent']:.2f}"

    row = {"claim": "A⁽¹⁾'s position block ≈ the graph's adjacency", "book scale": say(book), "paper scale": say(paper)}
    if paper is None:
        return {**row, "status": "not testable here", "reason": "no paper-scale run kept"}
    on, n = _rows_on_parent(paper)
    ok = on == n
    return {
        **row,
        "status": "reproduced" if ok else "not reproduced",
        "reason": "every child row's largest entry is at its parent" if ok else f"{n - on} rows peak elsewhere",
    }


def _line_claim(name: str, book: dict | None, paper: dict | None) -> dict:
    def say(r: dict | None) -> str:
        if r is None:
            return "–"
        b, final = r["baselines"], r["final"]["test_loss"]
        return f"{_gap(final, b['estimator_roots_counted'], b['estimator_roots_counted_se'])} (roots counted)"

    row = {
        "claim": "the test loss reaches the figure's 'Bayes' line (the estimator, roots counted)",
        "book scale": say(book),
        "paper scale": say(paper),
    }
    if paper is None:
        return {**row, "status": "not testable here", "reason": "no paper-scale run kept"}
    b, final = paper["baselines"], paper["final"]["test_loss"]
    slip = reaches(final, b["estimator_roots_counted"], b["estimator_roots_counted_se"])
    clean = reaches(final, b["estimator"], b["estimator_se"])
    floor = b["readout_floor"]
    if slip and clean:
        reason = f"also reaches the estimator without the slip: {_gap(final, b['estimator'], b['estimator_se'])}"
    elif slip:
        reason = (
            f"only through the slip: against the estimator without it {_gap(final, b['estimator'], b['estimator_se'])}"
        )
    else:
        reason = (
            f"it stops at the read-out floor ({final - floor:+.4f} from {floor:.4f}), the best loss of the perfect "
            "induction head with one read-out scale (ch. 3), which the trained circuit is (ch. 4); the model is the "
            "research code's, so the gap is not a modelling difference"
        )
    return {**row, "status": "reproduced" if slip else "not reproduced", "reason": reason}


def _forest_claim(book: dict | None, paper: dict | None) -> dict:
    mean, sd = PAPER_REPORTS["forests"]["attention"]

    def say(r: dict | None) -> str:
        if r is None:
            return "–"
        f = r["final"]
        return (
            f"{f['block_attn_on_parent_mean']:.3f} ± {f['block_attn_on_parent_std']:.3f} ({len(r['graphs'])} forests)"
        )

    row = {
        "claim": f"attention on the parent (block softmax) {mean} ± {sd} over 20 forests",
        "book scale": say(book),
        "paper scale": say(paper),
    }
    if paper is None:
        return {**row, "status": "not testable here", "reason": "no paper-scale run kept"}
    f = paper["final"]
    diff = f["block_attn_on_parent_mean"] - mean
    ok = abs(diff) <= max(sd, f["block_attn_on_parent_std"])
    return {
        **row,
        "status": "reproduced" if ok else "not reproduced",
        "reason": f"{diff:+.3f} from the paper's mean, "
        + ("within" if ok else "outside")
        + f" the larger spread ({max(sd, f['block_attn_on_parent_std']):.3f}); spread over graphs, one seed",
    }


def _multi_claims(book: dict | None, paper: dict | None) -> list[dict]:
    rep = PAPER_REPORTS["multiparent"]

    def shape(r: dict | None) -> dict | None:
        return None if r is None else plateau_and_drop(r["history"])

    pb, pp = shape(book), shape(paper)

    def plateau(s: dict | None) -> str:
        return "–" if s is None else f"{s['plateau_low']:.2f}–{s['plateau_high']:.2f} (median {s['plateau']:.2f})"

    def drop(s: dict | None) -> str:
        return "–" if s is None else f"between steps {s['drop_from_step']:,} and {s['drop_to_step']:,}"

    def final(r: dict | None) -> str:
        if r is None:
            return "–"
        return f"{r['final']['test_loss']:.3f}; k-gram line {r['baselines']['estimator']:.3f}"

    def heads(r: dict | None) -> str:
        if r is None:
            return "–"
        took = [int(np.argmax(h)) for h in r["rows_on_parent_slot"]]
        total = r["child_rows_per_slot"]
        return ", ".join(
            f"head {h}: parent {['(i-1)//2', 'i-1'][k]} in {r['rows_on_parent_slot'][h][k]}/{total[k]} rows"
            for h, k in enumerate(took)
        )

    rows = [
        {"claim": f"a plateau at ≈{rep['plateau']}", "book scale": plateau(pb), "paper scale": plateau(pp)},
        {"claim": "the drop near 3–4k steps", "book scale": drop(pb), "paper scale": drop(pp)},
        {
            "claim": f"final ≈{rep['loss']}, near the k-gram line ≈0.877",
            "book scale": final(book),
            "paper scale": final(paper),
        },
        {"claim": "each layer-1 head learns one parent", "book scale": heads(book), "paper scale": heads(paper)},
    ]
    if paper is None or pp is None:
        return [{**row, "status": "not testable here", "reason": "no paper-scale run kept"} for row in rows]
    ok = abs(pp["plateau"] - rep["plateau"]) <= 0.03
    rows[0].update(
        status="reproduced" if ok else "not reproduced",
        reason=f"median {pp['plateau'] - rep['plateau']:+.2f} from the figure's level (reading precision ±0.03)",
    )
    lo, hi = rep["drop_steps"]
    overlap = pp["drop_from_step"] < hi and pp["drop_to_step"] > lo
    early = pp["drop_to_step"] < 0.5 * (lo + hi)
    rows[1].update(
        status="reproduced" if overlap else "not reproduced",
        reason=("at the early edge of the figure's range" if overlap and early else "within the figure's range")
        if overlap
        else "outside the figure's range; the step of an escape from a plateau varies from seed to seed (one seed)",
    )
    gap = paper["final"]["test_loss"] - rep["loss"]
    rows[2].update(
        status="reproduced" if abs(gap) <= 0.01 else "not reproduced",
        reason=f"{gap:+.3f} from the figure's ≈{rep['loss']}, "
        f"{paper['final']['test_loss'] - paper['baselines']['estimator']:+.3f} above the k-gram line "
        f"({paper['config']['root_law']} roots, as the research code draws them)",
    )
    took = [int(np.argmax(h)) for h in paper["rows_on_parent_slot"]]
    total = paper["child_rows_per_slot"]
    share = [paper["rows_on_parent_slot"][h][took[h]] / total[took[h]] for h in range(len(took))]
    ok = len(set(took)) == len(took) and min(share) >= 0.9
    rows[3].update(
        status="reproduced" if ok else "not reproduced",
        reason="the heads peak on different parents in at least 90% of the rows"
        if ok
        else "the heads do not split the parents between them",
    )
    return rows


def _standard_claims(book: dict | None, paper: dict | None) -> list[dict]:
    rep = PAPER_REPORTS["standard"]

    def loss(r: dict | None) -> str:
        if r is None:
            return "–"
        b = r["baselines"]
        return _gap(r["final"]["test_loss"], b["estimator_roots_counted"], b["estimator_roots_counted_se"])

    def attention(r: dict | None) -> str:
        return "–" if r is None else f"{_mean_attention_on_previous(r):.2f}"

    rows = [
        {
            "claim": f"the loss ≈{rep['loss']} (the figure's 'Bayes' line)",
            "book scale": loss(book),
            "paper scale": loss(paper),
        },
        {
            "claim": "layer-1 attention ≈0.6–0.7 on i−1 (read off the figure)",
            "book scale": attention(book),
            "paper scale": attention(paper),
        },
    ]
    if paper is None:
        return [{**row, "status": "not testable here", "reason": "no paper-scale run kept"} for row in rows]
    b, final = paper["baselines"], paper["final"]["test_loss"]
    ok = reaches(final, b["estimator_roots_counted"], b["estimator_roots_counted_se"])
    rows[0].update(
        status="reproduced" if ok else "not reproduced",
        reason=f"against the estimator without the slip {_gap(final, b['estimator'], b['estimator_se'])}",
    )
    lo, hi = rep["attention"]
    a = _mean_attention_on_previous(paper)
    ok = lo - 0.05 <= a <= hi + 0.05
    rows[1].update(
        status="reproduced" if ok else "not reproduced",
        reason="within the figure's range (±0.05 for reading it)"
        if ok
        else f"{'higher' if a > hi else 'lower'} than the figure's range; not traced (one seed; the model is rebuilt "
        "from the research code, ch. 8)",
    )
    return rows


def _mean_attention_on_previous(r: dict) -> float:
    return float(np.mean([x for x in r["attn_by_position"] if x is not None]))


def claims(paper: dict[str, dict | None], book: dict[str, dict | None] | None = None) -> list[dict]:
    """Each claim of the paper's figures, with our numbers at both scales and a verdict.

    ``paper`` and ``book`` map experiment names to results (:func:`load_results`, or
    :func:`~causal_tutorial.experiments.run_experiment` at the book scale); a missing one is ``None``. Returns one
    dictionary per claim: ``figure``, ``claim``, ``where`` (the book's chapter and section), ``book scale``,
    ``paper scale``, ``status`` (one of :data:`STATUSES`) and ``reason``. The verdict is read off the paper-scale
    result; the book scale is shown beside it."""
    book = book or {}
    rows: list[dict] = []
    for name in EXPERIMENT_ORDER:
        p, b = paper.get(name), book.get(name)
        if name in ("chain", "icl", "random"):
            these = [_adjacency_claim(name, b, p), _line_claim(name, b, p)]
        elif name == "forests":
            these = [_forest_claim(b, p)]
        elif name == "multiparent":
            these = _multi_claims(b, p)
        else:
            these = _standard_claims(b, p)
        label = f"{PAPER_REPORTS[name]['figure']} ({name})"
        rows += [{"figure": label, **row, "where": WHERE[name]} for row in these]
    for row in rows:
        assert row["status"] in STATUSES, row
    return rows


def where_it_stops(result: dict) -> str:
    """Where a single-parent run's final loss sits among the lines: at the estimator line (within
    :data:`REACH_SE` of its standard errors), at the read-out floor (within 0.015 nats of it, about six of its
    standard errors, and not at the estimator line), or where else it is."""
    b, final = result["baselines"], result["final"]["test_loss"]
    if abs(final - b["estimator"]) <= REACH_SE * b["estimator_se"]:
        return "at the estimator line"
    if abs(final - b["readout_floor"]) <= 0.015:
        return "at the read-out floor"
    if final < b["estimator"]:
        return "below the estimator line"
    return (
        "between the estimator line and the read-out floor"
        if final < b["readout_floor"]
        else "above the read-out floor"
    )


def book_lines(name: str, result: dict) -> dict:
    """How a run sits against the book's own lines (not the paper's): its final loss minus the Bayes floor (the
    best any predictor can do), the in-context estimator without the slip, and the read-out floor of a perfect
    induction head with one read-out scale (single parent only), each also in standard errors of that line."""
    if name not in EXPERIMENT_ORDER:
        raise ValueError(f"name must be one of {EXPERIMENT_ORDER}, got {name!r}")
    if name == "forests":
        gaps = [g["final"]["test_loss"] - g["baselines"]["estimator"] for g in result["graphs"]]
        return {
            "experiment": name,
            "final": result["final"]["test_loss_mean"],
            "− estimator": float(np.mean(gaps)),
            "where it stops": f"mean over {len(gaps)} graphs; {sum(g < 0 for g in gaps)} below their estimator",
        }
    b, final = result["baselines"], result["final"]["test_loss"]
    row: dict = {"experiment": name, "final": final}
    for key, label in (("bayes", "− Bayes"), ("estimator", "− estimator"), ("readout_floor", "− read-out floor")):
        if b.get(key) is not None:
            row[label] = final - b[key]
            row[label + " (se)"] = (final - b[key]) / b[key + "_se"] if b.get(key + "_se") else math.nan
    if name == "multiparent":
        row["where it stops"] = f"{final - b['estimator']:+.3f} above the k-gram line (the Bayes predictor here)"
    elif name == "standard":
        row["where it stops"] = where_it_stops(result) + " (an MLP read-out has no read-out floor)"
    else:
        row["where it stops"] = where_it_stops(result)
    return row


def _pm(mean: float, sd: float) -> str:
    return f"{mean:.3f} ± {sd:.3f}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def summary_row(name: str, result: dict | None) -> dict:
    """One row of the page's table of lines: ours, the lines, the attention, time and device."""
    paper = PAPER_REPORTS[name]
    row: dict = {"experiment": name, "figure": paper["figure"], "paper reports": paper["statement"]}
    if result is None:
        row["ours"] = "not run yet"
        return row
    if name == "forests":
        f = result["final"]
        row.update(
            {
                "ours: final loss": f["test_loss_mean"],
                "estimator": float(np.mean([g["baselines"]["estimator"] for g in result["graphs"]])),
                "estimator, roots counted": float(
                    np.mean([g["baselines"]["estimator_roots_counted"] for g in result["graphs"]])
                ),
                "Bayes": float(np.mean([g["baselines"]["bayes"] for g in result["graphs"]])),
                "read-out floor": float(np.mean([g["baselines"]["readout_floor"] for g in result["graphs"]])),
                "attention on parent (block softmax)": _pm(
                    f["block_attn_on_parent_mean"], f["block_attn_on_parent_std"]
                ),
                "attention on parent (in sequences)": _pm(f["attn_on_parent_mean"], f["attn_on_parent_std"]),
            }
        )
    else:
        base, final = result["baselines"], result["final"]
        row["ours: final loss"] = final["test_loss"]
        row["estimator"] = base["estimator"]  # the k-gram estimator for the multi-parent task
        row["estimator, roots counted"] = base.get("estimator_roots_counted")
        row["Bayes"] = base.get("bayes")
        row["read-out floor"] = base.get("readout_floor")
        if name == "multiparent":
            row["one-parent line"] = base["one_parent"]
            heads = [k for k in final if k.startswith("attn_h")]
            row["attention on parent (in sequences)"] = ", ".join(f"{k[5:]} {final[k]:.2f}" for k in sorted(heads))
        else:
            row["attention on parent (in sequences)"] = f"{final['attn_on_parent']:.3f}"
            if "block_attn_on_parent" in result:
                row["attention on parent (block softmax)"] = f"{result['block_attn_on_parent']:.3f}"
    row["wall time"] = _minutes(result["wall_time_s"])
    row["device"] = result["device_name"]
    return row
