"""Atomic file writing: a result or checkpoint is either complete or absent, never half-written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

__all__ = ["atomic_write_json", "atomic_write_text", "atomic_torch_save", "check_output_dir"]


def check_output_dir(path: str | Path) -> Path:
    """An output directory: fine if absent or a directory; an error if it exists as a file."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"out={str(p)!r} exists and is a file; the output path must be a directory")
    return p


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(obj, path: str | Path) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and a rename."""
    data = json.dumps(obj, indent=1, sort_keys=False).encode()
    _atomic(Path(path), lambda fh: fh.write(data))


def atomic_write_text(text: str, path: str | Path) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""
    data = text.encode()
    _atomic(Path(path), lambda fh: fh.write(data))


def atomic_torch_save(obj, path: str | Path) -> None:
    """``torch.save`` through a temporary file and a rename."""
    _atomic(Path(path), lambda fh: torch.save(obj, fh))
