"""One training step of the paper's Fig. 2 chain on one device, against the floor of that step.

The step is the one a paper-scale run takes: the fused loss of the disentangled transformer (heads
``[1, 1]``, S=10, T=20, batch 1024), its backward pass and an SGD update; once on a fixed batch
(sampling excluded) and once with a fresh batch drawn on the device (sampling included), and the
sampling alone. Every time is the median of several rounds of many steps, the rounds alternating
between the variants; the device is synchronised before each clock read.

**The floor.** Two lower bounds on any implementation of the same step, from two ceilings measured
in the same run on the same device (METHOD: measure, don't read the datasheet):

* arithmetic: the floating-point operations of the step's matrix products (counted by
  ``torch.utils.flop_counter``; the elementwise work is left out, so this is a floor) over the
  measured float32 matrix-product rate (a large product, TF32 off);
* memory: the bytes the step must move at least (the batch's tokens and labels read once; every
  parameter read, its gradient written and read, the parameter written) over the measured
  copy bandwidth (bytes read plus bytes written).

The step is far smaller than either ceiling can be reached with, so a third number says what does
bind it: the kernels (CUDA) or operators (CPU) one step launches, counted with ``torch.profiler``,
times the measured cost of launching one tiny one. The printed gap is measured time over the floor.

Last, ``train()`` itself is timed on the paper's configuration (its pools, schedule and loss records included,
evaluations left out): the number a paper-scale run's training time follows.

Run ``python benchmarks/bench_device.py --device cuda [--quick]`` (``scripts/device_run.sh`` does, on
a lent GPU); writes ``benchmarks/results/device_<device>.json``, or ``--out FILE``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from causal_tutorial.checks import trusted_tokens  # noqa: E402
from causal_tutorial.device_step import GraphedStep, PooledBatches, Update  # noqa: E402
from causal_tutorial.experiments import EXPERIMENTS, build_task  # noqa: E402
from causal_tutorial.io import atomic_write_json  # noqa: E402
from causal_tutorial.models import DisentangledTransformer  # noqa: E402
from causal_tutorial.training import resolve_device, train  # noqa: E402

BATCH = 1024


def _timed(fns: dict, steps: int, rounds: int, device: str) -> dict[str, float]:
    """Median seconds per call of each zero-argument callable (``steps`` calls per round)."""
    loops = {name: (lambda fn=fn: [fn() for _ in range(steps)]) for name, fn in fns.items()}
    t = common.interleaved(loops, rounds, warmup=1, device=device)
    return {name: t[name]["median"] / steps for name in fns}


def ceilings(device: str, quick: bool) -> dict:
    """The device's measured float32 matrix-product rate (FLOP/s) and copy bandwidth (bytes/s), and the
    cost of launching one tiny operation (s)."""
    cuda = device.startswith("cuda")
    n = (8192 if not quick else 4096) if cuda else 1024
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=g)
    b = torch.randn(n, n, device=device, generator=g)
    t_mm = common.median_time(lambda: torch.mm(a, b), repeat=5, warmup=2, device=device)
    m = (1 << 28 if cuda else 1 << 25) // 4  # 1 GiB on a GPU, 128 MiB on a CPU (float32)
    x = torch.randn(m, device=device, generator=g)
    y = torch.empty_like(x)
    t_copy = common.median_time(lambda: y.copy_(x), repeat=5, warmup=2, device=device)
    tiny = torch.zeros(1, device=device)
    reps = 2000
    t_tiny = common.median_time(lambda: [tiny.add_(1.0) for _ in range(reps)], repeat=5, device=device) / reps
    return {
        "matmul_flops_per_s": 2 * n**3 / t_mm,
        "matmul_size": n,
        "copy_bytes_per_s": 2 * 4 * m / t_copy,
        "copy_bytes": 4 * m,
        "launch_s": t_tiny,
    }


def step_variants(device: str, pool: int):
    """The paper's chain step on ``device``: fixed batch, fresh batch, sampling alone; and the pieces the
    floor needs (the batch, the model)."""
    exp = EXPERIMENTS["chain"]
    task = build_task(exp, device)
    gen = torch.Generator(device=device).manual_seed(0)
    tokens, labels = task.sample(BATCH, gen)
    model = DisentangledTransformer(
        task.S, task.T, heads=(1, 1), init_std=0.05, generator=torch.Generator().manual_seed(1)
    ).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step(tok, lab):
        loss = model.loss(tok, lab)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def fresh():
        tok, lab = task.sample(BATCH, gen)
        step(tok, lab)

    variants = {
        "step, fixed batch": lambda: step(tokens, labels),
        "step, fresh batch (sampling included)": fresh,
        "sampling alone": lambda: task.sample(BATCH, gen),
    }
    # The device step (what train() runs on CUDA): torch.optim replaced by an update with the learning rate on
    # the device, the token check done once, and on CUDA the whole step replayed as one CUDA graph; batches
    # sliced from pools drawn at once: ``pool`` batches, one pool per timed round, so each round pays one draw.
    dmodel = DisentangledTransformer(
        task.S, task.T, heads=(1, 1), init_std=0.05, generator=torch.Generator().manual_seed(1)
    ).to(device)
    params = list(dmodel.parameters())
    eager = GraphedStep(dmodel.loss, params, Update("sgd", params, 0.0), tokens, labels, graph=False)
    variants["device step eager, fixed batch"] = lambda: eager(tokens, labels, 1e-3)
    if device.startswith("cuda"):
        graphed = GraphedStep(dmodel.loss, params, Update("sgd", params, 0.0), tokens, labels, graph=True)
        variants["device step graphed, fixed batch"] = lambda: graphed(tokens, labels, 1e-3)
        pooled = PooledBatches(task, BATCH, gen, count=10**9, pool=pool)

        def graphed_pooled():
            tok, lab, _ = pooled.next()
            graphed(tok, lab, 1e-3)

        variants["device step graphed, pooled batches (sampling included)"] = graphed_pooled
    draws = PooledBatches(task, BATCH, gen, count=10**9, pool=pool)
    variants["pooled sampling alone (per batch)"] = lambda: draws.next()
    return variants, model, tokens, labels, lambda: step(tokens, labels)


def train_loop_seconds_per_step(device: str, quick: bool) -> dict:
    """Seconds per step of ``train()`` itself on the paper's Fig. 2 chain configuration on ``device``: the loop as a
    paper-scale run takes it (on CUDA the graphed device step, batches from pools of train()'s own size, the
    learning-rate schedule, the loss records), evaluations left out. Two runs of ``short`` and ``long`` steps, each
    paying its own set-up (test set, first pool, graph capture) once; the difference of their times over the
    difference of their steps is the step, refills of the pool included."""
    exp = EXPERIMENTS["chain"]
    cuda = device.startswith("cuda")
    short, long = (256, 2304) if cuda else ((16, 48) if quick else (32, 160))
    cfg = exp.config("paper", seed=0, device=device, eval_every=10**9)
    task = build_task(exp, device)
    test = tuple(task.sample(256, torch.Generator(device=device).manual_seed(1)))

    def run(steps: int) -> float:
        model = DisentangledTransformer(task.S, task.T, heads=(1, 1))
        t0 = time.perf_counter()
        train(model, task, cfg, test_set=test, stop_after=steps, progress=False)
        common.sync(device)
        return time.perf_counter() - t0

    run(short)  # warm-up: first use of every kernel
    times = {steps: [run(steps) for _ in range(2 if quick else 3)] for steps in (short, long)}
    best = {steps: min(t) for steps, t in times.items()}
    return {
        "short_steps": short,
        "long_steps": long,
        "seconds": times,
        "pool_batches": cfg.pool_size(torch.device(device), BATCH) if cfg.device_step(torch.device(device)) else 0,
        "s_per_step": (best[long] - best[short]) / (long - short),
    }


def count_flops(step) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def count_launches(step, device: str) -> int:
    """Kernels (CUDA) or operators that do the work (CPU: the innermost ``aten::`` calls) one step launches."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.startswith("cuda")
    step()
    common.sync(device)
    with profile(activities=[ProfilerActivity.CUDA] if cuda else [ProfilerActivity.CPU]) as prof:
        step()
        common.sync(device)
    events = prof.events()
    if cuda:
        return sum(1 for e in events if e.device_type.name == "CUDA")
    return sum(
        1
        for e in events
        if e.name.startswith("aten::") and not any(c.name.startswith("aten::") for c in e.cpu_children)
    )


def floor_bytes(model, tokens, labels) -> int:
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return tokens.numel() * tokens.element_size() + labels.numel() * labels.element_size() + 4 * params


def run(device: str = "auto", quick: bool = False) -> dict:
    device = str(resolve_device(device))
    with trusted_tokens():  # the device step checks tokens once, at the edge, as train() does
        steps, rounds = (20, 3) if quick else (100, 7)
        variants, model, tokens, labels, fixed_step = step_variants(device, pool=steps)
        per_step = _timed(variants, steps, rounds, device)
        device_launches = count_launches(variants["device step eager, fixed batch"], device)
    loop = train_loop_seconds_per_step(device, quick)
    ceil = ceilings(device, quick)
    flops = count_flops(fixed_step)
    nbytes = floor_bytes(model, tokens, labels)
    launches = count_launches(fixed_step, device)
    floor = {
        "arithmetic_s": flops / ceil["matmul_flops_per_s"],
        "memory_s": nbytes / ceil["copy_bytes_per_s"],
        "launches_s": launches * ceil["launch_s"],
    }
    floor["floor_s"] = max(floor["arithmetic_s"], floor["memory_s"])
    measured = per_step["step, fixed batch"]
    best = per_step.get(
        "device step graphed, pooled batches (sampling included)", per_step["step, fresh batch (sampling included)"]
    )
    graphed = per_step.get("device step graphed, fixed batch")
    return {
        "benchmark": "device",
        "config": {"experiment": "chain", "scale": "paper", "batch": BATCH, "steps": steps, "rounds": rounds},
        "seconds_per_step": per_step,
        "train_loop": loop,
        "ceilings": ceil,
        "step_matmul_flops": flops,
        "step_min_bytes": nbytes,
        "step_launches": launches,
        "device_step_launches": device_launches,
        "floor": floor,
        "ratios": {
            "fixed-batch step / floor (arithmetic, memory)": measured / floor["floor_s"],
            "fixed-batch step / launches x one tiny launch": measured / floor["launches_s"],
            "fresh-batch step / fixed-batch step": per_step["step, fresh batch (sampling included)"] / measured,
            "device step eager / plain step (fixed batch)": per_step["device step eager, fixed batch"] / measured,
            **(
                {
                    "graphed step / floor (arithmetic, memory)": graphed / floor["floor_s"],
                    "plain fresh-batch step / graphed pooled step": per_step["step, fresh batch (sampling included)"]
                    / best,
                    "the research code's 2.98 ms (measured elsewhere, an H200) / graphed pooled step": 2.98e-3 / best,
                }
                if graphed is not None
                else {}
            ),
        },
        "paper_fig2_projection_s": best * 2**17,
        "paper_fig2_train_loop_projection_s": loop["s_per_step"] * 2**17,
    }


def table(res: dict) -> str:
    f, c = res["floor"], res["ceilings"]
    pooled = res["train_loop"]["pool_batches"]
    pool = f"pools of {pooled} batches" if pooled else "a batch sampled each step"
    lines = [
        "| variant | ms per step |",
        "|---|---:|",
        *[f"| {name} | {s * 1e3:.3f} |" for name, s in res["seconds_per_step"].items()],
        f"| train() itself, paper configuration, evaluations left out ({pool}) | "
        f"{res['train_loop']['s_per_step'] * 1e3:.3f} |",
        "",
        f"ceilings measured: float32 matrix product {c['matmul_flops_per_s'] / 1e12:.2f} TFLOP/s, "
        f"copy {c['copy_bytes_per_s'] / 1e9:.1f} GB/s, one tiny launch {c['launch_s'] * 1e6:.1f} µs",
        f"one step: {res['step_matmul_flops'] / 1e6:.1f} MFLOP in matrix products, at least "
        f"{res['step_min_bytes'] / 1e6:.2f} MB moved, {res['step_launches']} launches "
        f"({res['device_step_launches']} in the eager device step; one graph replay when graphed)",
        f"floor: arithmetic {f['arithmetic_s'] * 1e6:.2f} µs, memory {f['memory_s'] * 1e6:.2f} µs, "
        f"launches {f['launches_s'] * 1e6:.1f} µs",
        *[f"{what}: {ratio:.1f}x" for what, ratio in res["ratios"].items()],
        f"projected paper-scale Fig. 2 training (2^17 steps with sampling, the fastest way measured): "
        f"{res['paper_fig2_projection_s'] / 60:.1f} min; at train()'s own rate "
        f"{res['paper_fig2_train_loop_projection_s']:.0f} s",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--out", type=Path, help="write the JSON here instead of benchmarks/results/")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    res = run(args.device, args.quick)
    device = str(resolve_device(args.device))
    if args.out:
        atomic_write_json({"environment": common.environment(device), **res}, args.out)
        path = args.out
    else:
        path = common.write_result("device", res, device)
    print(common.format_environment(device))
    print(table(res))
    print(f"wrote {path} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
