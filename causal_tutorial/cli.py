"""The command line: ``python -m causal_tutorial list`` and ``python -m causal_tutorial run NAME ...``."""

from __future__ import annotations

import argparse
import sys

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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    raise SystemExit(main())
