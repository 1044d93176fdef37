"""Argument checks, devices and random generators: the one place every other module asks.

Each check returns the cleaned value or raises an error that names the argument and the rule, so
that bad input fails where it enters (graphs, tasks, models, estimators, training) and fails the
same way everywhere. The rules: ``S`` is an int ≥ 2 (a vocabulary), ``T`` an int ≥ 3 (a sequence
needs a child and a query), ``α`` a positive finite number, sizes positive ints, tokens an
integer tensor ``(n, T)`` with entries in ``0 … S-1``, and a device one that exists here.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import operator
from collections.abc import Iterator

import torch

__all__ = [
    "MIN_T",
    "check_vocab",
    "check_length",
    "check_alpha",
    "check_positive_int",
    "check_nonnegative_int",
    "check_nonnegative_float",
    "check_tokens",
    "token_values_out_of_range",
    "check_token_values",
    "trusted_tokens",
    "resolve_device",
    "make_generator",
    "generator_or_default",
]

#: The shortest sequence has three positions (a root, a child and the query).
MIN_T = 3


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def check_vocab(S) -> int:
    """``S`` must be an int ≥ 2 (a vocabulary of one token has nothing to learn)."""
    if not _is_int(S):
        raise TypeError(f"S must be an int >= 2, got {S!r}")
    if S < 2:
        raise ValueError(f"S must be at least 2 (the vocabulary size), got S={S}")
    return S


def check_length(T) -> int:
    """``T`` must be an int ≥ 3: a sequence needs a child and a query."""
    if not _is_int(T):
        raise TypeError(f"T must be an int >= {MIN_T} (a sequence needs a child and a query), got T={T!r}")
    if T < MIN_T:
        raise ValueError(f"T must be an int >= {MIN_T} (a sequence needs a child and a query), got T={T!r}")
    return T


def check_alpha(alpha) -> float:
    """``α`` must be a positive finite number (the Dirichlet concentration)."""
    if isinstance(alpha, bool):
        raise TypeError(f"alpha must be a positive finite number, got {alpha!r}")
    try:
        a = float(alpha)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"alpha must be a positive finite number, got {alpha!r}") from exc
    if not math.isfinite(a) or a <= 0:
        raise ValueError(f"alpha must be a positive finite number, got alpha={alpha!r}")
    return a


def check_positive_int(name: str, value, what: str = "") -> int:
    """``value`` must be an int ≥ 1; the error names ``name`` (and says ``what`` it counts)."""
    label = f"{name} ({what})" if what else name
    if not _is_int(value):
        raise TypeError(f"{label} must be a positive int, got {name}={value!r}")
    if value < 1:
        raise ValueError(f"{label} must be a positive int, got {name}={value!r}")
    return value


def check_nonnegative_int(name: str, value) -> int:
    """``value`` must be an int ≥ 0."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {name}={value!r}")
    return value


def check_nonnegative_float(name: str, value) -> float:
    """``value`` must be a finite number ≥ 0."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a finite number >= 0, got {name}={value!r}") from exc
    if isinstance(value, bool) or not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
    return v


def check_tokens(tokens, S: int, T: int | None = None) -> torch.Tensor:
    """``tokens`` must be an integer tensor ``(n, T)`` with entries in ``0 … S-1``; returned as int64.

    With ``T`` given, the number of positions must equal it (a model or a task built for ``T``).
    """
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2:
        raise ValueError(f"tokens must be a 2-D tensor (n, T), got {getattr(tokens, 'shape', type(tokens))}")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise TypeError(f"tokens must be an integer tensor, got dtype {tokens.dtype}")
    if T is not None and tokens.shape[1] != T:
        raise ValueError(f"tokens have T={tokens.shape[1]} positions but T={T} was expected")
    if token_values_out_of_range(tokens, S):
        raise ValueError(f"tokens must lie in 0..S-1 = 0..{S - 1}")
    return tokens.long()


_TRUSTED = contextvars.ContextVar("causal_tutorial_trusted_tokens", default=False)


@contextlib.contextmanager
def trusted_tokens() -> Iterator[None]:
    """Inside this block the token checks test shapes and dtypes only, not the values.

    Reading a tensor's minimum and maximum back to the host makes the CPU wait for the device, once per
    call. The training loop checks the first batch of a task's sampler once, at the edge, and then runs
    every step inside this block, so no step waits on the device (and a step can be captured as a CUDA
    graph, chapter "Running the book")."""
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def token_values_out_of_range(tokens: torch.Tensor, S: int) -> bool:
    """Whether any token lies outside ``0 … S-1`` (always ``False`` inside :func:`trusted_tokens`)."""
    if _TRUSTED.get() or not tokens.numel():
        return False
    return int(tokens.min()) < 0 or int(tokens.max()) >= S


def check_token_values(tokens: torch.Tensor, S: int) -> None:
    """Raise if any token lies outside ``0 … S-1``, even inside :func:`trusted_tokens` (the check at the edge)."""
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= S):
        raise ValueError(f"tokens must lie in 0..S-1 = 0..{S - 1}")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The device to run on: ``"auto"`` (CUDA when present, else the CPU), ``"cpu"``, ``"cuda"``,
    ``"cuda:N"`` or ``"mps"``. A name torch does not know, or a device this machine does not have,
    is an error that says which devices are available."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}") from exc
    if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
        raise ValueError(
            f"device={device!r} was asked for but is not available on this machine "
            f"({torch.cuda.device_count()} CUDA devices); use 'cpu' or 'auto'"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was asked for but is not available on this machine; use 'cpu' or 'auto'")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}")
    return dev


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``: the one way the package makes one."""
    try:
        seed = operator.index(seed)
    except TypeError as exc:
        raise TypeError(f"seed must be an int, got {seed!r}") from exc
    return torch.Generator(device=resolve_device(device)).manual_seed(seed)


def generator_or_default(generator: torch.Generator | None, device: str | torch.device = "cpu") -> torch.Generator:
    """``generator`` itself, or, when it is ``None``, a fresh one seeded with 0 on ``device``
    (so that an unseeded call is still reproducible)."""
    if generator is None:
        return make_generator(0, device)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator
