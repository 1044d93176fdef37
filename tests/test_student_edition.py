"""The student edition is the course kit's release (nbgrader ``generate_assignment``) put on the page: every
solution gone, an answer cell and a test cell after every exercise with a check, whose imports run, and a leak
check that does find the solutions in the full edition."""

import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import book_exercises  # noqa: E402
import make_course  # noqa: E402
import make_student  # noqa: E402

pytest.importorskip("nbgrader")

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


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The release of two chapters (the full kit is `make course`; the release is cheap, no execution)."""
    course = tmp_path_factory.mktemp("course")
    chapters = make_course.graded_chapters()[:2]
    make_course.generate(course, make_course.write_course(course, chapters=chapters))
    return course


def test_the_student_notebook_has_no_solution_and_a_starter_after_each_exercise(course, tmp_path):
    src = tmp_path / "src"
    written = make_student.prepare(src, course)
    assert [p.name for p in written] == [p.name for p in make_course.graded_chapters()[:2]]
    for path in written:
        full = nbformat.read(ROOT / "book" / path.name, as_version=4)
        student = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in student.cells)
        assert "{solution}" not in text and "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
        assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
        for ex in book_exercises.exercises_in(ROOT / "book" / path.name):
            k = next(i for i, c in enumerate(student.cells) if f":label: {ex.label}" in c.source)
            after = student.cells[k + 1]
            if ex.checks:
                assert make_student.STARTER_TAG in after.metadata["tags"], ex.label
                assert "remove-cell" not in after.metadata["tags"], "the starter shows on the student's page"
                header = after.source.split("# YOUR CODE HERE")[0]
                exec(compile(header, f"{ex.label}-starter", "exec"), {})  # the check's import works
                tests = student.cells[k + 2]
                assert tests.metadata["nbgrader"]["grade_id"] == f"{ex.label}-tests" and tests.source.strip(), ex.label
            words = next(
                c for c in student.cells[k:] if c.metadata.get("nbgrader", {}).get("grade_id") == f"{ex.label}-words"
            )
            assert words.source == "YOUR ANSWER HERE"
        # nothing else is lost: every code cell of the book that is not an answer survives, with its outputs
        kept = [
            c
            for c in full.cells
            if c.cell_type == "code" and "solution" not in c.metadata.get("tags", []) and "nbgrader" not in c.metadata
        ]
        student_code = [c for c in student.cells if c.cell_type == "code" and "nbgrader" not in c.metadata]
        assert [c.source for c in kept] == [c.source for c in student_code]
        assert [c.get("outputs") for c in kept] == [c.get("outputs") for c in student_code]
        nbformat.validate(student)


def test_the_leak_check_finds_the_solutions_of_the_full_edition(tmp_path, course):
    (tmp_path / "html").mkdir()
    page = tmp_path / "html" / "page.html"
    ex = next(ex for ex in EXERCISES if make_course.giveaways([ex])[ex.label])
    line = make_course.giveaways([ex])[ex.label][0]
    page.write_text(f"<html><body><p>{line}</p></body></html>")
    found = make_course.leaks(tmp_path / "html", book_exercises.chapters())
    assert any(f"{ex.label}'s solution line" in f and "page.html" in f for f in found)
    for nb_path in book_exercises.chapters():
        if book_exercises.exercises_in(nb_path):
            assert f"{nb_path.name}: a solution block" in found
    release = make_course.release_notebooks(course)
    copies = []
    for p in release:
        shutil.copy(p, tmp_path / p.name)
        copies.append(tmp_path / p.name)
    page.write_text("<html><body><p>nothing to see</p></body></html>")
    assert make_course.leaks(tmp_path / "html", copies) == []
