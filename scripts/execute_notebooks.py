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


def execute(path: Path, timeout: int = 900) -> float:
    py = path.with_suffix(".py")
    if py.exists() and (not path.exists() or py.stat().st_mtime > path.stat().st_mtime):
        nb = jupytext.read(py)
    else:
        nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
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
