"""Shared benchmark helpers: the environment, timing, peak memory, JSON results.

Timings are medians over repetitions after a warm-up; every benchmark reports ratios measured in
the same run, never absolute numbers alone.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def device_name(device: str = "cpu") -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} ({os.cpu_count()} cores)"


def environment(device: str = "cpu") -> dict:
    return {"device": device, "device_name": device_name(device), "torch": torch.__version__,
            "numpy": np.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d")}


def format_environment(device: str = "cpu") -> str:
    e = environment(device)
    return (f"device: {e['device_name']} | torch {e['torch']} | numpy {e['numpy']} | python {e['python']} | "
            f"torch threads {e['threads']}")


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1, device: str = "cpu") -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_result(name: str, data: dict, device: str = "cpu") -> Path:
    """Write ``benchmarks/results/<name>_<device>.json`` (with the environment) atomically."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}_{device.split(':')[0]}.json"
    payload = {"environment": environment(device), **data}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)
    return path
