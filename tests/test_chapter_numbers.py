"""Chapter numbers agree in the HTML, the PDF and the prose.

The prose calls ``book/NN_*`` "chapter NN". The HTML numbers the pages of the ``numbered: true`` parts of
``_toc.yml`` 1, 2, ... across the parts (Jupyter Book's multi-toctree numbering); the PDF gets the same numbers
from the local extension ``book/_ext/site_fixes.py``, which also makes the introduction and the pages after the
chapters unnumbered and stops the build if the two would differ. These tests check the configuration and the
extension on a small tree (no build), and the LaTeX of a built book when there is one (``make pdf``).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from docutils import nodes
from docutils.utils import new_document
from sphinx import addnodes
from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parents[1]
LATEX = ROOT / "_build" / "latex"


def _site_fixes():
    spec = importlib.util.spec_from_file_location("site_fixes_under_test", ROOT / "book" / "_ext" / "site_fixes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _toc() -> dict:
    return yaml.safe_load((ROOT / "_toc.yml").read_text())


def _chapter_files() -> list[str]:
    return sorted(f"book/{p.stem}" for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def _chapter_title(doc: str) -> str:
    text = (ROOT / f"{doc}.py").read_text()
    return re.search(r"^# # (.+)$", text, re.MULTILINE).group(1).strip()


def test_the_numbered_parts_hold_the_chapters_in_the_order_of_their_numbers():
    toc = _toc()
    numbered = [c["file"] for part in toc["parts"] if part.get("numbered") for c in part["chapters"]]
    assert numbered == _chapter_files(), "the numbered parts are exactly book/01_... book/NN_..."
    for number, doc in enumerate(numbered, start=1):
        assert Path(doc).name.startswith(f"{number:02d}_"), f"{doc} would be chapter {number}"
    flags = [bool(part.get("numbered")) for part in toc["parts"]]
    assert flags == sorted(flags, reverse=True), "the numbered parts come first, one run (the back pages unnumbered)"
    assert toc["root"] not in numbered and "numbered" not in toc
    for part in toc["parts"]:
        assert part.get("numbered") in (None, True), "numbered: true (every level), not a depth or false"
        assert "restart_numbering" not in part and "style" not in part, "plain 1, 2, ... across the parts"


def test_the_numbering_runs_on_across_the_parts_and_the_extension_is_loaded():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = config.get("sphinx", {})
    assert sphinx.get("config", {}).get("use_multitoc_numbering", True) is True
    assert sphinx.get("local_extensions", {}).get("site_fixes") == "book/_ext"


def test_the_prose_names_only_chapters_that_exist():
    last = len(_chapter_files())
    sources = [*(ROOT / "book").glob("*.md"), *(ROOT / "book").glob("[0-9][0-9]_*.py")]
    sources += (ROOT / "causal_tutorial").rglob("*.py")
    for path in sources:
        for match in re.finditer(r"\b[Cc]hapters? (\d+)", path.read_text()):
            assert 1 <= int(match.group(1)) <= last, f"{path.name}: {match.group(0)!r}"


def _section(title: str, docname: str | None = None, *children: nodes.Node) -> nodes.section:
    section = nodes.section(ids=[title.lower().replace(" ", "-")], **({"docname": docname} if docname else {}))
    section += nodes.title(title, title)
    for child in children:
        section += child
    return section


def _small_book(numbers: dict[str, int | None]):
    """The LaTeX builder's tree of a book: a root page, two numbered parts (3 chapters) and a back page."""
    parts = [(True, ["ch1", "ch2"]), (True, ["ch3"]), (False, ["back"])]
    root_page = new_document("<root page>")
    root_section = _section("Book title", None, nodes.paragraph("", "What the book is."))
    for numbered, docs in parts:
        root_section += addnodes.toctree(numbered=999 if numbered else 0, includefiles=docs)
    root_page += root_section

    tree = new_document("<latex>")
    top = _section("Book title", None, nodes.paragraph("", "What the book is."), _section("Using the book"))
    for _, docs in parts:
        wrapper = nodes.compound(classes=["toctree-wrapper"])
        for doc in docs:
            page = addnodes.start_of_file(docname=doc)
            page += _section(doc.upper(), doc, nodes.paragraph("", "text"), _section(f"{doc} part", doc))
            wrapper += page
        top += wrapper
    tree += top
    titles = {"root": nodes.title("Book title", "Book title")}
    for doc, number in numbers.items():
        titles[doc] = nodes.title(doc, doc)
        if number is not None:
            titles[doc]["secnumber"] = [number]
    env = SimpleNamespace(get_doctree=lambda name: root_page, titles=titles)
    app = SimpleNamespace(builder=SimpleNamespace(format="latex"), config=SimpleNamespace(root_doc="root"), env=env)
    return app, tree


def test_the_pdf_numbers_the_chapters_as_the_html_does_and_nothing_else():
    site_fixes = _site_fixes()
    app, tree = _small_book({"ch1": 1, "ch2": 2, "ch3": 3, "back": None})
    site_fixes._check_html_numbers(app, app.env)
    site_fixes._number_latex_chapters(app, tree, "root")
    assert site_fixes.latex_chapter_numbers(tree, "root") == [
        ("root", site_fixes.LATEX_INTRO_TITLE, None),
        ("ch1", "CH1", 1),
        ("ch2", "CH2", 2),
        ("ch3", "CH3", 3),
        ("back", "BACK", None),
    ]
    intro = tree.next_node(nodes.section).children[2]
    assert intro.next_node(nodes.title).astext() == site_fixes.LATEX_INTRO_TITLE
    assert [s.next_node(nodes.title).astext() for s in intro.findall(nodes.section)][1:] == ["Using the book"]
    switches = [n.astext() for n in tree.findall(nodes.raw)]
    assert switches == [
        r"\edef\causalsecnumdepth{\arabic{secnumdepth}}\setcounter{secnumdepth}{-1}" + "\n",
        r"\setcounter{secnumdepth}{\causalsecnumdepth}" + "\n",
        r"\setcounter{secnumdepth}{-1}" + "\n",
    ]


@pytest.mark.parametrize(
    "numbers",
    [
        {"ch1": 1, "ch2": 2, "ch3": 1, "back": None},  # numbering restarted at the second part
        {"ch1": 1, "ch2": 2, "ch3": 3, "back": 4},  # a back page numbered
        {"ch1": None, "ch2": None, "ch3": None, "back": None},  # no numbers in the HTML
    ],
)
def test_the_build_stops_when_the_numbers_would_differ(numbers):
    site_fixes = _site_fixes()
    app, tree = _small_book(numbers)
    with pytest.raises(ExtensionError, match="chapter"):
        site_fixes._check_html_numbers(app, app.env)
    with pytest.raises(ExtensionError, match="chapter numbers would be off"):
        site_fixes._number_latex_chapters(app, tree, "root")


def _tex_title(tex: str) -> str:
    return re.sub(r"\\sphinxhyphen\s*\{\}", "-", tex).strip()


def _built(name: str) -> Path:
    path = LATEX / name
    if not path.exists():
        pytest.skip(f"no _build/latex/{name} (make pdf writes it)")
    sources = [ROOT / "_toc.yml", ROOT / "_config.yml", ROOT / "book" / "_ext" / "site_fixes.py"]
    if any(src.stat().st_mtime > path.stat().st_mtime for src in sources):
        pytest.skip(f"_build/latex/{name} is older than the numbering's sources (make pdf rebuilds it)")
    return path


def test_the_built_latex_numbers_chapters_one_to_nine_and_nothing_else():
    numbered, unnumbered, on = [], [], True
    for line in _built("book.tex").read_text().splitlines():
        if line.startswith(r"\setcounter{secnumdepth}") or r"}\setcounter{secnumdepth}" in line:
            on = not line.endswith("{-1}")
        elif line.startswith(r"\chapter{"):
            (numbered if on else unnumbered).append(_tex_title(line[len(r"\chapter{") : -1]))
    assert numbered == [_chapter_title(doc) for doc in _chapter_files()]
    assert unnumbered[0] == "Introduction" and "Running the book" in unnumbered and "References" in unnumbered


def test_the_pdf_table_of_contents_numbers_chapters_one_to_nine():
    toc = _built("book.toc")
    if toc.stat().st_mtime < (LATEX / "book.tex").stat().st_mtime:
        pytest.skip("_build/latex/book.toc predates book.tex (make pdf writes both)")
    entries = re.findall(
        r"\\contentsline \{chapter\}\{(\\numberline \{(\d+)\})?(.*)\}\{[^{}]*\}\{[^{}]*\}%", toc.read_text()
    )
    numbered = [(int(n), _tex_title(title)) for _, n, title in entries if n]
    assert numbered == [(k, _chapter_title(doc)) for k, doc in enumerate(_chapter_files(), start=1)]
    assert _tex_title(entries[0][2]) == "Introduction" and not entries[0][1]
