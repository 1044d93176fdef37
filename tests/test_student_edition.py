"""The student edition's notebooks: every solution gone, a starter cell after every exercise whose imports
run, and a leak check that does find the solutions in the full edition."""

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import book_exercises  # noqa: E402
import make_student  # noqa: E402

EXERCISES = book_exercises.all_exercises()
BY_LABEL = {ex.label: ex for ex in EXERCISES}


def test_every_exercise_has_a_rating_a_solution_and_a_check_unless_answered_in_words():
    assert len(EXERCISES) >= 20
    assert len({ex.label for ex in EXERCISES}) == len(EXERCISES)
    for ex in EXERCISES:
        assert 1 <= ex.difficulty <= 3 and 1 <= ex.importance <= 3 and 0 < ex.minutes <= 60, ex.label
        assert ex.solution.strip(), ex.label
    in_words = {ex.label for ex in EXERCISES if not ex.checks}
    assert in_words == {"ex-ch3-one-constant"}, in_words


@pytest.mark.parametrize("nb_path", book_exercises.chapters(), ids=lambda p: p.stem)
def test_the_student_notebook_has_no_solution_and_a_starter_after_each_exercise(nb_path, tmp_path):
    full = nbformat.read(nb_path, as_version=4)
    student = make_student.strip_notebook(full, BY_LABEL)
    text = "\n".join(c.source for c in student.cells)
    assert "{solution}" not in text
    assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
    labels = [ex.label for ex in book_exercises.exercises_in(nb_path)]
    for label in labels:
        k = next(i for i, c in enumerate(student.cells) if f":label: {label}" in c.source)
        starter = student.cells[k + 1]
        assert make_student.STARTER_TAG in starter.metadata["tags"], label
        if starter.cell_type == "code":
            exec(compile(starter.source, f"{label}-starter", "exec"), {})  # the check's import works
            assert BY_LABEL[label].checks[0].rsplit(".", 1)[1] in starter.source.splitlines()[-1]
    # nothing else is lost: every non-solution code cell survives, in order, with its outputs
    kept = [c for c in full.cells if c.cell_type == "code" and "solution" not in c.metadata.get("tags", [])]
    student_code = [
        c for c in student.cells if c.cell_type == "code" and make_student.STARTER_TAG not in c.metadata.get("tags", [])
    ]
    assert [c.source for c in kept] == [c.source for c in student_code]
    assert [c.get("outputs") for c in kept] == [c.get("outputs") for c in student_code]
    nbformat.validate(student)


def test_the_leak_check_finds_the_solutions_of_the_full_edition(tmp_path):
    (tmp_path / "html").mkdir()
    page = tmp_path / "html" / "page.html"
    ex = next(ex for ex in EXERCISES if make_student.giveaways([ex])[ex.label])
    line = make_student.giveaways([ex])[ex.label][0]
    page.write_text(f"<html><body><p>{line}</p></body></html>")
    found = make_student.leaks(tmp_path / "html", book_exercises.chapters())
    assert any(f"{ex.label}'s solution line" in f and "page.html" in f for f in found)
    for nb_path in book_exercises.chapters():
        if book_exercises.exercises_in(nb_path):
            assert f"{nb_path.name}: a solution block" in found
    student = tmp_path / "student.ipynb"
    nbformat.write(
        make_student.strip_notebook(nbformat.read(book_exercises.chapters()[0], as_version=4), BY_LABEL), student
    )
    page.write_text("<html><body><p>nothing to see</p></body></html>")
    assert make_student.leaks(tmp_path / "html", [student]) == []
