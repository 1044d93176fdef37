"""The landing page's figure, drawn at every build from the kept paper-scale results (a local Sphinx
extension, see ``_config.yml``): for each graph family with a kept run, the row-wise softmax of the learned
position block of A⁽¹⁾ above the true parents (:func:`causal_tutorial.plots.plot_learned_graphs`).

Written to ``book/images/generated/landing.png`` (not committed), so that the figure always shows what
``results/paper/`` holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FAMILIES = {"chain": "Markov chain", "icl": "in-context pairs", "random": "random tree"}


def _results_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / "results" / "paper").is_dir():
            return folder / "results" / "paper"
    return None


def panels(results_dir: Path) -> dict:
    from causal_tutorial.reproduction import load_results

    results = load_results(results_dir)
    out = {}
    for name, label in FAMILIES.items():
        r = results.get(name)
        if r is not None and r.get("A1_position_block") is not None:
            out[label] = (r["A1_position_block"], r["task"]["parents"])
    forests = results.get("forests")
    if forests is not None and forests.get("graphs"):
        g = forests["graphs"][0]
        out["random forest"] = (g["A1_position_block"], g["task"]["parents"])
    return out


def draw(app: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from causal_tutorial.plots import plot_learned_graphs, set_style

    srcdir = Path(app.srcdir)
    target = srcdir / "book" / "images" / "generated" / "landing.png"
    results_dir = _results_dir(srcdir)
    found = panels(results_dir) if results_dir else {}
    if not found:
        raise RuntimeError(f"landing figure: no kept paper-scale result with an A1 block under {srcdir}")
    set_style()
    fig = plot_learned_graphs(found, suptitle=None)
    fig.set_size_inches(
        min(7.0, 1.1 + 2.3 * len(found)), 4.6
    )  # columns as wide as they are tall, whatever their number
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=150, bbox_inches="tight")
    plt.close(fig)


def setup(app: Any) -> dict:
    app.connect("builder-inited", draw)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
