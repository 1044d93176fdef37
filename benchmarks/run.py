"""Run every benchmark and print one table of ratios (README "Performance").

    python benchmarks/run.py            # full repetitions (a few minutes on a 2-core CPU)
    python benchmarks/run.py --quick    # fewer repetitions (under two minutes)

Each benchmark writes its own JSON under ``benchmarks/results/``; this script prints the device,
the versions, the thread count, then the ratios measured by each, all in one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_sampler  # noqa: E402
import bench_stacked  # noqa: E402
import bench_training  # noqa: E402
import common  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run all benchmarks of causal_tutorial.")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (under two minutes in all)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    results = {"sampler": bench_sampler.run(args.quick), "training": bench_training.run(args.quick)}
    results["stacked"] = bench_stacked.run(args.quick)
    print(common.format_environment())
    print()
    print("| benchmark | comparison | ratio |")
    print("|---|---|---:|")
    for name, res in results.items():
        for what, ratio in res.get("ratios", {}).items():
            print(f"| {name} | {what} | {ratio:.2f}× |")
    print()
    print(bench_sampler.table(results["sampler"]))
    print()
    print("What each choice of the sampler buys (time with the choice undone / ours):")
    print(bench_sampler.ablation_table(results["sampler"]))
    print()
    print(bench_training.table(results["training"]))
    print()
    print(bench_stacked.table(results["stacked"]))
    print(f"\n(all benchmarks: {time.perf_counter() - t0:.0f} s; JSON in benchmarks/results/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
