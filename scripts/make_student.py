"""The student edition (``make student``): the same book with every solution removed, not merely hidden.

Copies the book's sources to ``_build/student/src``, and in each chapter notebook

- deletes every ```` ```{solution} ```` block and every code cell tagged ``solution``;
- splits the exercises' markdown so that each exercise is followed by a *starter cell*: a code cell that
  imports the exercise's check function and shows the call to make once the answer is written (an
  exercise answered in words gets a markdown cell to write in);

sets the edition's title and turns the Colab button off (it would open the full notebooks), then builds
the HTML into ``_build/student/html`` and leaves the notebooks in ``_build/student/notebooks``. Finally it
checks that no solution's text is left in either (``check``), and fails if any is.
(sphinx-exercise's own ``hide_solutions`` crashes on gated solutions, so the stripping is done here.)
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_exercises  # noqa: E402

ROOT = book_exercises.ROOT
OUT = ROOT / "_build" / "student"
STARTER_TAG = "starter"


def starter_cell(ex: book_exercises.Exercise):
    """The cell a student answers in: the check's import and its call, commented out until the answer exists."""
    if not ex.checks:
        return nbformat.v4.new_markdown_cell(
            f"*Your answer to “{ex.title}” (answered in words: write it here).*", metadata={"tags": [STARTER_TAG]}
        )
    imports: dict[str, list[str]] = {}
    for dotted in ex.checks:
        module, name = dotted.rsplit(".", 1)
        imports.setdefault(module, []).append(name)
    lines = [f"# Exercise: {ex.title}. Write your answer here, then run the check."]
    lines += [f"from {m} import {', '.join(dict.fromkeys(names))}" for m, names in imports.items()]
    lines += ["", "# ...", ""]
    lines += [f"# {ex.call}" if ex.call else f"# {ex.checks[0].rsplit('.', 1)[1]}(...)"]
    return nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": [STARTER_TAG]})


def strip_notebook(nb, exercises: dict[str, book_exercises.Exercise]):
    """The notebook without its solutions, each exercise followed by its starter cell (a new notebook)."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            continue
        if cell.cell_type != "markdown" or "{exercise}" not in cell.source:
            cells.append(cell)
            continue
        text = book_exercises.SOLUTION.sub("", cell.source)
        pieces, start = [], 0
        for m in book_exercises.EXERCISE.finditer(text):
            pieces.append((text[start : m.end()], exercises[m["label"]]))
            start = m.end()
        for k, (piece, ex) in enumerate(pieces):
            md = nbformat.v4.new_markdown_cell(piece.strip("\n"))
            if k == 0:
                md.metadata = cell.metadata
            cells += [md, starter_cell(ex)]
        rest = text[start:].strip("\n")
        if rest:
            cells.append(nbformat.v4.new_markdown_cell(rest))
    out = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    out.nbformat, out.nbformat_minor = nb.nbformat, nb.nbformat_minor
    return out


def prepare(src: Path) -> list[Path]:
    """Copy the book's sources to ``src`` with the student notebooks; returns them."""
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for name in ("_toc.yml", "references.bib", "CHANGELOG.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "book", src / "book", ignore=shutil.ignore_patterns("__pycache__", "*.py", ".*"))
    shutil.copytree(ROOT / "book" / "_ext", src / "book" / "_ext", dirs_exist_ok=True)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["title"] = f"{config['title']} (student edition)"
    config.setdefault("launch_buttons", {})["colab_url"] = ""  # Colab would open the full notebooks
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    exercises = {ex.label: ex for ex in book_exercises.all_exercises()}
    written = []
    for nb_path in book_exercises.chapters():
        nb = strip_notebook(nbformat.read(nb_path, as_version=4), exercises)
        target = src / "book" / nb_path.name
        nbformat.write(nb, target)
        written.append(target)
    return written


def _visible(text: str) -> str:
    """The text of an HTML page with tags removed and entities decoded, whitespace collapsed."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


def _flat(nb) -> str:
    """A notebook's sources and text outputs as one string, whitespace collapsed."""
    return " ".join(nbformat.writes(nb).replace("\\n", " ").replace('\\"', '"').split())


def giveaways(exercises: list[book_exercises.Exercise]) -> dict[str, list[str]]:
    """Each solution's distinctive lines that appear nowhere else in the book: not in the chapters with the
    solutions taken out (their prose, code and outputs), nor in the starter cells."""
    by_label = {ex.label: ex for ex in book_exercises.all_exercises()}
    elsewhere = " ".join(
        _flat(strip_notebook(nbformat.read(p, as_version=4), by_label)) for p in book_exercises.chapters()
    )
    return {
        ex.label: [line for line in book_exercises.distinctive_lines(ex.solution) if line not in elsewhere]
        for ex in exercises
    }


def leaks(html_dir: Path, notebooks: list[Path]) -> list[str]:
    """Where solution text survives in the student edition's pages or notebooks (empty when clean)."""
    exercises = book_exercises.all_exercises()
    lines = giveaways(exercises)
    found = []
    pages = {p: p.read_text(errors="replace") for p in html_dir.rglob("*.html")}
    visible = {p: _visible(t) for p, t in pages.items()}
    nb_text = {p: _flat(nbformat.read(p, as_version=4)) for p in notebooks}
    for p, raw in pages.items():
        if re.search(r'class="[^"]*\bsolution\b', raw) or "{solution}" in raw:
            found.append(f"{p.relative_to(html_dir)}: a solution block")
    for p in notebooks:
        if "{solution}" in p.read_text():
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--jupyter-book", default=str(Path(sys.executable).with_name("jupyter-book")))
    args = parser.parse_args(argv)
    src = args.out / "src"
    notebooks = prepare(src)
    subprocess.run([args.jupyter_book, "build", str(src), "-W", "--keep-going", "-q"], check=True)
    html_dir = args.out / "html"
    shutil.rmtree(html_dir, ignore_errors=True)
    shutil.copytree(src / "_build" / "html", html_dir)
    nb_dir = args.out / "notebooks"
    shutil.rmtree(nb_dir, ignore_errors=True)
    nb_dir.mkdir()
    for nb in notebooks:
        shutil.copy(nb, nb_dir / nb.name)
    problems = leaks(html_dir, sorted(nb_dir.glob("*.ipynb")))
    n_starters = sum(
        STARTER_TAG in c.metadata.get("tags", [])
        for nb in nb_dir.glob("*.ipynb")
        for c in nbformat.read(nb, as_version=4).cells
    )
    print(f"student edition: {len(notebooks)} notebooks, {n_starters} starter cells, in {args.out}/ (html, notebooks)")
    for p in problems:
        print("LEAK", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
