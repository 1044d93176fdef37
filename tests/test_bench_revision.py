"""benchmarks/bench_revision.py runs (no timing is checked): it unpacks a revision of the package from git and
its timing script runs under the current package, so an API change cannot break it silently."""

import importlib.util
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    path = ROOT / "benchmarks" / "bench_revision.py"
    spec = importlib.util.spec_from_file_location("bench_revision", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _in_git() -> bool:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode == 0


@pytest.mark.skipif(not _in_git(), reason="needs a git checkout")
def test_the_revision_is_unpacked_from_git(tmp_path):
    commit = _bench().unpack("HEAD", tmp_path)
    assert len(commit) == 40
    assert (tmp_path / "causal_tutorial" / "__init__.py").is_file()


def test_the_timing_script_runs_under_the_current_package():
    times = _bench().measure(ROOT, reps=1)
    assert set(times) == {"step", "sample", "train", "train_prefetch", "standard", "forests"}
    assert all(t > 0 for t in times.values())
