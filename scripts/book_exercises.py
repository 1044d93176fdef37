"""The book's exercises and solutions, read from the chapter notebooks (the one place they are written).

Each exercise is a sphinx-exercise directive in a markdown cell::

    ```{exercise} Title
    :label: ex-chN-name

    **Difficulty** ★★☆ · **Importance** ★★★ · **About 15 min**

    The task, naming its check function: `check_something(args)` from `causal_tutorial.exercises.module`.
    ```

and its solution follows as ```` ```{solution} ex-chN-name ```` (code inside a solution is fenced with
``~~~``). Code cells tagged ``solution`` hold an exercise's answer too. Each exercise also carries nbgrader
cells (``make_course.py``): its answer (``<label>-answer``, a solution cell), its autograded tests
(``<label>-tests``) and its answer in words (the ``{solution}`` cell itself, ``<label>-words``, graded by
hand with the rubric it holds). Used by ``make_course.py`` and ``make_pages.py`` (which lists the exercises).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

EXERCISE = re.compile(r"```\{exercise\} (?P<title>[^\n]*)\n:label: (?P<label>\S+)\n(?P<body>.*?)\n```(?=\n|$)", re.S)
SOLUTION = re.compile(r"\n*```\{solution\} (?P<label>\S+)\n(?P<body>.*?)\n```(?=\n|$)", re.S)
RATING = re.compile(
    r"\*\*Difficulty\*\* (?P<d>[★☆]{3}) · \*\*Importance\*\* (?P<i>[★☆]{3}) · \*\*About (?P<m>\d+) min\*\*"
)
CHECK_CALL = re.compile(r"`(?P<call>(?P<name>check_\w+)\([^`]*\))`")
CHECK_IMPORT = re.compile(r"from (?P<module>causal_tutorial\.exercises\.\w+) import (?P<names>[\w, ]+)")


@dataclass
class Exercise:
    chapter: str  # the notebook's stem, e.g. "03_disentangled_transformer"
    label: str
    title: str
    difficulty: int  # 1 to 3 stars
    importance: int
    minutes: int
    body: str
    solution: str
    checks: list[str] = field(default_factory=list)  # "module.function" of every check the solution calls
    call: str = ""  # the check call as the exercise writes it, e.g. "check_layer1_matrix(A1)"
    auto_points: int = 0  # nbgrader: the points of its autograded test cell (``<label>-tests``)
    manual_points: int = 0  # nbgrader: the points of its answer in words (``<label>-words``), graded by hand


def chapters() -> list[Path]:
    return sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))


def grade_cells(nb) -> dict[str, dict]:
    """The nbgrader metadata of a notebook's cells, by grade id (``<label>-answer``, ``-tests``, ``-words``)."""
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata}


def solutions_in(text: str) -> dict[str, str]:
    return {m["label"]: m["body"] for m in SOLUTION.finditer(text)}


def exercises_in(nb_path: Path) -> list[Exercise]:
    nb = nbformat.read(nb_path, as_version=4)
    text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    solutions = solutions_in(text)
    grades = grade_cells(nb)
    found = []
    for m in EXERCISE.finditer(text):
        rating = RATING.search(m["body"])
        if rating is None:
            raise ValueError(f"{nb_path.name}: exercise {m['label']} has no '**Difficulty** … min**' line")
        solution = solutions.get(m["label"])
        if solution is None:
            raise ValueError(f"{nb_path.name}: exercise {m['label']} has no solution")
        checks = [
            f"{imp['module']}.{name.strip()}"
            for imp in CHECK_IMPORT.finditer(solution)
            for name in imp["names"].split(",")
            if name.strip().startswith("check_")
        ]
        call = CHECK_CALL.search(m["body"])
        body_module = re.search(r"`(causal_tutorial\.exercises\.\w+)`", m["body"])
        if not checks and call and body_module:  # the exercise names its check; the solution only calls it
            checks = [f"{body_module[1]}.{call['name']}"]
        found.append(
            Exercise(
                chapter=nb_path.stem,
                label=m["label"],
                title=m["title"].strip(),
                difficulty=rating["d"].count("★"),
                importance=rating["i"].count("★"),
                minutes=int(rating["m"]),
                body=m["body"],
                solution=solution,
                checks=checks,
                call=call["call"] if call else "",
                auto_points=grades.get(f"{m['label']}-tests", {}).get("points", 0),
                manual_points=grades.get(f"{m['label']}-words", {}).get("points", 0),
            )
        )
    return found


def all_exercises() -> list[Exercise]:
    return [ex for nb in chapters() for ex in exercises_in(nb)]


def distinctive_lines(solution: str, min_code: int = 15, min_prose: int = 25) -> list[str]:
    """Lines of a solution that would give it away if found in the student edition, whitespace collapsed:
    its code lines (but imports, which the exercise's own text names) and its plain prose lines (no
    markup, so that they appear verbatim in the rendered page)."""
    lines, in_code = [], False
    for raw in solution.splitlines():
        line = " ".join(raw.split())
        if line.startswith("~~~"):
            in_code = not in_code
            continue
        if in_code:
            if len(line) >= min_code and not line.startswith(("import ", "from ", "#")):
                lines.append(line)
        elif len(line) >= min_prose and not line.startswith(":") and not any(ch in line for ch in "$`{}*[]\\_"):
            lines.append(line)
    return lines
