"""The book's generated tables: the instructor page and the running page (``make pages``).

Both pages are hand-written Markdown with generated regions between ``<!-- generated: NAME -->`` and
``<!-- end generated -->``; this script fills the regions from the sources they summarise, so that they
cannot drift (``tests/test_book_pages.py`` fails when a committed page differs from what this writes):

- ``book/teachers.md``: per chapter, the learning goals, prerequisites and time of its *About this
  chapter* box, and every exercise with its difficulty, importance, minutes and check function
  (``scripts/book_exercises.py``);
- ``book/course.md``: the course kit's points per chapter and per exercise, read from the nbgrader metadata
  of the chapters' exercise cells (``scripts/make_course.py``);
- ``book/running.md``: each chapter's measured run time (``book/_data/chapter_times.json``, written by
  ``scripts/time_chapters.py``) and each kept paper-scale run's wall time and device
  (``results/paper/*/result.json``).

Usage: ``python scripts/make_pages.py`` (writes) or ``--check`` (exit 1 when a page is stale).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_exercises  # noqa: E402

ROOT = book_exercises.ROOT
BOOK = book_exercises.BOOK
REGION = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
ABOUT = re.compile(r"```\{admonition\} About this (?:chapter|page)\n:class: tip\n(?P<body>.*?)\n```", re.S)
PAPER_ORDER = ["chain", "icl", "random", "multiparent", "standard", "forests"]


def stars(k: int) -> str:
    return "★" * k + "☆" * (3 - k)


def about(nb_path: Path) -> dict:
    """Title, learning goals, prerequisites and time from a chapter's first cell."""
    first = nbformat.read(nb_path, as_version=4).cells[0].source
    title = first.splitlines()[0].removeprefix("# ").strip()
    box = ABOUT.search(first)
    if box is None:
        raise ValueError(f"{nb_path.name}: no 'About this chapter' box in the first cell")
    body = box["body"]
    goals = re.search(r"\*\*You will learn\*\*\n(.*?)\n\n", body, re.S)
    prereq = re.search(r"\*\*Prerequisites\*\* (.*?)(?:\n\n|$)", body, re.S)
    time = re.search(r"\*\*Time\*\* (.*?)(?:\n\n|$)", body, re.S)
    if not (goals and prereq and time):
        raise ValueError(f"{nb_path.name}: the About box needs 'You will learn', 'Prerequisites' and 'Time'")
    items = [" ".join(g.split()) for g in re.split(r"\n- ", "\n" + goals[1].strip())[1:]]
    return {
        "title": title,
        "goals": items,
        "prerequisites": " ".join(prereq[1].split()),
        "time": " ".join(time[1].split()),
    }


def _check_cell(ex: book_exercises.Exercise) -> str:
    if not ex.checks:
        return "answered in words"
    return ", ".join(f"`{c.removeprefix('causal_tutorial.exercises.')}`" for c in ex.checks)


def teachers_chapters() -> str:
    out = []
    for nb_path in book_exercises.chapters():
        info, exercises = about(nb_path), book_exercises.exercises_in(nb_path)
        out += [f"### {info['title']}", "", f"[Open the chapter]({nb_path.stem}.ipynb) · {info['time']}", ""]
        out += ["**Learning goals**", ""] + [f"- {g}" for g in info["goals"]] + [""]
        out += [f"**Prerequisites** {info['prerequisites']}", ""]
        if exercises:
            total = sum(ex.minutes for ex in exercises)
            out += [f"**Exercises** ({len(exercises)}, about {total} minutes in all)", ""]
            out += ["| exercise | difficulty | importance | minutes | check |", "|---|---|---|---|---|"]
            for ex in exercises:
                out.append(
                    f"| {{ref}}`{ex.title} <{ex.label}>` | {stars(ex.difficulty)} | {stars(ex.importance)} "
                    f"| {ex.minutes} | {_check_cell(ex)} |"
                )
            out.append("")
    return "\n".join(out)


def teachers_summary() -> str:
    out = ["| chapter | reading time | exercises | exercise minutes |", "|---|---|---|---|"]
    for nb_path in book_exercises.chapters():
        info, exercises = about(nb_path), book_exercises.exercises_in(nb_path)
        reading = re.match(r"about (\d+ minutes) to read", info["time"])
        out.append(
            f"| [{info['title']}]({nb_path.stem}.ipynb) | {reading[1] if reading else info['time']} "
            f"| {len(exercises)} | {sum(ex.minutes for ex in exercises)} |"
        )
    return "\n".join(out) + "\n"


def chapter_times() -> str:
    path = BOOK / "_data" / "chapter_times.json"
    data = json.loads(path.read_text())
    out = [
        f"Measured by `scripts/time_chapters.py` on {data['machine']} ({data['date']}; {data['conditions']}).",
        "",
        "| chapter | run time (book scale) |",
        "|---|---|",
    ]
    for nb_path in book_exercises.chapters():
        seconds = data["seconds"].get(nb_path.stem)
        shown = "not measured" if seconds is None else f"{seconds:.0f} s"
        out.append(f"| [{about(nb_path)['title']}]({nb_path.stem}.ipynb) | {shown} |")
    return "\n".join(out) + "\n"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def paper_runs() -> str:
    out = [
        "| experiment | paper figure | steps × batch | wall time | of which training | device | commit |",
        "|---|---|---|---|---|---|---|",
    ]
    missing = []
    for name in PAPER_ORDER:
        paths = sorted((ROOT / "results" / "paper" / name).glob("result*.json"))  # result.json (CPU), result_cuda.json
        if not paths:
            missing.append(f"`{name}`")
            continue
        for path in paths:
            r = json.loads(path.read_text())
            train = r["config"]["train"]
            steps = f"$2^{{{int(train['steps']).bit_length() - 1}}}$ × {train['batch_size']}"
            # a stacked many-graph run records each graph's share of the one training loop
            training = r.get("train_time_s") or sum(g.get("train_time_s") or 0 for g in r.get("graphs", []))
            shown_train = _duration(training) if training else "—"
            out.append(
                f"| `{name}` | {r.get('figure', '')} | {steps} | {_duration(r['wall_time_s'])} | {shown_train} "
                f"| {r['device_name']} | `{r['git_commit'][:7]}` |"
            )
    if missing:
        out += ["", f"Not yet run at the paper's scale and kept: {', '.join(missing)}."]
    return "\n".join(out) + "\n"


def _hidden(nb_path: Path) -> set[str]:
    """The labels of a chapter's exercises whose tests are (partly) hidden from the students."""
    nb = nbformat.read(nb_path, as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"].removesuffix("-tests")
        for c in nb.cells
        if "nbgrader" in c.metadata and "BEGIN HIDDEN TESTS" in c.source
    }


def course_points() -> str:
    """Per chapter: the assignment, its exercises, its points (autograded and by hand) and minutes."""
    out = [
        "| assignment | chapter | exercises | autograded points | points graded by hand | total | minutes |",
        "|---|---|---|---|---|---|---|",
    ]
    totals = [0, 0, 0, 0]
    for nb_path in book_exercises.chapters():
        exercises = book_exercises.exercises_in(nb_path)
        if not exercises:
            continue
        auto, manual = sum(ex.auto_points for ex in exercises), sum(ex.manual_points for ex in exercises)
        minutes = sum(ex.minutes for ex in exercises)
        totals = [totals[0] + len(exercises), totals[1] + auto, totals[2] + manual, totals[3] + minutes]
        out.append(
            f"| `ch{nb_path.stem[:2]}` | [{about(nb_path)['title']}]({nb_path.stem}.ipynb) | {len(exercises)} "
            f"| {auto} | {manual} | {auto + manual} | {minutes} |"
        )
    n, auto, manual, minutes = totals
    out.append(f"| all | | {n} | {auto} | {manual} | {auto + manual} | {minutes} |")
    return "\n".join(out) + "\n"


def course_exercises() -> str:
    """Per exercise: its minutes, its points and how its answer is graded."""
    out = ["| exercise | minutes | autograded | by hand | tests |", "|---|---|---|---|---|"]
    for nb_path in book_exercises.chapters():
        hidden = _hidden(nb_path)
        for ex in book_exercises.exercises_in(nb_path):
            tests = "hidden" if ex.label in hidden else ("visible" if ex.checks else "none (answered in words)")
            out.append(
                f"| {{ref}}`{ex.title} <{ex.label}>` | {ex.minutes} | {ex.auto_points} | {ex.manual_points} | {tests} |"
            )
    return "\n".join(out) + "\n"


GENERATORS = {
    "course-points": course_points,
    "course-exercises": course_exercises,
    "teachers-summary": teachers_summary,
    "teachers-chapters": lambda: teachers_chapters() + "\n",
    "chapter-times": chapter_times,
    "paper-runs": paper_runs,
}
PAGES = [BOOK / "teachers.md", BOOK / "running.md", BOOK / "course.md"]


def render(text: str) -> str:
    def fill(m: re.Match) -> str:
        return m.group(1) + GENERATORS[m["name"]]() + m.group(4)

    return REGION.sub(fill, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed page is stale")
    args = parser.parse_args(argv)
    stale = []
    for page in PAGES:
        old = page.read_text()
        new = render(old)
        if new != old:
            stale.append(page.name)
            if not args.check:
                page.write_text(new)
    if args.check and stale:
        print(f"stale generated pages: {', '.join(stale)} (run: python scripts/make_pages.py)")
        return 1
    print(("rewrote " + ", ".join(stale)) if stale else "pages up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
