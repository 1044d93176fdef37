"""The student edition (``make student``): the book built from the course kit's release notebooks.

A thin call of ``make_course.py``: nbgrader's ``generate_assignment`` removes every solution (the answers
become "YOUR CODE HERE" cells, the answers in words "YOUR ANSWER HERE"; hidden tests and the cells tagged
``solution`` go). This script copies the book's sources to ``_build/student/src`` with those release
notebooks as the chapters, shows each exercise's answer and test cells on the page (the book hides them
with ``remove-cell``), sets the edition's title and turns the Colab button off (it would open the full
notebooks), builds the HTML into ``_build/student/html`` and leaves the notebooks in
``_build/student/notebooks``. Finally it checks that no solution's text is left in either
(``make_course.leaks``), and fails if any is.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_exercises  # noqa: E402
import make_course  # noqa: E402

ROOT = book_exercises.ROOT
OUT = ROOT / "_build" / "student"
STARTER_TAG = "starter"


def on_the_page(nb):
    """A release notebook with its nbgrader code cells shown (tagged ``starter``), not removed from the page."""
    for cell in nb.cells:
        if "nbgrader" in cell.metadata and cell.cell_type == "code":
            tags = [t for t in cell.metadata.get("tags", []) if t != "remove-cell"]
            cell.metadata["tags"] = tags + [STARTER_TAG]
    return nb


def prepare(src: Path, course: Path) -> list[Path]:
    """Copy the book's sources to ``src`` with the release notebooks of ``course`` as chapters; returns them."""
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
    written = []
    for nb_path in make_course.release_notebooks(course):
        target = src / "book" / nb_path.name
        nbformat.write(on_the_page(nbformat.read(nb_path, as_version=4)), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--course", type=Path, default=make_course.OUT, help="the course kit (made when missing)")
    parser.add_argument("--jupyter-book", default=str(Path(sys.executable).with_name("jupyter-book")))
    args = parser.parse_args(argv)
    if not make_course.release_notebooks(args.course):
        problems = make_course.build(args.course)
        if problems:
            print("\n".join(f"LEAK {p}" for p in problems))
            return 1
    src = args.out / "src"
    notebooks = prepare(src, args.course)
    subprocess.run([args.jupyter_book, "build", str(src), "-W", "--keep-going", "-q"], check=True)
    html_dir = args.out / "html"
    shutil.rmtree(html_dir, ignore_errors=True)
    shutil.copytree(src / "_build" / "html", html_dir)
    nb_dir = args.out / "notebooks"
    shutil.rmtree(nb_dir, ignore_errors=True)
    nb_dir.mkdir()
    for nb in notebooks:
        shutil.copy(nb, nb_dir / nb.name)
    problems = make_course.leaks(html_dir, sorted(nb_dir.glob("*.ipynb")))
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
