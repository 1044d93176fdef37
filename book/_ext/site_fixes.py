"""Small fixes to the built site, as a local Sphinx extension (see ``_config.yml``).

Jupyter Book 1 registers sphinx-thebe's configuration script twice, so every page declared
``const THEBE_JS_URL`` twice and logged a JavaScript error. The book does not use thebe (its launch
button is Colab), so each page keeps one copy of every script and none of thebe's.

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


def setup(app: Any) -> dict:
    app.connect("html-page-context", _fix_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
