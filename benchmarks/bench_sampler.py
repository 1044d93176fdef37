"""Sampler throughput: ours against the plain batched PyTorch way and against the gamma-draw ceiling.

    python benchmarks/bench_sampler.py [--quick]

For each task (chain S=10 T=20, a random tree S=10 T=20, the multi-parent DAG S=5 T=32) and batch
size, measured in one run:
* ours: ``SingleParentTask.sample`` / ``MultiParentTask.sample``;
* plain: ``torch.distributions.Dirichlet``, a batched ``torch.linalg.solve`` for the stationary
  law, one ``torch.multinomial`` per position over the batch;
* ceiling: the same number of gamma variates alone, from the fastest exact gamma generator we use
  (NumPy's float32 sampler); ours as a fraction of it says how close to the floor we are.
Writes ``benchmarks/results/sampler_cpu.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from causal_tutorial.graphs import chain, multi_parent_dag, random_tree  # noqa: E402
from causal_tutorial.tasks import MultiParentTask, SingleParentTask  # noqa: E402

CASES = {
    "chain S=10 T=20": lambda: SingleParentTask(10, 20, chain(20), 0.1),
    "random tree S=10 T=20": lambda: SingleParentTask(10, 20, random_tree(20, seed=0), 0.1),
    "multi-parent DAG S=5 T=32": lambda: MultiParentTask(5, 32, multi_parent_dag(32), 0.1),
}


def plain_single(task: SingleParentTask, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The plain batched PyTorch way for the single-parent task (the baseline)."""
    S, T = task.S, task.T
    pi = torch.distributions.Dirichlet(torch.full((n, S, S), task.alpha)).sample()
    M = torch.eye(S) - pi.transpose(1, 2) + 1.0  # (I - πᵀ + 𝟙𝟙ᵀ) μ = 𝟙
    mu = torch.linalg.solve(M, torch.ones(n, S, 1)).squeeze(-1).clamp_min(0)
    tokens = torch.empty(n, T, dtype=torch.long)
    ar = torch.arange(n)
    for i, p in enumerate(task.parents):
        probs = mu if p < 0 else pi[ar, tokens[:, p]]
        tokens[:, i] = torch.multinomial(probs, 1).squeeze(1)
    tokens[:, -1] = torch.randint(0, S, (n,))
    return tokens, pi[ar, tokens[:, -1]]


def plain_multi(task: MultiParentTask, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The plain batched PyTorch way for the multi-parent task (the baseline)."""
    S, T = task.S, task.T
    tables = {k: torch.distributions.Dirichlet(torch.full((n, S**k, S), task.alpha)).sample() for k in task.ks}
    tokens = torch.empty(n, T + 1, dtype=torch.long)
    ar = torch.arange(n)
    label = None
    for i, ps in enumerate(task.parent_lists):
        if not ps:
            tokens[:, i] = torch.randint(0, S, (n,))
            continue
        row = torch.zeros(n, dtype=torch.long)
        for p in ps:
            row = row * S + tokens[:, p]
        probs = tables[len(ps)][ar, row]
        if i == T:
            label = probs
        tokens[:, i] = torch.multinomial(probs, 1).squeeze(1)
    return tokens[:, :T], label


def gamma_count(task, n: int) -> int:
    if isinstance(task, MultiParentTask):
        return n * sum(task.S**k * task.S for k in task.ks)
    return n * task.S * task.S


def gamma_ceiling(count: int, alpha: float) -> None:
    rng = np.random.Generator(np.random.SFC64(0))
    rng.standard_gamma(alpha, size=count, dtype=np.float32)


def _peak_mib(case: str, n: int, which: str) -> float:
    """Peak RSS (MiB) of a fresh process that imports torch and the package and samples one batch."""
    code = (
        "import resource, sys, torch; sys.path.insert(0, 'benchmarks'); import bench_sampler as b\n"
        f"task = b.CASES[{case!r}]()\n"
        f"(task.sample({n}, torch.Generator().manual_seed(0)) if {which!r} == 'ours' else "
        f"(b.plain_multi if hasattr(task, 'parent_lists') else b.plain_single)(task, {n}))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict:
    repeat = 3 if quick else 7
    batches = (1024, 16384) if quick else (1024, 65536)
    rows = []
    torch.manual_seed(0)
    for case, make in CASES.items():
        task = make()
        plain = plain_multi if isinstance(task, MultiParentTask) else plain_single
        for n in batches:
            g = torch.Generator().manual_seed(0)
            t_ours = common.median_time(lambda: task.sample(n, g), repeat)
            t_plain = common.median_time(lambda: plain(task, n), max(2, repeat // 2))
            count = gamma_count(task, n)
            t_gamma = common.median_time(lambda: gamma_ceiling(count, task.alpha), repeat)
            t_torch_gamma = common.median_time(lambda: torch._standard_gamma(torch.full((count,), task.alpha)), max(2, repeat // 2))
            row = {"case": case, "batch": n, "ours_seq_per_s": n / t_ours, "plain_seq_per_s": n / t_plain,
                   "ceiling_seq_per_s": n / t_gamma, "gamma_draws_per_s_numpy": count / t_gamma,
                   "gamma_draws_per_s_torch": count / t_torch_gamma, "ours_vs_plain": t_plain / t_ours,
                   "ours_fraction_of_ceiling": t_gamma / t_ours}
            if n == batches[-1]:
                row["peak_mib_ours"] = _peak_mib(case, n, "ours")
                row["peak_mib_plain"] = _peak_mib(case, n, "plain")
            rows.append(row)
    ratios = {}
    for r in rows:
        ratios[f"{r['case']}, batch {r['batch']}: ours / plain"] = r["ours_vs_plain"]
        ratios[f"{r['case']}, batch {r['batch']}: ours / gamma ceiling"] = r["ours_fraction_of_ceiling"]
    result = {"quick": quick, "rows": rows, "ratios": ratios}
    common.write_result("sampler", result)
    return result


def table(result: dict) -> str:
    lines = ["| sampler | batch | ours (seq/s) | plain (seq/s) | ours / plain | gamma ceiling (seq/s) | ours / ceiling | peak MiB ours / plain |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        mem = f"{r['peak_mib_ours']:.0f} / {r['peak_mib_plain']:.0f}" if "peak_mib_ours" in r else ""
        lines.append(f"| {r['case']} | {r['batch']} | {r['ours_seq_per_s']:,.0f} | {r['plain_seq_per_s']:,.0f} | "
                     f"{r['ours_vs_plain']:.1f}× | {r['ceiling_seq_per_s']:,.0f} | {r['ours_fraction_of_ceiling']:.0%} | {mem} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    res = run(args.quick)
    print(common.format_environment())
    print(table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
