"""Shared benchmark helpers: the environment, timing, peak memory, JSON results.

Every benchmark reports ratios measured in the same run, never absolute numbers alone. A shared
machine slows the variants unevenly if they run one after the other, so :func:`interleaved` runs
them round by round (variant A, B, C, then A, B, C again …) and keeps every time: the best of the
rounds estimates the cost on a quiet machine, the median what one sees on this one. The load
average at the start and the end of a run goes into the results, so a busy machine is visible.
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from causal_tutorial.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"


# --- the environment ------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def device_name(device: str = "cpu") -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_model()} ({cpu_cores()} cores)"


def environment(device: str = "cpu") -> dict:
    """Device, CPU model and cores, library versions, thread counts, load average, date."""
    return {
        "device": device,
        "device_name": device_name(device),
        "cpu": cpu_model(),
        "cores": cpu_cores(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "load_average": load_average(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def format_environment(device: str = "cpu") -> str:
    e = environment(device)
    load = "" if e["load_average"] is None else f" | load average {e['load_average'][0]:.1f}"
    return (
        f"device: {e['device_name']} | torch {e['torch']} | numpy {e['numpy']} | python {e['python']} | "
        f"torch threads {e['threads']}{load}"
    )


# --- timing -----------------------------------------------------------------------------------------
def sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def interleaved(
    fns: dict[str, Callable[[], object]], rounds: int, warmup: int = 1, device: str = "cpu"
) -> dict[str, dict]:
    """Time each zero-argument callable once per round, in turn, for ``rounds`` rounds (after ``warmup``
    calls each). The order rotates from round to round, so that no variant always runs right after
    the same other one (a parallel torch operation leaves OpenMP threads spinning for milliseconds,
    which slows whatever runs next). Returns ``{name: {"best": s, "median": s, "times": [s, …]}}``,
    ``times`` in round order."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync(device)
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            fns[name]()
            sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: {"best": min(t), "median": statistics.median(t), "times": t} for name, t in times.items()}


def median_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1, device: str = "cpu") -> float:
    """Median wall time of ``fn()`` in seconds."""
    return interleaved({"fn": fn}, repeat, warmup, device)["fn"]["median"]


# --- memory -----------------------------------------------------------------------------------------
def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def _status_mib(field: str) -> float:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1)) / 1024


def peak_memory_mib(fn: Callable[[], object], device: str = "cpu") -> float | None:
    """Peak memory that one call of ``fn`` adds on top of what the process holds before it (MiB).

    CUDA: ``torch.cuda.max_memory_allocated``. CPU (Linux): free heap memory is handed back to the
    system (``malloc_trim``), the kernel's resident-set high-water mark is reset (``/proc/self/clear_refs``),
    ``fn`` runs, and the new high-water mark minus the resident set before is the answer. ``None``
    where neither is available.
    """
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    if not sys.platform.startswith("linux"):
        return None
    try:
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_mib("VmRSS")
        out = fn()
        peak = _status_mib("VmHWM")
        del out
        return peak - before
    except (OSError, AttributeError):
        return None


# --- results ----------------------------------------------------------------------------------------
def write_result(name: str, data: dict, device: str = "cpu") -> Path:
    """Write ``benchmarks/results/<name>_<device>.json`` (with the environment) atomically."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}_{device.split(':')[0]}.json"
    atomic_write_json({"environment": environment(device), **data}, path)
    return path
