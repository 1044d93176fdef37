"""Sampler throughput: ours against the plain batched PyTorch way and against the gamma-draw ceiling.

    python benchmarks/bench_sampler.py [--quick]

For each task (the chain S=10 T=20, a random tree S=10 T=20, the paper's multi-parent DAG S=5 T=32)
and batch size (1024, the training batch, and 65536), measured in one run, round by round:

* **ours**: ``SingleParentTask.sample`` / ``MultiParentTask.sample``;
* **plain**: the plain batched PyTorch way, written below: ``torch.distributions.Dirichlet``, a
  batched ``torch.linalg.solve`` for the stationary law, one ``torch.multinomial`` per position;
* **ceiling**: the same number of gamma variates alone (``S²`` per sequence, ``S^(k+1)`` per table in
  the multi-parent task), from the fastest exact gamma generator we use, NumPy's float32 sampler
  (SFC64), in **one** thread. Ours draws its variates in two streams on two threads, so "ours /
  ceiling" can pass 100%; the "2 threads" column times the variates drawn exactly as ours draws
  them, and "ours / 2-thread ceiling" is the share of our time that the variates take;
* **torch gamma**: the same count from ``torch._standard_gamma``, for reference;
* **peak memory** of one call of ours and of plain (the resident-set high-water mark it adds).

Prints the environment and a table of ratios; writes ``benchmarks/results/sampler_<device>.json``.
``run(quick)`` does it all and returns the results (``benchmarks/run.py`` calls it).

**What each choice buys** (the ablation table): our sampler against itself with one of its
choices undone, in the same run: torch's gamma sampler instead of NumPy's; one gamma stream
instead of two; the stationary law by the textbook float64 solve instead of float32 GTH; and, on
the random tree, one position at a time instead of one depth level at a time.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (benchmarks/common.py: environment, timing, memory, JSON)

from causal_tutorial import priors  # noqa: E402
from causal_tutorial.graphs import chain, multi_parent_dag, random_tree  # noqa: E402
from causal_tutorial.tasks import MultiParentTask, SingleParentTask  # noqa: E402

CASES = {
    "chain S=10 T=20": lambda: SingleParentTask(10, 20, chain(20), 0.1),
    "random tree S=10 T=20": lambda: SingleParentTask(10, 20, random_tree(20, seed=0), 0.1),
    "multi-parent DAG S=5 T=32": lambda: MultiParentTask(5, 32, multi_parent_dag(32), 0.1),
}
BATCHES = (1024, 65536)


# --- the plain batched PyTorch way (the baseline) ---------------------------------------------------
def plain_single(task: SingleParentTask, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The plain batched PyTorch way for the single-parent task (torch's global generator)."""
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
    """The plain batched PyTorch way for the multi-parent task (torch's global generator)."""
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
            break
        tokens[:, i] = torch.multinomial(probs, 1).squeeze(1)
    return tokens[:, :T], label


def plain(task, n: int):
    return plain_multi(task, n) if task.kind == "multi" else plain_single(task, n)


# --- the gamma ceiling ------------------------------------------------------------------------------
def gamma_count(task, n: int) -> int:
    """Gamma variates one batch needs: ``S²`` per sequence, or ``S^(k+1)`` per ``k``-parent table."""
    if task.kind == "multi":
        return n * sum(task.S ** (k + 1) for k in task.ks)
    return n * task.S * task.S


def numpy_gamma_one_thread(count: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_gamma(alpha, size=count, dtype=np.float32)


def numpy_gamma_as_ours(count: int, alpha: float) -> torch.Tensor:
    return priors._numpy_gamma(alpha, (count,), 0, np.dtype(np.float32), priors.DEFAULT_SETTINGS)()


def torch_gamma(count: int, alpha: float, g: torch.Generator) -> torch.Tensor:
    return torch._standard_gamma(torch.full((count,), alpha), generator=g)


# --- the benchmark ----------------------------------------------------------------------------------
def _ratio(num: dict, den: dict) -> dict:
    """``num`` time / ``den`` time: from the best rounds, and the median of the per-round ratios."""
    per_round = [a / b for a, b in zip(num["times"], den["times"])]
    return {"best": num["best"] / den["best"], "median": statistics.median(per_round)}


def measure(case: str, n: int, rounds: int) -> dict:
    """One case at one batch size: peak memory (first calls, which also warm up), then the timings."""
    task = CASES[case]()
    count = gamma_count(task, n)
    g = torch.Generator().manual_seed(0)
    rng = np.random.Generator(np.random.SFC64(0))
    torch.manual_seed(0)
    memory = {
        "ours": common.peak_memory_mib(lambda: task.sample(n, g)),
        "plain": common.peak_memory_mib(lambda: plain(task, n)),
    }
    fns = {
        "ours": lambda: task.sample(n, g),
        "plain": lambda: plain(task, n),
        "ceiling": lambda: numpy_gamma_one_thread(count, task.alpha, rng),
        "ceiling_2_threads": lambda: numpy_gamma_as_ours(count, task.alpha),
        "torch_gamma": lambda: torch_gamma(count, task.alpha, g),
    }
    t = common.interleaved(fns, rounds, warmup=1 if n <= 4096 else 0)
    row = {
        "case": case,
        "batch": n,
        "gamma_variates": count,
        "seconds": {k: {"best": v["best"], "median": v["median"]} for k, v in t.items()},
        "seq_per_s": {k: n / v["best"] for k, v in t.items()},
        "gamma_draws_per_s": {k: count / t[k]["best"] for k in ("ceiling", "ceiling_2_threads", "torch_gamma")},
        "ours_vs_plain": _ratio(t["plain"], t["ours"]),
        "ours_fraction_of_ceiling": _ratio(t["ceiling"], t["ours"]),
        "ours_fraction_of_2_thread_ceiling": _ratio(t["ceiling_2_threads"], t["ours"]),
        "peak_mib": memory,
    }
    return row


def run(quick: bool = False) -> dict:
    """Measure every case and batch size; return the results (also written to ``results/sampler_<device>.json``)."""
    t0 = time.perf_counter()
    load_before = common.load_average()
    rows = []
    for case in CASES:
        for n in BATCHES:
            rounds = (15 if quick else 41) if n <= 4096 else (3 if quick else 7)
            rows.append(measure(case, n, rounds))
    abl = [
        ablations(case, n, rounds=(9 if quick else 25) if n <= 4096 else (3 if quick else 5))
        for case in ("chain S=10 T=20", "random tree S=10 T=20")
        for n in (1024, 65536)
    ]
    ratios = {}
    for r in rows:
        key = f"{r['case']}, batch {r['batch']}"
        ratios[f"{key}: ours / plain"] = r["ours_vs_plain"]["best"]
        ratios[f"{key}: ours / gamma ceiling (1 thread)"] = r["ours_fraction_of_ceiling"]["best"]
    for a in abl:
        for what, r in a["speedup"].items():
            ratios[f"{a['case']}, batch {a['batch']}: {what}"] = r["best"]
    result = {
        "benchmark": "sampler",
        "quick": quick,
        "rows": rows,
        "ablations": abl,
        "ratios": ratios,
        "load_average_before": load_before,
        "load_average_after": common.load_average(),
        "wall_s": time.perf_counter() - t0,
    }
    common.write_result("sampler", result)
    return result


def table(result: dict) -> str:
    """Throughputs (best round) and ratios (best rounds; median of per-round ratios in brackets)."""
    lines = [
        "| sampler | batch | ours (seq/s) | plain (seq/s) | ours / plain | ceiling, 1 thread (seq/s) | "
        "ours / ceiling | ours / 2-thread ceiling | peak MiB ours / plain |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        sps = r["seq_per_s"]
        mem = r.get("peak_mib", {})
        mem = "" if mem.get("ours") is None else f"{mem['ours']:.0f} / {mem['plain']:.0f}"
        vp, vc, v2 = r["ours_vs_plain"], r["ours_fraction_of_ceiling"], r["ours_fraction_of_2_thread_ceiling"]
        lines.append(
            f"| {r['case']} | {r['batch']} | {sps['ours']:,.0f} | {sps['plain']:,.0f} | "
            f"{vp['best']:.1f}× ({vp['median']:.1f}×) | {sps['ceiling']:,.0f} | "
            f"{vc['best']:.0%} ({vc['median']:.0%}) | {v2['best']:.0%} ({v2['median']:.0%}) | {mem} |"
        )
    return "\n".join(lines)


# --- what each choice buys --------------------------------------------------------------------------
def _one_position_per_level(task: SingleParentTask) -> SingleParentTask:
    """The same task filled one position at a time (the fill order is by depth, so parents come first)."""
    groups = []
    for k, lv, (par,) in task._groups:
        for i in range(lv.stop - lv.start):
            p = slice(par.start + i, par.start + i + 1) if isinstance(par, slice) else par[i : i + 1]
            groups.append((k, slice(lv.start + i, lv.start + i + 1), [p]))
    slow = SingleParentTask(task.S, task.T, task.parents, task.alpha)
    slow._groups = groups
    return slow


#: ``{choice undone: the fields of the task's SamplerSettings that undo it}``
UNDO = {
    "NumPy gamma (vs torch._standard_gamma)": {"gamma_source": "torch"},
    "two gamma streams (vs one)": {"thread_min": 1 << 62},
    "float32 GTH (vs float64 solve)": {"stationary": "solve"},
}


def undone(task, fields: dict):
    """The same task with the sampler choices in ``fields`` undone (a copy; ``task`` is unchanged)."""
    other = copy.copy(task)
    other.settings = priors.SamplerSettings(**fields)
    return other


def ablations(case: str, n: int, rounds: int) -> dict:
    """Ours against ours with one choice undone, interleaved; ``speedup[choice]`` = time without / time with."""
    task = CASES[case]()
    g = torch.Generator().manual_seed(0)
    fns = {"ours": lambda: task.sample(n, g)}
    for what, fields in UNDO.items():
        fns[what] = (lambda t: lambda: t.sample(n, g))(undone(task, fields))
    if task.kind == "single" and len(task._groups) < task.T - 1 - task._n_roots:
        slow = _one_position_per_level(task)
        fns["fill by depth level (vs by position)"] = lambda: slow.sample(n, g)
    t = common.interleaved(fns, rounds, warmup=1)
    return {
        "case": case,
        "batch": n,
        "seq_per_s": {k: n / v["best"] for k, v in t.items()},
        "speedup": {k: _ratio(t[k], t["ours"]) for k in fns if k != "ours"},
    }


def ablation_table(result: dict) -> str:
    """What each choice buys: time with it undone / time of ours (best rounds; median ratio in brackets)."""
    abl = result.get("ablations", [])
    cols = list(dict.fromkeys(k for a in abl for k in a["speedup"]))
    lines = ["| sampler | batch | ours (seq/s) | " + " | ".join(cols) + " |", "|---|---:|---:|" + "---:|" * len(cols)]
    for a in abl:
        cells = [
            f"{a['speedup'][c]['best']:.2f}× ({a['speedup'][c]['median']:.2f}×)" if c in a["speedup"] else "–"
            for c in cols
        ]
        lines.append(f"| {a['case']} | {a['batch']} | {a['seq_per_s']['ours']:,.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (under a minute)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    res = run(args.quick)
    print(common.format_environment())
    r0 = res["rows"][0]["gamma_draws_per_s"]
    print(
        f"gamma variates per second: NumPy float32, 1 thread {r0['ceiling'] / 1e6:.0f} M; "
        f"as ours draws them (2 streams, 2 threads) {r0['ceiling_2_threads'] / 1e6:.0f} M; "
        f"torch._standard_gamma {r0['torch_gamma'] / 1e6:.0f} M (chain, batch {res['rows'][0]['batch']})"
    )
    print(table(res))
    print("\nWhat each choice buys (time with the choice undone / ours):")
    print(ablation_table(res))
    print(
        f"({res['wall_s']:.0f} s; load average before/after {res['load_average_before']} / "
        f"{res['load_average_after']}; JSON in benchmarks/results/)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
