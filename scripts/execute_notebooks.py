"""Re-execute chapter notebooks in place at book scale (for authors): ``make notebooks``.

Each notebook is first rebuilt from its jupytext ``py:percent`` twin when the twin is newer (so
authors can edit the readable ``.py``), then executed top to bottom with ``book/`` as the working
directory, with progress bars off, and written back with its outputs. Prints each run time.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def _keep_cell_ids(nb, old) -> None:
    """Give each cell the id of the same cell (same source, in order) in the previous notebook, so
    that re-executing changes only what really changed (jupytext makes new ids when it reads a twin)."""
    ids: dict[str, list[str]] = {}
    for c in old.cells:
        if c.get("id"):
            ids.setdefault(c.source, []).append(c["id"])
    for c in nb.cells:
        if ids.get(c.source):
            c["id"] = ids[c.source].pop(0)


def execute(path: Path, timeout: int = 900) -> float:
    py = path.with_suffix(".py")
    old = nbformat.read(path, as_version=4) if path.exists() else None
    if py.exists() and (old is None or py.stat().st_mtime > path.stat().st_mtime):
        nb = jupytext.read(py)
        if old is not None:
            _keep_cell_ids(nb, old)
    else:
        nb = old
    for c in nb.cells:  # no per-cell timestamps: a re-run should change only what really changed
        c.metadata.pop("execution", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    t0 = time.perf_counter()
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    dt = time.perf_counter() - t0
    nbformat.write(nb, path)
    jupytext.write(nb, py, fmt="py:percent")
    return dt


def main(argv: list[str]) -> int:
    os.environ.setdefault("CI", "1")  # quiet progress bars
    os.environ.pop("MPLBACKEND", None)  # an inherited Agg backend drops inline figures
    paths = [Path(a) for a in argv] or sorted((ROOT / "book").glob("[0-9]*.ipynb"))
    for p in paths:
        print(f"{p.name}: {execute(p.resolve()):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
