"""Small fixes to the built site, as a local Sphinx extension (see ``_config.yml``).

Jupyter Book 1 registers sphinx-thebe's configuration script twice, so every page declared
``const THEBE_JS_URL`` twice and logged a JavaScript error. The book does not use thebe (its launch
button is Colab), so each page keeps one copy of every script and none of thebe's.

Browsers ask every page's server for ``/favicon.ico``; the root ``index.html`` (Jupyter Book's redirect
page) names no icon, so that request 404ed and logged a console error: the site root gets a
``favicon.ico`` drawn like the SVG favicon.

The theme's colour mode starts empty when no default is configured, and its script then logs
"Got invalid theme mode" on the first visit: pages start in ``auto`` (the reader's system setting).

Chapter numbers (the PDF): the chapters are the pages of the ``numbered: true`` parts of ``_toc.yml``, and the
HTML numbers them 1, 2, ... across the parts. Sphinx's LaTeX writer numbers every chapter-level heading, so the
PDF used to make the root page's own section ("Using the book") Chapter 1 and every chapter one higher than the
prose says. For the LaTeX builder only, :func:`_number_latex_chapters` puts the root page's text under an
unnumbered "Introduction", switches LaTeX's numbering off (``secnumdepth`` -1) outside the numbered parts, and
stops the build if any chapter's number in the PDF would differ from its number in the HTML. Every build (HTML
too) stops if the HTML's numbers are not 1, 2, ... over the numbered parts in order (say, if Jupyter Book's
numbering restarted at each part). ``tests/test_chapter_numbers.py`` checks this and the built ``book.tex``.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.errors import ExtensionError

LATEX_INTRO_TITLE = "Introduction"
_SECNUM_MARK = "causal_secnum"  # on the raw LaTeX nodes that switch numbering on (True) or off (False)


def _is_thebe(script: Any) -> bool:
    filename = getattr(script, "filename", None) or ""
    body = getattr(script, "attributes", {}).get("body", "") or ""
    return "thebe" in filename or "THEBE_JS_URL" in body


def _fix_page(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = "auto"
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    kept = []
    for script in scripts:
        key = (str(getattr(script, "filename", script)), str(getattr(script, "attributes", {}).get("body", "")))
        if key in seen or _is_thebe(script):
            continue
        seen.add(key)
        kept.append(script)
    context["script_files"] = kept


def _write_favicon_ico(app: Any, exc: Exception | None) -> None:
    if exc is not None or app.builder.format != "html":
        return
    import io
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig = plt.figure(figsize=(0.64, 0.64), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 32), ax.set_ylim(32, 0), ax.axis("off")
    nodes = [(7, 24), (16, 8), (25, 24)]
    for a, b in ((0, 1), (0, 2), (1, 2)):
        ax.plot(*zip(nodes[a], nodes[b]), color="#3b5b92", lw=2.5)
    for x, y in nodes:
        ax.add_patch(plt.Circle((x, y), 5, facecolor="#e08a2c", edgecolor="#7a4410", lw=1.2))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", transparent=True)
    plt.close(fig)
    buf.seek(0)
    Image.open(buf).save(Path(app.outdir) / "favicon.ico", format="ICO", sizes=[(32, 32), (16, 16)])


def numbered_chapters(root_doctree: Any) -> list[str]:
    """The documents of the root page's numbered toctrees (``numbered: true`` parts), in order."""
    return [
        str(doc)
        for toctree in root_doctree.findall(addnodes.toctree)
        if toctree.get("numbered")
        for doc in toctree["includefiles"]
    ]


def _secnum_switch(on: bool, save: bool = False) -> nodes.raw:
    # LaTeX numbers a \chapter (and its sections) only while secnumdepth >= 0; an unnumbered chapter still enters
    # the table of contents and does not step the chapter counter. The first switch saves the depth Sphinx set.
    tex = r"\setcounter{secnumdepth}{\causalsecnumdepth}" if on else r"\setcounter{secnumdepth}{-1}"
    if save:
        tex = r"\edef\causalsecnumdepth{\arabic{secnumdepth}}" + tex
    raw = nodes.raw("", tex + "\n", format="latex")
    raw[_SECNUM_MARK] = on
    return raw


def latex_chapter_numbers(doctree: Any, root_doc: str) -> list[tuple[str, str, int | None]]:
    """(document, title, number) of each chapter-level heading, as LaTeX will number it.

    ``doctree`` is the LaTeX builder's single tree (the root page with every page inlined). Its first section is
    the root page's, whose title the writer takes as the document's title; sections directly under it (or beside
    it) are chapters. Numbering follows the switches :func:`_secnum_switch` placed.
    """
    root = doctree.next_node(nodes.section)
    on, count, found = True, 0, []
    for node in doctree.findall(lambda n: isinstance(n, (nodes.section, nodes.raw))):
        if isinstance(node, nodes.raw):
            if _SECNUM_MARK in node:
                on = bool(node[_SECNUM_MARK])
            continue
        ancestors, parent = [], node.parent
        while parent is not None:
            if isinstance(parent, nodes.section):
                ancestors.append(parent)
            parent = parent.parent
        if node is root or any(a is not root for a in ancestors):
            continue
        number = None
        if on:
            count += 1
            number = count
        found.append((node.get("docname", root_doc), node.next_node(nodes.title).astext(), number))
    return found


def html_number_problems(env: Any, chapters: list[str]) -> list[str]:
    """Where the toctree numbering (the HTML's) is not 1, 2, ... over ``chapters`` and nothing else."""
    problems = []
    numbers = {doc: (title.get("secnumber") or [None])[0] for doc, title in env.titles.items()}
    for position, doc in enumerate(chapters, start=1):
        if numbers.get(doc) != position:
            problems.append(f"{doc} is chapter {position} of the numbered parts but numbered {numbers.get(doc)}")
    problems += [
        f"{doc} is numbered {n} outside the numbered parts" for doc, n in numbers.items() if n and doc not in chapters
    ]
    return problems


def _check_html_numbers(app: Any, env: Any) -> None:
    chapters = numbered_chapters(env.get_doctree(app.config.root_doc))
    problems = html_number_problems(env, chapters)
    if problems:
        raise ExtensionError("site_fixes: the chapters are not numbered 1, 2, ... in order: " + "; ".join(problems))


def _number_latex_chapters(app: Any, doctree: Any, docname: str) -> None:
    if app.builder.format != "latex" or docname != app.config.root_doc:
        return
    root_doc = app.config.root_doc
    chapters = numbered_chapters(app.env.get_doctree(root_doc))
    root = doctree.next_node(nodes.section)
    files = {n["docname"]: n for n in doctree.findall(addnodes.start_of_file)}
    order = list(files)
    if not chapters or root is None or not set(chapters) <= set(files):
        raise ExtensionError(f"site_fixes: cannot number the PDF's chapters {chapters} among the pages {order}")
    first, last = order.index(chapters[0]), order.index(chapters[-1])
    if order[first : last + 1] != chapters:
        raise ExtensionError(f"site_fixes: the numbered pages {chapters} are not one run in the book's order {order}")

    # The root page's own text (everything before its first inlined page) becomes an unnumbered chapter.
    first_page = next(i for i, child in enumerate(root.children) if any(child.findall(addnodes.start_of_file)))
    intro = nodes.section(ids=["causal-latex-introduction"], docname=root_doc)
    intro += nodes.title(LATEX_INTRO_TITLE, LATEX_INTRO_TITLE)
    for child in root.children[1:first_page]:
        child.parent = None
        intro += child
    del root.children[1:first_page]
    root.insert(1, [_secnum_switch(False, save=True), intro])

    # Numbered from the first chapter to the last; the pages after them are unnumbered.
    start = files[chapters[0]]
    start.parent.insert(start.parent.index(start), _secnum_switch(True))
    if last + 1 < len(order):
        after = files[order[last + 1]]
        after.parent.insert(after.parent.index(after), _secnum_switch(False))

    # Each numbered page is one chapter with its HTML number (1, 2, ... across the parts); no other is numbered.
    problems = html_number_problems(app.env, chapters)
    in_pdf: dict[str, list[int | None]] = {}
    for doc, title, number in latex_chapter_numbers(doctree, root_doc):
        in_pdf.setdefault(doc, []).append(number)
        if number is not None and doc not in chapters:
            problems.append(f"{title!r} ({doc}) would be Chapter {number}")
    for position, doc in enumerate(chapters, start=1):
        if in_pdf.get(doc) != [position]:
            problems.append(f"{doc} is chapter {position} but its chapter-level headings would be {in_pdf.get(doc)}")
    if problems:
        raise ExtensionError("site_fixes: the PDF's chapter numbers would be off: " + "; ".join(problems))


def setup(app: Any) -> dict:
    app.connect("html-page-context", _fix_page, priority=900)
    app.connect("env-check-consistency", _check_html_numbers)
    app.connect("doctree-resolved", _number_latex_chapters)
    app.connect("build-finished", _write_favicon_ico)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
