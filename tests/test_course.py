"""The course kit graded by nbgrader itself (``scripts/make_course.py``): solutions score full marks, the release
scores zero, one wrong answer per chapter loses exactly that exercise's points, and a notebook that raises or
loops is graded with a clear message instead of crashing the grader.

Cost: whole chapters take 13–120 s each to run, so CI grades the *exercise sheets* (``make_course.py
--sheets``: each chapter's exercise cells, with the same nbgrader metadata, and the setup cells they need),
one ``nbgrader autograde`` per chapter for all its test students. The heaviest sheets (chapters 4 and 6 train
models) get a wrong answer that replaces a training exercise with a quick one.
"""

import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import book_exercises  # noqa: E402
import make_course  # noqa: E402

pytest.importorskip("nbgrader")
from nbgrader.api import Gradebook  # noqa: E402

SOLUTION = re.compile(r"(### BEGIN SOLUTION\n)(.*?)(\n### END SOLUTION)", re.S)

# One deliberately wrong answer per chapter: ("append", code) adds a line to the solution, ("replace", code)
# stands in for it (the quick way to get a training exercise wrong).
WRONG = {
    "ch01": ("ex-ch1-unigram", "replace", 'reason = "a"'),
    "ch02": ("ex-ch2-roots", "append", "random_roots = random_roots + 1"),
    "ch03": ("ex-ch3-icl-layer1", "append", "A1 = torch.zeros_like(A1)"),
    "ch04": (
        "ex-ch4-no-self",
        "replace",
        'from causal_tutorial.experiments import EXPERIMENTS, build_model\nmodel = build_model(EXPERIMENTS["chain"])\n'
        "blocked, suffer = model, [0, 1]",
    ),
    "ch05": ("ex-ch5-edge-chi2", "append", "value = value + 0.1"),
    "ch06": ("ex-ch6-uniform-start", "append", "value = value + 0.1"),
    "ch07": ("ex-ch7-adjacency", "append", "adj = torch.zeros_like(adj)"),
    "ch08": ("ex-ch8-parameters", "append", "count = count + 1"),
    "ch10": ("ex-ch10-largest-alpha", "append", "answer = {S: 10.0 for S in answer}"),
}
BROKEN = {  # chapter 1, graded with a 10 s limit per cell: one answer raises, one never returns
    "ex-ch1-bigram": 'raise RuntimeError("a bug in the student\'s code")',
    "ex-ch1-power": "while True:\n    pass",
}


def _answer(nb, label: str, how: str, code: str):
    nb = nbformat.from_dict(nb)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"{label}-answer")
    m = SOLUTION.search(cell.source)
    assert m, f"{label}-answer has no solution region"
    body = code if how == "replace" else m[2] + "\n" + code
    cell.source = cell.source[: m.start(2)] + body + cell.source[m.end(2) :]
    return nb


def _submit(course: Path, student: str, aid: str, nb) -> None:
    name = next((course / "source" / aid).glob("*.ipynb")).name
    target = course / "submitted" / student / aid / name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    ids = make_course.write_course(course, sheets=True)
    make_course.generate(course, ids)
    for aid in ids:
        source = nbformat.read(next((course / "source" / aid).glob("*.ipynb")), as_version=4)
        release = nbformat.read(next((course / "release" / aid).glob("*.ipynb")), as_version=4)
        _submit(course, "solution", aid, source)
        _submit(course, "release", aid, release)
        label, how, code = WRONG[aid]
        _submit(course, "wrong", aid, _answer(source, label, how, code))
        make_course.nbgrader(course, "autograde", aid, "--create", "--force")
    source = nbformat.read(next((course / "source" / "ch01").glob("*.ipynb")), as_version=4)
    for label, code in BROKEN.items():
        source = _answer(source, label, "replace", code)
    _submit(course, "broken", "ch01", source)
    broken = make_course.nbgrader(
        course, "autograde", "ch01", "--student", "broken", "--create", "--force", "--Execute.timeout=10"
    )
    return course, ids, broken


def _scores(course: Path, aid: str, student: str) -> dict[str, tuple]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission(aid, student)
        return {g.name: (g.auto_score, g.max_score, g.needs_manual_grade) for nb in sub.notebooks for g in nb.grades}


def _exercises(aid: str):
    return [ex for ex in book_exercises.all_exercises() if f"ch{ex.chapter[:2]}" == aid]


def test_every_exercise_has_points_an_answer_region_and_tests():
    for ex in book_exercises.all_exercises():
        assert ex.manual_points >= 1, f"{ex.label}: its answer in words has no points"
        assert (ex.auto_points >= 1) == bool(ex.checks), f"{ex.label}: autograded points iff it has a check"
    for nb_path in make_course.graded_chapters():
        nb = nbformat.read(nb_path, as_version=4)
        for c in nb.cells:
            meta = c.metadata.get("nbgrader")
            if meta and c.cell_type == "code":  # hidden in the book, and not run by nbval
                assert {"remove-cell", "nbval-skip"} <= set(c.metadata.get("tags", [])), meta["grade_id"]
            if meta and meta["solution"] and c.cell_type == "code":
                assert SOLUTION.search(c.source), meta["grade_id"]
            if meta and meta["grade"] and c.cell_type == "code":
                checks = [ex for ex in book_exercises.exercises_in(nb_path) if meta["grade_id"] == f"{ex.label}-tests"]
                assert checks and any(dotted.rsplit(".", 1)[1] in c.source for dotted in checks[0].checks)


def test_the_solutions_score_full_marks(graded):
    course, ids, _ = graded
    assert ids == [f"ch{p.stem[:2]}" for p in make_course.graded_chapters()]
    for aid in ids:
        scores = _scores(course, aid, "solution")
        for ex in _exercises(aid):
            if ex.checks:
                assert scores[f"{ex.label}-tests"][:2] == (ex.auto_points, ex.auto_points), (aid, ex.label)
            assert scores[f"{ex.label}-words"][2], f"{ex.label}: the answer in words awaits a teacher"


def test_the_release_scores_zero(graded):
    course, ids, _ = graded
    for aid in ids:
        scores = _scores(course, aid, "release")
        assert scores and all(auto == 0 for auto, _, _ in scores.values()), (aid, scores)
        assert not any(manual for _, _, manual in scores.values()), "an unanswered cell needs no teacher"


def test_one_wrong_answer_loses_exactly_its_points(graded):
    course, ids, _ = graded
    for aid in ids:
        label = WRONG[aid][0]
        right, wrong = _scores(course, aid, "solution"), _scores(course, aid, "wrong")
        lost = {name: right[name][0] - wrong[name][0] for name in right if right[name][0] is not None}
        assert {k: v for k, v in lost.items() if v} == {f"{label}-tests": right[f"{label}-tests"][1]}, (aid, lost)


def test_a_notebook_that_raises_or_loops_is_graded_with_a_message(graded):
    course, _, broken = graded
    assert broken.returncode == 0
    scores = _scores(course, "ch01", "broken")
    assert scores["ex-ch1-bigram-tests"][0] == 0 and scores["ex-ch1-power-tests"][0] == 0
    assert scores["ex-ch1-unigram-tests"][0] == scores["ex-ch1-unigram-tests"][1] > 0  # grading went on
    graded_nb = nbformat.read(next((course / "autograded" / "broken" / "ch01").glob("*.ipynb")), as_version=4)
    out = {
        c.metadata["nbgrader"]["grade_id"]: nbformat.writes(nbformat.v4.new_notebook(cells=[c]))
        for c in graded_nb.cells
        if "nbgrader" in c.metadata
    }
    assert "a bug in the student's code" in out["ex-ch1-bigram-answer"]
    assert "CellTimeoutError" in out["ex-ch1-power-answer"] or "timeout" in out["ex-ch1-power-answer"].lower()


def test_the_release_has_no_solution_and_the_leak_check_finds_one(tmp_path, graded):
    course, _, _ = graded
    released = make_course.release_notebooks(course)
    assert len(released) == len(make_course.graded_chapters())
    assert make_course.leaks(None, released) == []
    full = tmp_path / "full.ipynb"
    shutil.copy(book_exercises.chapters()[0], full)
    assert any("a solution block" in f or "solution line" in f for f in make_course.leaks(None, [full]))


def test_the_autograder_zip_holds_config_gradebook_and_sources(tmp_path, graded):
    import zipfile

    course, ids, _ = graded
    z = make_course.autograder_zip(course, tmp_path / "autograder.zip")
    names = set(zipfile.ZipFile(z).namelist())
    assert {"autograder/nbgrader_config.py", "autograder/gradebook.db"} <= names
    for aid in ids:
        assert any(n.startswith(f"autograder/source/{aid}/") and n.endswith(".ipynb") for n in names), aid
