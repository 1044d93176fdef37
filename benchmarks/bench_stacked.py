"""Fig. 9's twenty forests: one stacked model against twenty runs one after another.

    python benchmarks/bench_stacked.py [--quick]

The paper's Fig. 9 configuration (S=3, T=20, batch 1024, SGD lr 1, constant), ``G = 20`` graphs,
each run ``steps`` steps through :func:`causal_tutorial.training.train` (a small test set, so that
the steps dominate), measured round by round in one run:

* **separate**: twenty ``train`` calls one after another (what ``run_experiment("forests",
  stacked=False)`` does), batches drawn in the background thread (the CPU default);
* **stacked**: one ``train`` call of the one model with a run axis (``DisentangledTransformer(S, T, runs=G)``)
  on :class:`causal_tutorial.stacked.StackedTask`, batches drawn in the loop (what
  ``run_experiment("forests")`` does), and, for reference, with the background thread.

What limits the ratio (the "anatomy" table): one graph's loss and backward pass at batch 1024, the
same at batch ``20 × 1024`` (one graph; the work per sequence at the stacked size), the stacked
model's, the stacked sampler's and twenty separate samplers' time for one step's batches.

Prints the environment and the table; writes ``benchmarks/results/stacked_<device>.json``.
``run(quick)`` does it all and returns the results (``benchmarks/run.py`` calls it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (benchmarks/common.py: environment, timing, JSON)

from causal_tutorial.experiments import EXPERIMENTS, build_task  # noqa: E402
from causal_tutorial.models import DisentangledTransformer, retain_freed_memory  # noqa: E402
from causal_tutorial.stacked import StackedTask  # noqa: E402
from causal_tutorial.training import TrainConfig, train  # noqa: E402

G = 20


def _config(steps: int, prefetch: bool = True) -> TrainConfig:
    paper = EXPERIMENTS["forests"].scales["paper"]
    return TrainConfig(
        steps=steps,
        batch_size=paper["batch_size"],
        optimizer=paper["optimizer"],
        lr=paper["lr"],
        schedule=paper["schedule"],
        eval_every=steps,
        test_size=256,
        device="cpu",
        prefetch=prefetch,
    )


def _variants(steps: int) -> dict:
    exp = EXPERIMENTS["forests"]
    tasks = [build_task(exp, torch.device("cpu"), k) for k in range(G)]
    stack = StackedTask(tasks)

    def separate():
        for task in tasks:
            train(DisentangledTransformer(exp.S, exp.T), task, _config(steps), progress=False)

    def stacked(prefetch: bool):
        return lambda: train(
            DisentangledTransformer(exp.S, exp.T, runs=G), stack, _config(steps, prefetch), progress=False
        )

    return {"separate": separate, "stacked": stacked(False), "stacked, background sampling": stacked(True)}


def _anatomy(rounds: int) -> dict:
    """Seconds of the pieces of one step (medians), with both torch threads."""
    exp = EXPERIMENTS["forests"]
    tasks = [build_task(exp, torch.device("cpu"), k) for k in range(G)]
    stack = StackedTask(tasks)
    gen = torch.Generator().manual_seed(0)
    one = tasks[0].sample(1024, gen)
    big = tasks[0].sample(G * 1024, gen)
    many = stack.sample(1024, gen)
    model = DisentangledTransformer(exp.S, exp.T)
    stacked = DisentangledTransformer(exp.S, exp.T, runs=G)
    with torch.no_grad():
        for p in [*model.parameters(), *stacked.parameters()]:
            p.normal_(0, 0.3, generator=torch.Generator().manual_seed(1))

    def step(m, batch):
        def run():
            m.zero_grad(set_to_none=True)
            loss = m.loss(*batch)
            (loss.sum() if loss.dim() else loss).backward()

        return run

    times = common.interleaved(
        {
            "one graph, batch 1024": step(model, one),
            f"one graph, batch {G}x1024": step(model, big),
            f"stacked, {G} graphs x 1024": step(stacked, many),
            f"sampling, {G} separate batches": lambda: [t.sample(1024, gen) for t in tasks],
            f"sampling, stacked ({G} graphs)": lambda: stack.sample(1024, gen),
        },
        rounds=rounds,
    )
    return {name: t["median"] for name, t in times.items()}


def run(quick: bool = False) -> dict:
    retain_freed_memory()
    steps, rounds = (40, 1) if quick else (150, 2)
    env_before = common.environment()
    times = common.interleaved(_variants(steps), rounds=rounds, warmup=0)
    per_step = {name: t["median"] / steps for name, t in times.items()}  # seconds per step of all 20 graphs
    anatomy = _anatomy(3 if quick else 7)
    paper_steps = EXPERIMENTS["forests"].scales["paper"]["steps"]
    results = {
        "environment": env_before,
        "benchmark": "stacked",
        "config": {"graphs": G, "steps_per_run": steps, "rounds": rounds, "quick": quick},
        "seconds_per_step_all_graphs": per_step,
        "ratios": {
            "stacked vs separate (20 forests)": per_step["separate"] / per_step["stacked"],
            "stacked, background sampling vs separate": per_step["separate"] / per_step["stacked, background sampling"],
        },
        "anatomy_seconds": anatomy,
        "anatomy_ratios": {
            f"one graph: batch {G}x1024 / (G x batch 1024)": anatomy[f"one graph, batch {G}x1024"]
            / (G * anatomy["one graph, batch 1024"]),
            "stacked / (G x one graph at 1024)": anatomy[f"stacked, {G} graphs x 1024"]
            / (G * anatomy["one graph, batch 1024"]),
            "stacked sampling / separate sampling": anatomy[f"sampling, stacked ({G} graphs)"]
            / anatomy[f"sampling, {G} separate batches"],
        },
        "paper_fig9_projection_minutes": {
            name: paper_steps * s / 60 for name, s in per_step.items() if name != "stacked, background sampling"
        },
        "load_average_after": common.load_average(),
    }
    common.write_result("stacked", results)
    return results


def table(res: dict) -> str:
    lines = ["| variant | seconds per step (20 graphs) | paper Fig. 9 training, projected (min) |", "|---|---:|---:|"]
    proj = res["paper_fig9_projection_minutes"]
    for name, s in res["seconds_per_step_all_graphs"].items():
        lines.append(f"| {name} | {s:.3f} | {proj[name]:.0f} |" if name in proj else f"| {name} | {s:.3f} | |")
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f}× |" for k, v in res["ratios"].items()]
    lines += ["", "| one step's piece | ms |", "|---|---:|"]
    lines += [f"| {k} | {1e3 * v:.1f} |" for k, v in res["anatomy_seconds"].items()]
    lines += ["", "| what limits it | ratio |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in res["anatomy_ratios"].items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds (about a minute)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    res = run(args.quick)
    print(common.format_environment())
    print(table(res))
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
