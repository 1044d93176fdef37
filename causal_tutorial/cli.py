"""The command line: ``python -m causal_tutorial list``, ``… run NAME …`` and ``… sweep --alpha … --seeds N …``."""

from __future__ import annotations

import argparse
import json
import sys
import time

__all__ = ["main"]


def _summary(result: dict) -> str:
    lines = [
        f"experiment {result['experiment']} [{result['scale']}] on {result['device_name']}: "
        f"{result['wall_time_s']:.1f} s"
    ]
    f, b = result["final"], result.get("baselines")
    if b:
        lines.append(
            f"  final test loss {f['test_loss']:.4f}   estimator line {b['estimator']:.4f}   "
            f"gap {f['test_loss'] - b['estimator']:+.4f} nats"
        )
        extra = "   ".join(
            f"{k} {b[k]:.4f}" for k in ("bayes", "readout_floor", "one_parent", "unigram", "uniform") if k in b
        )
        lines.append(f"  baselines: {extra}")
    if "recovered_parents" in result:
        ok = result["final"].get("parent_recovered") == 1.0
        lines.append(
            f"  layer-1 attention recovered the graph: {'yes' if ok else 'NO'} "
            f"(mean attention on the parent {f['attn_on_parent']:.3f})"
        )
    if "attn_on_parent_mean" in f:
        lines.append(
            f"  mean attention on the true parent over {len(result['graphs'])} graphs: "
            f"{f['attn_on_parent_mean']:.3f} ± {f['attn_on_parent_std']:.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from .experiments import SCALES, list_experiments

    parser = argparse.ArgumentParser(prog="causal_tutorial", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the named experiments and their scales")
    run = sub.add_parser("run", help="run a named experiment")
    run.add_argument("name")
    run.add_argument("--scale", default="book", choices=SCALES)
    run.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", default="runs", help="output directory; writes OUT/NAME/result.json")
    run.add_argument("--no-figures", action="store_true")
    run.add_argument(
        "--resume", action="store_true", help="continue from the checkpoints under OUT/NAME (after an interruption)"
    )
    run.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="train seeds SEED … SEED+N-1 as one stacked run (OUT/NAME/seed_K/result.json, OUT/NAME/seeds.json)",
    )
    sw = sub.add_parser(
        "sweep",
        help="a grid over alpha, S, T, family, steps and lr, times seeds: one table (OUT/sweep.csv), one row per run",
    )
    sw.add_argument("--base", default="chain", help="the single-parent experiment whose other settings every run keeps")
    sw.add_argument("--scale", default="book", choices=SCALES)
    sw.add_argument("--alpha", type=float, nargs="+", help="Dirichlet concentrations")
    sw.add_argument("-S", "--S", dest="S", type=int, nargs="+", help="vocabulary sizes")
    sw.add_argument("-T", "--T", dest="T", type=int, nargs="+", help="sequence lengths")
    sw.add_argument("--family", nargs="+", help="graph families: chain icl random forest (or small)")
    sw.add_argument("--steps", type=int, nargs="+", help="training steps")
    sw.add_argument("--lr", type=float, nargs="+", help="learning rates")
    sw.add_argument("--seeds", type=int, default=1, help="seeds 0 … N-1 of every grid point (default 1)")
    sw.add_argument("--out", default="sweeps/sweep", help="output directory (a rerun continues it)")
    sw.add_argument("--engine", default="local", help="local (one group after another) or ray")
    sw.add_argument("--address", default=None, help="the Ray cluster's address (default: start a local one)")
    sw.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    sw.add_argument("--bayes-draws", type=int, default=None, help="importance draws of each run's Bayes floor")
    sw.add_argument(
        "--train",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="training settings replaced for every run, e.g. optimizer=sgd batch_size=128 schedule=constant",
    )
    args = parser.parse_args(argv)
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "list":
        print(f"{'name':<12} {'figure':<10} {'scale':<6} {'steps x batch':>16}  {'optimizer':<6} description")
        for r in list_experiments():
            print(
                f"{r['name']:<12} {r['figure']:<10} {r['scale']:<6} {r['steps']:>8} x {r['batch']:<5}  "
                f"{r['optimizer']:<9} {r['description'] if r['scale'] == 'test' else ''}"
            )
        return 0
    from .experiments import run_experiment

    try:
        result = run_experiment(
            args.name,
            scale=args.scale,
            seed=args.seed,
            device=args.device,
            out=args.out,
            figures=not args.no_figures,
            resume=args.resume,
            seeds=args.seeds,
        )
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.seeds is not None:
        over = result["over_seeds"]
        print(
            f"experiment {args.name} [{args.scale}] on {result['device_name']}, seeds {result['seeds'][0]}…"
            f"{result['seeds'][-1]} stacked: {result['wall_time_s']:.1f} s"
        )
        for key, v in over.items():
            print(f"  {key}: {v['mean']:.4f} ± {v['sd']:.4f} (mean ± sd over {len(v['values'])} seeds)")
        print(f"  wrote {args.out}/{args.name}/seed_K/result.json and {args.out}/{args.name}/seeds.json")
        return 0
    print(_summary(result))
    print(f"  wrote {args.out}/{args.name}/result.json")
    return 0


def _setting(item: str) -> tuple[str, object]:
    """``KEY=VALUE`` of ``--train``: the value as JSON where it parses (numbers, ``true``), else as text."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"--train takes KEY=VALUE items, got {item!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _sweep(args) -> int:
    from .sweep import SETTINGS, sweep

    grid = {k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None}
    t0 = time.perf_counter()
    try:
        train = dict(_setting(item) for item in args.train)
        table = sweep(
            grid,
            seeds=args.seeds,
            base=args.base,
            scale=args.scale,
            out=args.out,
            engine=args.engine,
            address=args.address,
            device=args.device,
            bayes_draws=args.bayes_draws,
            train=train,
        )
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    varied = [k for k in grid if len(grid[k]) > 1]
    print(f"sweep of {len(table)} runs ({args.engine} engine): {time.perf_counter() - t0:.1f} s")
    summary = table.groupby(varied or ["base"])[["parent_recovered", "attn_on_parent", "gap_to_estimator"]].mean()
    print(summary.round(3).to_string())
    print(f"  wrote {args.out}/sweep.csv and {args.out}/histories/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
