"""Every package object a chapter names in a {func}/{class}/{mod}/{meth}/{data} role exists, and its
module is on the book's API page (book/api.md), so the reference becomes a link: Sphinx leaves a
reference it cannot resolve as plain code without a warning, which even the strict build misses."""

import importlib
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
ROLE = re.compile(r"\{(func|class|mod|meth|data|attr)\}`~?([^`]+)`")
CHAPTERS = sorted(BOOK.glob("[0-9]*.py"))


def _resolve(name: str):
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return ".".join(parts[:i]), obj
    raise ModuleNotFoundError(name)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_reference_names_a_documented_object(chapter):
    api = (BOOK / "api.md").read_text()
    documented = set(re.findall(r"\.\. automodule:: (\S+)", api))
    refs = [m.group(2) for m in ROLE.finditer(chapter.read_text())]
    assert refs, "the chapter names no package object (the pattern may be wrong)"
    for ref in refs:
        module, _ = _resolve(ref)
        assert module in documented or ref in documented, f"{ref}: {module} is not on book/api.md"


def test_the_readme_the_api_page_and_the_package_list_the_same_modules():
    root = BOOK.parent
    package = {p.stem for p in (root / "causal_tutorial").glob("*.py") if not p.stem.startswith("_")}
    api = {
        m.removeprefix("causal_tutorial.")
        for m in re.findall(r"\.\. automodule:: (\S+)", (BOOK / "api.md").read_text())
    }
    readme = set(re.findall(r"^\| `(\w+)` \|", (root / "README.md").read_text(), re.M))
    assert api == package, f"book/api.md lists {sorted(api)}, the package has {sorted(package)}"
    assert readme == package, f"README.md lists {sorted(readme)}, the package has {sorted(package)}"


def test_the_edition_is_the_same_everywhere():
    """The package version is the book's edition: pyproject, __version__, the footer, the intro, the changelog."""
    import causal_tutorial

    root = Path(__file__).resolve().parents[1]
    version = causal_tutorial.__version__
    assert re.search(rf'^version = "{re.escape(version)}"$', (root / "pyproject.toml").read_text(), re.M)
    assert f"Edition {version} " in (root / "_config.yml").read_text()
    assert f"edition {version} " in (root / "book" / "intro.md").read_text()
    first = re.search(r"^## (\S+)", (root / "CHANGELOG.md").read_text(), re.M)
    assert first and first.group(1) == version, "the changelog's newest entry is this edition"


def test_no_control_characters_in_the_book_sources():
    """A non-raw Python string once turned ``$\\alpha$`` into BEL + ``lpha`` in chapter 5's prose; the HTML
    hid it (MathJax set it as text), the PDF build stopped on it."""
    root = Path(__file__).resolve().parents[1]
    bad = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
    for path in sorted((root / "book").glob("*.py")) + sorted((root / "book").glob("*.md")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            assert not bad.search(line), f"{path.name}:{n} has a control character: {line!r}"
    for path in sorted((root / "book").glob("*.ipynb")):
        text = path.read_text()
        assert not re.search(r"\\u00(0[0-8bcef]|1[0-9a-f])|\\u007f", text), f"{path.name} has a control character"
