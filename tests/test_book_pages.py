"""The generated regions of the instructor and running pages are up to date with their sources, and
cover them: every chapter, every exercise, every kept paper-scale run."""

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import book_exercises  # noqa: E402
import make_pages  # noqa: E402


def test_the_generated_pages_are_up_to_date():
    for page in make_pages.PAGES:
        text = page.read_text()
        assert make_pages.REGION.search(text), f"{page.name} has no generated region"
        assert make_pages.render(text) == text, f"{page.name} is stale: run python scripts/make_pages.py"


def test_the_instructor_page_lists_every_chapter_and_exercise_with_its_rating_and_check():
    text = (ROOT / "book" / "teachers.md").read_text()
    for nb in book_exercises.chapters():
        assert f"### {make_pages.about(nb)['title']}" in text, nb.name
    for ex in book_exercises.all_exercises():
        row = next(line for line in text.splitlines() if f"<{ex.label}>" in line)
        assert make_pages.stars(ex.difficulty) in row and f"| {ex.minutes} |" in row, row
        for check in ex.checks:
            assert check.rsplit(".", 1)[1] in row, row


def test_the_about_box_parser_reads_goals_prerequisites_and_time():
    info = make_pages.about(book_exercises.chapters()[0])
    assert info["title"] == "In-context Markov chains"
    assert len(info["goals"]) >= 3 and all(g and not g.startswith("-") for g in info["goals"])
    assert info["time"].startswith("about ") and info["prerequisites"]


def test_the_running_page_shows_every_kept_run_and_every_chapter_time():
    text = (ROOT / "book" / "running.md").read_text()
    for path in sorted((ROOT / "results" / "paper").glob("*/result.json")):
        r = json.loads(path.read_text())
        assert f"| `{path.parent.name}` |" in text and f"{r['wall_time_s'] / 60:.0f} min" in text
    times = json.loads((ROOT / "book" / "_data" / "chapter_times.json").read_text())
    for nb in book_exercises.chapters():
        assert nb.stem in times["seconds"], f"{nb.name} has no measured run time (scripts/time_chapters.py)"


def test_the_pages_for_readers_are_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for name in ("book/running", "book/teachers", "book/notation"):
        assert name in files
