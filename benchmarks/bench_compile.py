"""Does ``torch.compile`` pay for the training step? (Issue 4 listed it among the ideas.)

    python benchmarks/bench_compile.py [--threads N]

One training step at batch 1024 (disentangled transformer, heads ``[1, 1]``, S=10, T=20, SGD,
one fixed batch), timed round by round in one process: the eager fused loss (what training uses),
and ``torch.compile`` (default inductor backend) of the fused loss and of the plain formulation.
Reports the first call (the compilation) apart. Needs a C++ compiler for inductor on the CPU;
not part of ``run.py`` because compiling takes a while. Writes ``results/compile_<device>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from causal_tutorial.estimators import soft_cross_entropy_from_logits  # noqa: E402
from causal_tutorial.graphs import chain  # noqa: E402
from causal_tutorial.models import DisentangledTransformer, retain_freed_memory  # noqa: E402
from causal_tutorial.tasks import SingleParentTask  # noqa: E402


def run(rounds: int = 15) -> dict:
    retain_freed_memory()  # as train() does on the CPU
    tokens, labels = SingleParentTask(10, 20, chain(20)).sample(1024, torch.Generator().manual_seed(0))
    model = DisentangledTransformer(10, 20, heads=(1, 1), init_std=0.05, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    losses = {
        "eager fused loss": lambda: model.loss(tokens, labels),
        "compiled fused loss": torch.compile(lambda: model.loss(tokens, labels)),
        "compiled plain formulation": torch.compile(
            lambda: soft_cross_entropy_from_logits(model.forward_plain(tokens), labels)
        ),
    }

    def step(loss_fn):
        def run_step():
            loss = loss_fn()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return run_step

    fns = {name: step(fn) for name, fn in losses.items()}
    first = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - t0

    def ten(fn):
        return lambda: [fn() for _ in range(10)]

    t = common.interleaved({k: ten(f) for k, f in fns.items()}, rounds, warmup=1)
    ms = {k: v["median"] * 100 for k, v in t.items()}  # per step
    result = {
        "benchmark": "compile",
        "first_call_s": first,
        "ms_per_step_median": ms,
        "compiled_fused_vs_eager": ms["eager fused loss"] / ms["compiled fused loss"],
    }
    common.write_result("compile", result)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    res = run()
    print(common.format_environment())
    print("| training step, batch 1024 | first call (s) | ms/step (median) |")
    print("|---|---:|---:|")
    for name, ms in res["ms_per_step_median"].items():
        print(f"| {name} | {res['first_call_s'][name]:.1f} | {ms:.2f} |")
    print(f"compiled fused / eager fused speed: {res['compiled_fused_vs_eager']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
