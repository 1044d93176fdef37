"""The course kit (``make course``): the book's exercises as an nbgrader course, built by nbgrader itself.

Every exercise of a chapter notebook carries nbgrader cells (see ``book_exercises.py``): its answer (a
solution cell whose ``### BEGIN SOLUTION`` … ``### END SOLUTION`` region holds the solution's code), its
autograded tests (a locked grade cell calling the package's check function, with ``### BEGIN HIDDEN TESTS``
where a visible check would give the answer away) and its answer in words (the ``{solution}`` cell itself, a
manually graded answer whose rubric is the solution's "A full answer names …"). In the book those code
cells are tagged ``remove-cell`` and ``nbval-skip``: the rendered page is unchanged.

This script writes an nbgrader course directory, ``_build/course/``:

- ``source/chNN/NN_name.ipynb``: one assignment per chapter with exercises, the chapter notebook as it is;
- ``release/chNN/``: what ``nbgrader generate_assignment`` makes of it: solutions cleared, hidden tests and
  the code cells tagged ``solution`` (those that compute the numbers a solution quotes) removed;
- ``nbgrader_config.py`` and ``gradebook.db``; ``autograder.zip`` holds these with ``source/``: unzip, add
  ``submitted/<student>/chNN/``, run ``nbgrader autograde chNN``.

Finally it checks that no solution's text is left in any release file (``leaks``). Options: ``--sheets``
makes each assignment an *exercise sheet* instead of the whole chapter (only the exercises' cells, and the
cells tagged ``exercise-setup`` that compute what they use): short to run, quick to grade.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_exercises  # noqa: E402

ROOT = book_exercises.ROOT
OUT = ROOT / "_build" / "course"
COURSE_ID = "causal-tutorial"
CELL_TIMEOUT = 600  # seconds a cell may run under autograde; the book's longest training cell takes about two minutes

CONFIG = f'''"""nbgrader's configuration for the causal_tutorial course (written by scripts/make_course.py)."""

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "{COURSE_ID}"
# generate_assignment: the release keeps the chapter's outputs (figures, printed results), clears the
# solutions, and removes the code cells tagged ``solution`` (they compute the numbers a solution quotes).
c.GenerateAssignment.preprocessors = [
    "nbconvert.preprocessors.TagRemovePreprocessor",
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.TagRemovePreprocessor.enabled = True
c.TagRemovePreprocessor.remove_cell_tags = {{"solution"}}
# autograde: every cell has {CELL_TIMEOUT} s; a cell that runs longer is interrupted, marked with a
# CellTimeoutError, and grading goes on with the next cell. Errors never stop the grading.
c.Execute.timeout = {CELL_TIMEOUT}
c.Execute.interrupt_on_timeout = True
c.Execute.allow_errors = True
'''


def assignment_id(nb_path: Path) -> str:
    """``ch01`` for ``01_markov_chains.ipynb``."""
    return f"ch{nb_path.stem[:2]}"


def graded_chapters() -> list[Path]:
    """The chapter notebooks that have exercises."""
    return [p for p in book_exercises.chapters() if book_exercises.exercises_in(p)]


def is_course_cell(cell) -> bool:
    """A cell an exercise sheet keeps: an exercise's text, its nbgrader cells and the setup they need."""
    return (
        "nbgrader" in cell.metadata
        or "exercise-setup" in cell.metadata.get("tags", [])
        or (cell.cell_type == "markdown" and "```{exercise}" in cell.source)
    )


def exercise_sheet(nb):
    """The chapter notebook reduced to its exercises: a title, then only the cells ``is_course_cell`` keeps."""
    title = nb.cells[0].source.splitlines()[0].removeprefix("# ").strip()
    head = nbformat.v4.new_markdown_cell(f"# Exercises: {title}\n\nThe chapter's text is in the book.")
    head["id"] = "sheet-title"
    sheet = nbformat.v4.new_notebook(cells=[head] + [c for c in nb.cells if is_course_cell(c)], metadata=nb.metadata)
    sheet.nbformat, sheet.nbformat_minor = nb.nbformat, nb.nbformat_minor
    return sheet


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the ``nbgrader`` command of this environment in the course directory."""
    exe = Path(sys.executable).with_name("nbgrader")
    # nbgrader runs ``alembic`` (the gradebook's migrations) by name: this environment's bin first on PATH
    env = {**os.environ, "CI": "1", "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # CI: no bars
    env.pop("MPLBACKEND", None)
    result = subprocess.run([str(exe), *args], cwd=course, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def write_course(course: Path, sheets: bool = False, chapters: list[Path] | None = None) -> list[str]:
    """A fresh course directory with one source assignment per chapter; returns the assignment ids."""
    shutil.rmtree(course, ignore_errors=True)
    course.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG)
    ids = []
    for nb_path in chapters or graded_chapters():
        nb = nbformat.read(nb_path, as_version=4)
        if sheets:
            nb = exercise_sheet(nb)
        target = course / "source" / assignment_id(nb_path) / nb_path.name
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
        ids.append(assignment_id(nb_path))
    return ids


def generate(course: Path, ids: list[str]) -> None:
    """``nbgrader generate_assignment`` for every assignment: the release notebooks and the gradebook."""
    for aid in ids:
        nbgrader(course, "generate_assignment", aid, "--force")


def autograder_zip(course: Path, target: Path) -> Path:
    """The autograder: the course's configuration, gradebook and source notebooks, in one zip."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for path in [course / "nbgrader_config.py", course / "gradebook.db", *sorted((course / "source").rglob("*"))]:
            if path.is_file() and ".ipynb_checkpoints" not in path.parts:
                z.write(path, Path("autograder") / path.relative_to(course))
    return target


# --- the leak check ------------------------------------------------------------------------------------
def _visible(text: str) -> str:
    """The text of an HTML page with tags removed and entities decoded, whitespace collapsed."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


def _flat(nb) -> str:
    """A notebook's sources and text outputs as one string, whitespace collapsed."""
    return " ".join(nbformat.writes(nb).replace("\\n", " ").replace('\\"', '"').split())


HIDDEN = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS).*?### END \1", re.S)


def _without_answers(nb):
    """A book notebook with every answer taken out (for the leak check's baseline only): the solution cells,
    the cells tagged ``solution``, and the solution and hidden-test regions of the code cells."""
    cells = []
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "markdown":
            continue
        if "solution" in c.metadata.get("tags", []):
            continue
        c = nbformat.from_dict(dict(c))
        c.source = HIDDEN.sub("", c.source)
        cells.append(c)
    return nbformat.v4.new_notebook(cells=cells)


def giveaways(exercises: list[book_exercises.Exercise]) -> dict[str, list[str]]:
    """Each solution's distinctive lines (its prose, and its code whether in the ``{solution}`` text or in the
    answer cell) that appear nowhere else in the book once the answers are taken out."""
    elsewhere = " ".join(_flat(_without_answers(nbformat.read(p, as_version=4))) for p in book_exercises.chapters())
    return {
        ex.label: [line for line in book_exercises.distinctive_lines(ex.solution) if line not in elsewhere]
        for ex in exercises
    }


def leaks(html_dir: Path | None, notebooks: list[Path]) -> list[str]:
    """Where solution text survives in released pages or notebooks (empty when clean)."""
    exercises = book_exercises.all_exercises()
    lines = giveaways(exercises)
    found = []
    pages = {p: p.read_text(errors="replace") for p in html_dir.rglob("*.html")} if html_dir else {}
    visible = {p: _visible(t) for p, t in pages.items()}
    nb_text = {p: _flat(nbformat.read(p, as_version=4)) for p in notebooks}
    for p, raw in pages.items():
        if re.search(r'class="[^"]*\bsolution\b', raw) or "{solution}" in raw:
            found.append(f"{p.relative_to(html_dir)}: a solution block")
    for p in notebooks:
        raw = p.read_text()
        if "{solution}" in raw or "BEGIN SOLUTION" in raw or "BEGIN HIDDEN TESTS" in raw:
            found.append(f"{p.name}: a solution block")
    for ex in exercises:
        for line in lines[ex.label]:
            for p, text in visible.items():
                if line in text:
                    found.append(f"{p.relative_to(html_dir)}: {ex.label}'s solution line {line!r}")
            for p, text in nb_text.items():
                if line in text:
                    found.append(f"{p.name}: {ex.label}'s solution line {line!r}")
    return found


def release_notebooks(course: Path) -> list[Path]:
    return sorted((course / "release").rglob("*.ipynb"))


def build(out: Path = OUT, sheets: bool = False) -> list[str]:
    """The whole kit in ``out``; returns the leaks found (empty when clean)."""
    ids = write_course(out, sheets=sheets)
    generate(out, ids)
    autograder_zip(out, out / "autograder.zip")
    return leaks(None, release_notebooks(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--sheets", action="store_true", help="assignments hold only the exercises, not the chapter")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    problems = build(args.out, sheets=args.sheets)
    notebooks = release_notebooks(args.out)
    points = sum(ex.auto_points + ex.manual_points for ex in book_exercises.all_exercises())
    print(
        f"course: {len(notebooks)} assignments, {points} points, release notebooks in {args.out / 'release'}, "
        f"autograder in {args.out / 'autograder.zip'} ({time.perf_counter() - t0:.1f} s)"
    )
    for p in problems:
        print("LEAK", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
