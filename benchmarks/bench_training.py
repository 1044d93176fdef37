"""Training-step throughput of the disentangled transformer (the README's performance section).

Everything is measured in one run, alternating the variants round by round so that a busy machine
slows all of them alike; the table reports medians and ratios between them.

* **Step rates** at batch 1024 (heads ``[1, 1]``, S=10, T=20, SGD): the plain formulation
  (``forward_plain`` + autograd, every position), the fast path through ``model(tokens)``, and the
  fused loss ``model.loss(tokens, labels)``; sampling excluded (one fixed batch) and included
  (a fresh batch each step, drawn in the loop).
* **The training loop itself**: steps/s of :func:`causal_tutorial.training.train` on the paper's
  Fig. 2 chain configuration, with batches drawn in the background (the default on the CPU) and
  in the loop; from it the projected wall time of the paper-scale run (2^17 steps).
* **Peak memory** of a process that runs that configuration, including one evaluation on the
  paper's 2^16 test sequences.
* **Every experiment** of :data:`causal_tutorial.experiments.EXPERIMENTS`: its own step rate
  through ``train`` and its evaluation time, and from them the projected training wall time at
  the ``book`` and ``paper`` scales; and the peak memory of a process training it at each scale.

Run ``python benchmarks/bench_training.py [--quick]``; writes ``benchmarks/results/training_<device>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (benchmarks/common.py: environment, timing, JSON)

from causal_tutorial import training  # noqa: E402
from causal_tutorial.analysis import attention_on_parents  # noqa: E402
from causal_tutorial.estimators import soft_cross_entropy_from_logits  # noqa: E402
from causal_tutorial.experiments import EXPERIMENTS, build_model, build_task  # noqa: E402
from causal_tutorial.graphs import chain  # noqa: E402
from causal_tutorial.models import DisentangledTransformer, retain_freed_memory  # noqa: E402
from causal_tutorial.tasks import SingleParentTask  # noqa: E402

PAPER_STEPS = 2**17
BATCH = 1024


# -- step rates ---------------------------------------------------------------------------------
def _step_variants(S: int = 10, T: int = 20, batch: int = BATCH) -> dict:
    """One training step (loss, backward, SGD update) per variant, as zero-argument callables."""
    task = SingleParentTask(S, T, chain(T), alpha=0.1)
    gen = torch.Generator().manual_seed(0)
    fixed = task.sample(batch, gen)
    model = DisentangledTransformer(S, T, heads=(1, 1), init_std=0.05, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step(loss_fn, sampled: bool):
        def run():
            tokens, labels = task.sample(batch, gen) if sampled else fixed
            loss = loss_fn(tokens, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return run

    plain = lambda x, y: soft_cross_entropy_from_logits(model.forward_plain(x), y)  # noqa: E731
    logits = lambda x, y: soft_cross_entropy_from_logits(model(x), y)  # noqa: E731
    fused = model.loss
    return {
        "plain": step(plain, False),
        "fast_logits": step(logits, False),
        "fast_fused": step(fused, False),
        "plain+sampling": step(plain, True),
        "fast_fused+sampling": step(fused, True),
        "sampling_only": lambda: task.sample(batch, gen),
    }


def _per_call(fns: dict, reps: dict, rounds: int) -> dict:
    """Median seconds per call of each callable: ``reps[name]`` calls per round, timed round by round
    by :func:`common.interleaved`."""

    def repeat(fn, k):
        def run():
            for _ in range(k):
                fn()

        return run

    t = common.interleaved({name: repeat(fn, reps[name]) for name, fn in fns.items()}, rounds)
    return {name: t[name]["median"] / reps[name] for name in fns}


def _train_rate(exp_name: str, scale: str, steps: int, prefetch: bool = True) -> float:
    """Steps per second of :func:`training.train` on an experiment's configuration (first graph),
    timed from the end of the step-0 evaluation to the end of step ``steps``."""
    exp = EXPERIMENTS[exp_name]
    cfg = dataclasses.replace(exp.config(scale, seed=0, device="cpu"), eval_every=10**9)  # evaluations timed apart
    task = build_task(exp, "cpu")
    model = build_model(exp, 0)
    test = tuple(task.sample(256, torch.Generator().manual_seed(1)))
    marks: list[float] = []
    cfg = dataclasses.replace(cfg, prefetch=prefetch)
    training.train(
        model,
        task,
        cfg,
        test_set=test,
        stop_after=steps,
        progress=False,
        callback=lambda step, m, rec: marks.append(time.perf_counter()),
    )
    return steps / (time.perf_counter() - marks[0])


def _eval_seconds(exp_name: str, scale: str) -> float:
    """Seconds of one evaluation of the training loop (test loss + attention metrics) at ``scale``."""
    exp = EXPERIMENTS[exp_name]
    cfg = exp.config(scale, seed=0, device="cpu")
    task = build_task(exp, "cpu")
    model = build_model(exp, 0)
    tokens, labels = task.sample(cfg.test_size, torch.Generator().manual_seed(1))
    with torch.no_grad():
        t0 = time.perf_counter()
        model.loss(tokens, labels)
        attention_on_parents(model, task, tokens[:1024])
        return time.perf_counter() - t0


def _peak_memory_mib(steps: int, exp_name: str = "chain", scale: str = "paper") -> float:
    """Peak resident memory (MiB) of a fresh process training an experiment's configuration (first
    graph) for ``steps`` steps, including the step-0 evaluation on its whole test set."""
    code = (
        "from causal_tutorial.experiments import EXPERIMENTS, build_model, build_task\n"
        "from causal_tutorial.training import train\n"
        f"exp = EXPERIMENTS[{exp_name!r}]\n"
        f"cfg = exp.config({scale!r}, seed=0, device='cpu')\n"
        f"train(build_model(exp, 0), build_task(exp, 'cpu'), cfg, stop_after={steps}, progress=False)\n"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    )
    # VmHWM (KiB), not ru_maxrss: a child's ru_maxrss starts at its parent's resident size.
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1]) / 1024


def run(quick: bool = False) -> dict:
    """Measure everything above; return the results (also written to ``results/training_<device>.json``)."""
    load_before = os.getloadavg()  # other work on the machine skews timings: record it
    retain_freed_memory()  # as train() does on the CPU
    rounds = 5 if quick else 9
    fns = _step_variants()
    slow = {"plain", "plain+sampling"}
    reps = {name: (2 if quick else 4) if name in slow else (8 if quick else 20) for name in fns}
    sec = _per_call(fns, reps, rounds)
    loop_steps = 150 if quick else 600
    loop = {"prefetch": [], "in_loop": []}
    for _ in range(2 if quick else 3):
        loop["prefetch"].append(_train_rate("chain", "paper", loop_steps, prefetch=True))
        loop["in_loop"].append(_train_rate("chain", "paper", loop_steps, prefetch=False))
    loop = {k: statistics.median(v) for k, v in loop.items()}
    rate = loop["prefetch"]

    experiments = {}
    for name, exp in EXPERIMENTS.items():
        row = {"model": exp.model, "heads": list(exp.heads), "S": exp.S, "T": exp.T, "graphs": exp.n_graphs}
        for scale in ("book", "paper"):
            cfg = exp.config(scale, seed=0, device="cpu")
            r = _train_rate(name, scale, 30 if quick else 100)
            ev = _eval_seconds(name, scale)
            evals = cfg.steps // cfg.eval_every + 1
            row[scale] = {
                "steps": cfg.steps,
                "batch": cfg.batch_size,
                "test_size": cfg.test_size,
                "steps_per_s": r,
                "eval_s": ev,
                "projected_train_s": exp.n_graphs * (cfg.steps / r + evals * ev),
                "peak_rss_mib": _peak_memory_mib(10 if quick else 50, name, scale),
            }
        experiments[name] = row

    result = {
        "benchmark": "training",
        "config": {"S": 10, "T": 20, "heads": [1, 1], "batch": BATCH, "optimizer": "sgd", "quick": quick},
        "seconds_per_step": sec,
        "steps_per_s": {k: 1.0 / v for k, v in sec.items() if k != "sampling_only"},
        "ratios": {
            "fast_fused vs plain (sampling excluded)": sec["plain"] / sec["fast_fused"],
            "fast_logits vs plain (sampling excluded)": sec["plain"] / sec["fast_logits"],
            "fast_fused vs fast_logits": sec["fast_logits"] / sec["fast_fused"],
            "fast_fused+sampling vs plain+sampling": sec["plain+sampling"] / sec["fast_fused+sampling"],
            "train loop, prefetch vs in-loop sampling": loop["prefetch"] / loop["in_loop"],
            "train loop (prefetch) vs plain+sampling": rate * sec["plain+sampling"],
        },
        "train_loop_steps_per_s": loop,
        "paper_fig2_projection": {
            "steps": PAPER_STEPS,
            "steps_per_s": rate,
            "hours": PAPER_STEPS / rate / 3600,
            "minutes": PAPER_STEPS / rate / 60,
            "plain_hours": PAPER_STEPS * sec["plain+sampling"] / 3600,
        },
        "peak_rss_mib": _peak_memory_mib(50 if quick else 200),
        "experiments": experiments,
        "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()},
    }
    common.write_result("training", result)
    return result


def table(result: dict) -> str:
    """The measured numbers as a markdown table (the README's performance section)."""
    s = result["seconds_per_step"]
    ms = lambda k: f"{1e3 * s[k]:.2f}"  # noqa: E731
    loop = result["train_loop_steps_per_s"]
    lines = [
        "| training step, batch 1024, S=10, T=20, heads [1,1] | ms/step | steps/s | vs plain |",
        "|---|---:|---:|---:|",
        f"| plain: `forward_plain` + autograd, sampling excluded | {ms('plain')} | {1 / s['plain']:.0f} | 1.0× |",
        f"| fast path `model(x)` + autograd loss, sampling excluded | {ms('fast_logits')} | {1 / s['fast_logits']:.0f}"
        f" | {s['plain'] / s['fast_logits']:.1f}× |",
        f"| fast path, fused loss, sampling excluded | {ms('fast_fused')} | {1 / s['fast_fused']:.0f}"
        f" | {s['plain'] / s['fast_fused']:.1f}× |",
        f"| sampling one batch alone | {ms('sampling_only')} | | |",
        f"| plain + sampling in the loop | {ms('plain+sampling')} | {1 / s['plain+sampling']:.0f} | 1.0× |",
        f"| fused + sampling in the loop | {ms('fast_fused+sampling')} | {1 / s['fast_fused+sampling']:.0f}"
        f" | {s['plain+sampling'] / s['fast_fused+sampling']:.1f}× |",
        f"| `train()`, batches drawn in the loop | {1e3 / loop['in_loop']:.2f} | {loop['in_loop']:.0f}"
        f" | {loop['in_loop'] * s['plain+sampling']:.1f}× |",
        f"| `train()`, batches drawn in the background (default) | {1e3 / loop['prefetch']:.2f} | "
        f"{loop['prefetch']:.0f}"
        f" | {loop['prefetch'] * s['plain+sampling']:.1f}× |",
    ]
    p = result["paper_fig2_projection"]
    lines += [
        "",
        f"Paper-scale Fig. 2 run (2^17 steps × 1024): projected **{p['minutes']:.0f} min** "
        f"(plain formulation: {p['plain_hours']:.1f} h); peak memory {result['peak_rss_mib']:.0f} MiB.",
        "",
        "| experiment | model | book: steps × batch | book: projected | book: peak MiB "
        "| paper: steps × batch | paper: projected | paper: peak MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["experiments"].items():
        b, pp = row["book"], row["paper"]
        g = f" × {row['graphs']} graphs" if row["graphs"] > 1 else ""
        lines.append(
            f"| {name} | {row['model']} {row['heads'] if row['model'] == 'disentangled' else ''} "
            f"| {b['steps']} × {b['batch']}{g} | {_dur(b['projected_train_s'])} | {b['peak_rss_mib']:.0f} "
            f"| {pp['steps']} × {pp['batch']}{g} | {_dur(pp['projected_train_s'])} | {pp['peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines)


def _dur(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (under a minute)")
    args = parser.parse_args()
    res = run(args.quick)
    print(table(res))
