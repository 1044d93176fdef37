"""What the first cell of every chapter calls: seeds, device, scale, figure style, quiet progress bars.

``setup()`` reads two environment switches so that the same notebook runs on a laptop and on a GPU:
``CAUSAL_TUTORIAL_SCALE`` (``book`` by default; ``paper`` for the paper's settings) and
``CAUSAL_TUTORIAL_DEVICE`` (``auto`` by default: CUDA when present).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from .checks import make_generator, resolve_device

__all__ = ["BookSetup", "setup"]


@dataclass(frozen=True)
class BookSetup:
    scale: str
    device: torch.device
    seed: int

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh generator on the chapter's device, seeded with ``seed + offset``."""
        return make_generator(self.seed + offset, self.device)


def setup(seed: int = 0, scale: str | None = None, device: str | None = None) -> BookSetup:
    """Seed everything, pick the scale and device, set the book's figure style (every chapter)."""
    from .experiments import SCALES
    from .plots import set_style

    scale = scale or os.environ.get("CAUSAL_TUTORIAL_SCALE", "book")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r} (environment CAUSAL_TUTORIAL_SCALE)")
    dev = resolve_device(device or os.environ.get("CAUSAL_TUTORIAL_DEVICE", "auto"))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    set_style()
    return BookSetup(scale=scale, device=dev, seed=seed)
