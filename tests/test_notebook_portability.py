"""The rule for stored outputs (book/sanitize.cfg's header): digits printed from a training trajectory are not
compared, their claims are asserted with a tolerance instead; everything else is compared exactly.

nbval honours the cell tag ``nbval-ignore-output``; these tests make sure it is used only as the rule says."""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
IGNORE = "nbval-ignore-output"
#: Chapters that train nothing: every output there is exact on any machine.
EXACT_CHAPTERS = ("01_markov_chains", "02_causal_graphs")


def _code_cells(nb: Path) -> list[dict]:
    return [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]


def _asserts(cell: dict) -> bool:
    tree = ast.parse("".join(cell["source"]))
    return any(isinstance(node, ast.Assert) for node in ast.walk(tree))


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.stem)
def test_every_cell_whose_digits_are_not_compared_asserts_its_claims(nb):
    cells = _code_cells(nb)
    for k, cell in enumerate(cells):
        if IGNORE not in _tags(cell):
            continue
        following = cells[k + 1] if k + 1 < len(cells) else None
        assert _asserts(cell) or (following is not None and _asserts(following)), (
            f"{nb.name}: a cell tagged {IGNORE} asserts nothing, nor does the next code cell:\n"
            + "".join(cell["source"])[:300]
        )


@pytest.mark.parametrize("name", EXACT_CHAPTERS)
def test_chapters_that_train_nothing_are_compared_digit_for_digit(name):
    tagged = [c for c in _code_cells(ROOT / "book" / f"{name}.ipynb") if IGNORE in _tags(c)]
    assert not tagged, f"{name} trains nothing, so none of its outputs may escape comparison"


def test_the_check_catches_a_tagged_cell_without_an_assertion(tmp_path):
    nb = {
        "cells": [
            {"cell_type": "code", "metadata": {"tags": [IGNORE]}, "source": ["print(loss)\n"], "outputs": []},
            {"cell_type": "code", "metadata": {}, "source": ["x = 1  # assert in a comment\n"], "outputs": []},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "03_bad.ipynb"
    path.write_text(json.dumps(nb))
    with pytest.raises(AssertionError, match="asserts nothing"):
        test_every_cell_whose_digits_are_not_compared_asserts_its_claims(path)
    nb["cells"][1]["source"] = ["assert abs(loss - 1.8) < 0.05\n"]
    path.write_text(json.dumps(nb))
    test_every_cell_whose_digits_are_not_compared_asserts_its_claims(path)
