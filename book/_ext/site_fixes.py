"""Small fixes to the built site, as a local Sphinx extension (see ``_config.yml``).

Jupyter Book 1 registers sphinx-thebe's configuration script twice, so every page declared
``const THEBE_JS_URL`` twice and logged a JavaScript error. The book does not use thebe (its launch
button is Colab), so each page keeps one copy of every script and none of thebe's.

Browsers ask every page's server for ``/favicon.ico``; the root ``index.html`` (Jupyter Book's redirect
page) names no icon, so that request 404ed and logged a console error: the site root gets a
``favicon.ico`` drawn like the SVG favicon.

The theme's colour mode starts empty when no default is configured, and its script then logs
"Got invalid theme mode" on the first visit: pages start in ``auto`` (the reader's system setting).
"""

from __future__ import annotations

from typing import Any


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


def setup(app: Any) -> dict:
    app.connect("html-page-context", _fix_page, priority=900)
    app.connect("build-finished", _write_favicon_ico)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
