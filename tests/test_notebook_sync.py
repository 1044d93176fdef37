"""Each chapter notebook is paired with a jupytext ``py:percent`` twin, and the two are in sync."""

from pathlib import Path

import jupytext
import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_and_percent_script_have_the_same_cells(nb_path):
    py_path = nb_path.with_suffix(".py")
    assert py_path.exists(), f"{nb_path.name} has no py:percent twin {py_path.name}; run `make sync`"
    assert _cells(jupytext.read(nb_path)) == _cells(jupytext.read(py_path)), (
        f"{nb_path.name} and {py_path.name} differ; run `make sync`"
    )


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_outputs_and_python3_kernel(nb_path):
    nb = jupytext.read(nb_path)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert any(c.get("outputs") for c in code), f"{nb_path.name} is committed without outputs"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{nb_path.name} has stored error outputs"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_has_alt_text_that_describes_it(nb_path):
    """myst-nb renders ``mystnb.image.alt`` of a cell as the alt text of its image output."""
    nb = jupytext.read(nb_path)
    figures = [
        c
        for c in nb.cells
        if c.cell_type == "code" and any("image/png" in o.get("data", {}) for o in c.get("outputs", []))
    ]
    assert figures, f"{nb_path.name} has no figures (the test may be wrong)"
    for c in figures:
        alt = c.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
        assert len(alt.split()) >= 8 and ".png" not in alt, f"{nb_path.name}: a figure without a describing alt text"
