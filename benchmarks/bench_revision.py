"""This package's CPU speed against an earlier revision of itself, same machine, same hour.

Issue 21 asks that the CPU does not get slower while the core is rebuilt for the GPU. The other
benchmarks give ratios against plain PyTorch baselines measured in the same run; those ratios move
with the machine (a second core that adds little changes every ratio). This one measures the thing
itself: the package at ``REV`` (default ``7a16e17``, ``main`` when issue 21 was filed) is unpacked
from git into a temporary folder, and the same timing script runs under the old and the current
package in alternating processes, round after round, so a busy machine slows both alike.

What it times, each the median over rounds:

* ``step``: one fused training step (loss, backward, SGD) of the Fig. 2 model on a fixed batch of
  1,024 (S=10, T=20, heads (1, 1));
* ``sample``: drawing one batch of 1,024 chain sequences;
* ``train``: ms per step of ``train()`` on the paper's Fig. 2 configuration, batches drawn in the
  loop and (``train_prefetch``) in the background thread;
* ``standard``: ms per step of ``train()`` on Fig. 8's standard transformer (book scale);
* ``forests``: seconds of ``run_experiment("forests")`` training 20 stacked graphs for 60 steps.

Run ``python benchmarks/bench_revision.py [--rev REV] [--rounds N]``; prints current/old ratios
(above 1: the current code is slower) and writes ``benchmarks/results/revision_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REV = "7a16e17"

# Runs under either revision: only the API both have (the model's loss, the task's sample, train's
# callback, run_experiment with train_overrides). Prints one JSON line of milliseconds.
WORKER = r"""
import json, sys, time, statistics, dataclasses, torch
from causal_tutorial import training
from causal_tutorial.experiments import EXPERIMENTS, build_model, build_task, run_experiment
from causal_tutorial.graphs import chain
from causal_tutorial.models import DisentangledTransformer, retain_freed_memory
from causal_tutorial.tasks import SingleParentTask
retain_freed_memory()
reps = int(sys.argv[1])
task = SingleParentTask(10, 20, chain(20), alpha=0.1)
gen = torch.Generator().manual_seed(0)
fixed = task.sample(1024, gen)
model = DisentangledTransformer(10, 20, heads=(1, 1), init_std=0.05, generator=torch.Generator().manual_seed(1))
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
def step():
    loss = model.loss(*fixed); opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
def per_call(fn, k):
    for _ in range(3): fn()
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(k): fn()
        ts.append((time.perf_counter() - t0) / k)
    return 1e3 * statistics.median(ts)
def train_ms(name, scale, steps, prefetch):
    exp = EXPERIMENTS[name]
    cfg = dataclasses.replace(exp.config(scale, seed=0, device="cpu"), eval_every=10**9, prefetch=prefetch)
    t, m = build_task(exp, "cpu"), build_model(exp, 0)
    test = tuple(t.sample(256, torch.Generator().manual_seed(1)))
    marks = []
    training.train(m, t, cfg, test_set=test, stop_after=steps, progress=False,
                   callback=lambda s, mm, rec: marks.append(time.perf_counter()))
    return 1e3 * (time.perf_counter() - marks[0]) / steps
def forests():
    over = {"steps": 60, "eval_every": 60, "test_size": 512}
    res = run_experiment("forests", "book", device="cpu", progress=False, figures=False, train_overrides=over)
    return sum(g["train_time_s"] for g in res["graphs"])
out = {
    "step": per_call(step, 4 * reps),
    "sample": per_call(lambda: task.sample(1024, gen), 4 * reps),
    "train": train_ms("chain", "paper", 50 * reps, False),
    "train_prefetch": train_ms("chain", "paper", 50 * reps, True),
    "standard": train_ms("standard", "book", 10 * reps, False),
    "forests": forests(),
}
print(json.dumps(out))
"""


def unpack(rev: str, into: Path) -> str:
    """The package at ``rev`` under ``into`` (from ``git archive``); returns the full commit."""
    commit = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, check=True, capture_output=True, text=True)
    archive = into / "old.tar"
    subprocess.run(["git", "archive", "-o", str(archive), rev, "causal_tutorial"], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return commit.stdout.strip()


def measure(pythonpath: Path, reps: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    out = subprocess.run([sys.executable, "-c", WORKER, str(reps)], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(rev: str = DEFAULT_REV, rounds: int = 3, reps: int = 5) -> dict:
    times: dict[str, dict[str, list[float]]] = {"old": {}, "current": {}}
    with tempfile.TemporaryDirectory() as tmp:
        commit = unpack(rev, Path(tmp))
        paths = {"old": Path(tmp), "current": ROOT}
        for r in range(rounds):
            for which in ("old", "current") if r % 2 == 0 else ("current", "old"):
                for key, ms in measure(paths[which], reps).items():
                    times[which].setdefault(key, []).append(ms)
                print(f"round {r + 1}/{rounds}: {which} done", file=sys.stderr)
    med = {w: {k: statistics.median(v) for k, v in t.items()} for w, t in times.items()}
    ratios = {k: med["current"][k] / med["old"][k] for k in med["old"]}
    return {
        "benchmark": "revision",
        "old_revision": commit,
        "units": "ms (forests: s of training, 20 stacked graphs × 60 steps)",
        "rounds": rounds,
        "median": med,
        "times": times,
        "current_over_old": ratios,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rev", default=DEFAULT_REV, help=f"the earlier revision (default {DEFAULT_REV})")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each revision (default 3)")
    parser.add_argument("--reps", type=int, default=5, help="repetition factor inside a round (default 5)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.reps < 1:
        parser.error("--rounds and --reps must be positive ints")
    res = run(args.rev, args.rounds, args.reps)
    print(common.format_environment())
    print(f"old revision {res['old_revision'][:12]}; {res['rounds']} rounds; above 1.00: the current code is slower")
    print("| what | old | current | current/old |\n|---|---:|---:|---:|")
    for k, ratio in res["current_over_old"].items():
        print(f"| {k} | {res['median']['old'][k]:.3f} | {res['median']['current'][k]:.3f} | {ratio:.3f} |")
    print(f"written to {common.write_result('revision', res)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
