"""Seeds and sweeps: when does gradient descent find the graph? (chapter 10)

A sweep is a grid over some of a single-parent experiment's settings — the Dirichlet concentration ``alpha``, the
vocabulary ``S``, the length ``T``, the graph ``family``, the training's ``steps`` and ``lr`` — times seeds. Every
point of the grid is one run of the base experiment (``chain`` by default) at one scale with those settings replaced.

* :func:`plan` checks the grid and resolves every run (:func:`causal_tutorial.experiments.resolve`) before anything
  trains: an unknown setting, an empty list or a value the task refuses is an error naming the setting.
* Runs that share shapes and training settings (the same ``S``, ``T``, ``steps``, ``lr``) form a **group** and train
  together as one model with a run axis (:func:`causal_tutorial.experiments.train_together`): each run equals its
  separate run to float rounding, whatever ``alpha``, family or seed it has.
* :func:`sweep` trains the groups, locally one after another or on a Ray cluster (``engine="ray"``, one group per
  task, a GPU each where the cluster has GPUs), and writes **one tidy table**, ``OUT/sweep.csv``: one row per run
  with every setting, the seed, the device, the wall time, the final test loss, the lines of that setting (in-context
  estimator, Bayes floor, read-out floor), the attention on the parent, the rows recovered, the first evaluation
  step at which the whole graph was recovered and the χ²-margin of chapter 5. Each run's history goes to
  ``OUT/histories/RUN_ID.json``. Both are written atomically after every group; a sweep restarted on the same ``OUT``
  never reruns a finished run (and continues an interrupted local group from its checkpoint).

``python -m causal_tutorial sweep --alpha 0.1 1 10 --family chain random --seeds 3 --out sweeps/a`` is the command.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import pandas as pd
import torch

from . import __version__
from .analysis import parent_metrics
from .checks import check_positive_int, make_generator
from .experiments import OVERRIDABLE, SCALES, RunSpec, device_name, get_experiment, resolve, train_together
from .graphs import FAMILIES
from .io import atomic_write_json, atomic_write_text, check_output_dir
from .theory import chi2_mutual_information
from .training import progress_bar, progress_enabled

__all__ = [
    "SETTINGS",
    "BASES",
    "ENGINES",
    "SweepRun",
    "plan",
    "groups",
    "sweep",
    "read_sweep",
    "train_group",
    "over_seeds",
    "margin_vs_recovery",
    "discordance",
    "MARGIN_DRAWS",
    "MARGIN_SEED",
    "METRIC_SEQUENCES",
    "TIMING_COLUMNS",
    "SUMMARY_COLUMNS",
]

#: The settings a sweep may vary, each with the type its values take.
SETTINGS: dict[str, type] = {"alpha": float, "S": int, "T": int, "family": str, "steps": int, "lr": float}
#: The experiments a sweep may start from (the single-parent ones, trained by the disentangled transformer).
BASES = ("chain", "icl", "random", "small_tree")
ENGINES = ("local", "ray")
#: Draws of ``π`` behind each run's χ²-margin (:meth:`causal_tutorial.theory.Chi2MutualInformation.margin`).
MARGIN_DRAWS = 256
#: The seed of the margin's draws of ``π`` (the same for every run of a setting, so its runs share one margin).
MARGIN_SEED = 40
#: Test sequences behind each evaluation's attention on the parent (the recovery test reads the weights alone).
METRIC_SEQUENCES = 256
#: The timings, the table's only columns that differ between two sweeps of one grid and seeds on one machine.
TIMING_COLUMNS = ("wall_time_s", "train_time_s")


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its identity (``id``, also its history's file name), its settings, its seed and the
    resolved :class:`~causal_tutorial.experiments.RunSpec`."""

    id: str
    settings: dict
    seed: int
    spec: RunSpec

    @property
    def group(self) -> tuple:
        """What the runs of one group share (shapes and training settings)."""
        return (self.spec.experiment.S, self.spec.experiment.T, self.spec.train.steps, self.spec.train.lr)


def _values(name: str, values) -> list:
    kind = SETTINGS[name]
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if not values:
        raise ValueError(f"grid setting {name!r} is an empty list; give at least one value")
    out = []
    for v in values:
        if kind is str:
            if not isinstance(v, str):
                raise ValueError(f"grid setting {name!r} takes names, got {v!r}")
        elif kind is int:
            if isinstance(v, bool) or not isinstance(v, int) and not (isinstance(v, float) and v.is_integer()):
                raise ValueError(f"grid setting {name!r} takes integers, got {v!r}")
            v = int(v)
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"grid setting {name!r} takes finite numbers, got {v!r}")
            v = float(v)
        out.append(v)
    if len(set(out)) != len(out):
        raise ValueError(f"grid setting {name!r} repeats a value: {values!r}")
    return out


def _seed_list(seeds) -> list[int]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        return list(range(check_positive_int("seeds", seeds, "the number of seeds of every grid point")))
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a positive int or a list of distinct ints, got {seeds!r}")
    return seeds


def _run_id(settings: dict, seed: int) -> str:
    """A run's name, also its history's file name: ``family…-S…-…-seed…``, floats written short (``%g``)."""
    parts = [f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}" for k, v in settings.items()]
    return "-".join([*parts, f"seed{seed}"])


def plan(
    grid: dict,
    seeds: int | Sequence[int] = 1,
    base: str = "chain",
    scale: str = "book",
    device: str = "auto",
    bayes_draws: int | None = None,
    train: dict | None = None,
) -> list[SweepRun]:
    """Every run of a sweep, checked and resolved; nothing trains. ``grid`` maps settings (:data:`SETTINGS`) to a
    value or a list of values; the settings it leaves out keep the base experiment's values at ``scale``. ``train``
    replaces other training settings of the scale for every run (e.g. ``{"optimizer": "sgd", "batch_size": 256}``;
    the names of :data:`causal_tutorial.experiments.OVERRIDABLE` but ``steps`` and ``lr``, which the grid sets). A
    ``random`` or ``forest`` family draws a new graph for every seed (graph number = seed)."""
    if base not in BASES:
        raise ValueError(f"base must be one of {BASES} (a single-parent experiment), got {base!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if not isinstance(grid, dict):
        raise ValueError(f"grid must be a dict of settings to values, got {type(grid).__name__}")
    unknown = sorted(set(grid) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown grid setting(s) {unknown}; a sweep may vary {list(SETTINGS)}")
    fixed = dict(train or {})
    unknown = sorted(set(fixed) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"train may set only {OVERRIDABLE}, got {unknown}")
    clash = sorted(set(fixed) & {"steps", "lr"})
    if clash:
        raise ValueError(f"train may not set {clash}: the grid sets them (give them as grid settings)")
    exp = get_experiment(base)
    cfg = {**exp.scales[scale], **fixed}
    defaults = {
        "alpha": exp.alpha,
        "S": exp.S,
        "T": exp.T,
        "family": exp.family,
        "steps": cfg["steps"],
        "lr": cfg["lr"],
    }
    axes = {name: (_values(name, grid[name]) if name in grid else [defaults[name]]) for name in SETTINGS}
    for fam in axes["family"]:
        if fam not in (*FAMILIES, "small"):
            raise ValueError(f"grid setting 'family' must name one of {(*FAMILIES, 'small')}, got {fam!r}")
    seed_list = _seed_list(seeds)
    runs = []
    for values in itertools.product(*axes.values()):
        settings = dict(zip(SETTINGS, values))
        point = replace(exp, alpha=settings["alpha"], S=settings["S"], T=settings["T"], family=settings["family"])
        eval_every = min(cfg["eval_every"], settings["steps"])
        overrides = {**fixed, "steps": settings["steps"], "lr": settings["lr"], "eval_every": eval_every}
        for seed in seed_list:
            try:
                spec = resolve(point, scale, seed, device, bayes_draws=bayes_draws, train_overrides=overrides)
                graph = seed if settings["family"] in ("random", "forest") else 0
                spec = replace(spec, graphs=(graph,))
                spec.task()  # the task checks S, T, alpha and the family here, before anything trains
            except ValueError as err:
                shown = ", ".join(f"{k}={v!r}" for k, v in settings.items() if k in grid)
                raise ValueError(f"the grid point {shown or '(the base)'} is refused: {err}") from None
            runs.append(SweepRun(_run_id(settings, seed), settings, seed, spec))
    return runs


def groups(runs: Sequence[SweepRun]) -> list[list[SweepRun]]:
    """The runs in groups that train as one stacked run (the same ``S``, ``T``, ``steps`` and ``lr``), in plan
    order."""
    out: dict[tuple, list[SweepRun]] = {}
    for r in runs:
        out.setdefault(r.group, []).append(r)
    return list(out.values())


def _first_recovery(history: list[dict]) -> float:
    """The first evaluation step at which every child row's argmax is its parent (``nan`` if never)."""
    return next((float(rec["step"]) for rec in history if rec.get("parent_recovered") == 1.0), float("nan"))


def _margins(tasks: dict[str, tuple]) -> dict[str, tuple[float, float]]:
    out = {}
    for key, (parents, S, alpha, device) in tasks.items():
        mi = chi2_mutual_information(parents, S, alpha, MARGIN_DRAWS, make_generator(MARGIN_SEED, device), device)
        out[key] = (mi.margin(), mi.edge_information())
    return out


def _row(run: SweepRun, part: dict, wall: float, margin: tuple[float, float]) -> dict:
    spec, base, final = run.spec, part["baselines"], part["final"]
    parents = part["task"]["parents"]
    children = [i for i, p in enumerate(parents) if p >= 0]
    picked = part["recovered_parents"]
    return {
        "run_id": run.id,
        "base": spec.name,
        "scale": spec.scale,
        **run.settings,
        "seed": run.seed,
        "graph": spec.graphs[0],
        "parents": " ".join(map(str, parents)),
        "optimizer": spec.train.optimizer,
        "batch_size": spec.train.batch_size,
        "device": str(spec.device),
        "wall_time_s": wall,
        "train_time_s": part["train_time_s"],
        "test_loss": final["test_loss"],
        "estimator": base["estimator"],
        "estimator_roots_counted": base["estimator_roots_counted"],
        "bayes": base["bayes"],
        "readout_floor": base["readout_floor"],
        "uniform": base["uniform"],
        "gap_to_estimator": part["gap_to_estimator"],
        "attn_on_parent": final["attn_on_parent"],
        "block_attn_on_parent": part["block_attn_on_parent"],
        "rows_recovered": sum(picked[i] == parents[i] for i in children) / max(1, len(children)),
        "parent_recovered": final["parent_recovered"],
        "recovered_at_step": _first_recovery(part["history"]),
        "margin": margin[0],
        "edge_chi2": margin[1],
    }


def train_group(
    runs: Sequence[SweepRun],
    threads: int | None = None,
    checkpoint: str | Path | None = None,
    progress: bool | None = False,
) -> tuple[list[dict], dict[str, list]]:
    """Train one group as one stacked run; returns its table rows and each run's history (by run id). What the
    local engine runs in-process and the Ray engine in a worker (``threads``: torch's intra-op threads there, so a
    worker computes exactly what the driver would)."""
    if threads is not None:
        torch.set_num_threads(threads)
    runs = list(runs)
    t0 = time.perf_counter()
    first = runs[0].settings
    desc = f"S={first['S']} T={first['T']} steps={first['steps']} lr={first['lr']:g}: {len(runs)} runs stacked"
    metrics = partial(parent_metrics, n_sequences=METRIC_SEQUENCES)
    parts = train_together(
        [r.spec for r in runs], progress=progress, metrics=metrics, checkpoint=checkpoint, resume=True, desc=desc
    )
    keys = {repr(p["task"]): (tuple(p["task"]["parents"]), p["task"]["S"], p["task"]["alpha"], r.spec.device)
            for r, p in zip(runs, parts)}  # fmt: skip
    margins = _margins(keys)
    wall = (time.perf_counter() - t0) / len(runs)
    rows = [_row(r, p, wall, margins[repr(p["task"])]) for r, p in zip(runs, parts)]
    return rows, {r.id: p["history"] for r, p in zip(runs, parts)}


def _manifest(base: str, scale: str, bayes_draws: int | None, train: dict | None) -> dict:
    return {"base": base, "scale": scale, "bayes_draws": bayes_draws, "train": dict(train or {}),
            "causal_tutorial": __version__}  # fmt: skip


def read_sweep(out: str | Path) -> pd.DataFrame:
    """The table of a sweep written under ``out`` (``OUT/sweep.csv``), one row per finished run."""
    path = Path(out) / "sweep.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no sweep table at {path}")
    return pd.read_csv(path)


def _local(todo: list[list[SweepRun]], out_dir: Path | None) -> Callable:
    def run():
        for group in todo:
            ck = None
            if out_dir is not None:
                digest = hashlib.sha1("\n".join(r.id for r in group).encode()).hexdigest()[:16]
                ck = out_dir / "checkpoints" / f"group_{digest}.pt"
            yield group, train_group(group, checkpoint=ck, progress=False), ck

    return run


def _ray(todo: list[list[SweepRun]], address: str | None) -> Callable:
    def run():
        import ray

        started = not ray.is_initialized()
        if started:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            gpus = ray.cluster_resources().get("GPU", 0)
            threads = torch.get_num_threads()
            cpus = 0 if gpus else min(threads, int(ray.cluster_resources().get("CPU", 1)))
            task = ray.remote(num_gpus=1 if gpus else 0, num_cpus=cpus)(train_group)
            pending = {task.remote(group, threads if not gpus else None): group for group in todo}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                group = pending.pop(done[0])
                yield group, ray.get(done[0]), None
        finally:
            if started:
                ray.shutdown()

    return run


def sweep(
    grid: dict,
    seeds: int | Sequence[int] = 1,
    base: str = "chain",
    scale: str = "book",
    out: str | Path | None = None,
    engine: str = "local",
    address: str | None = None,
    device: str = "auto",
    bayes_draws: int | None = None,
    train: dict | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Run a sweep (see the module's docstring) and return its table, one row per run in plan order.

    ``train``: training settings replaced for every run (:func:`plan`). ``out``: where the table (``sweep.csv``),
    the histories (``histories/``) and a manifest (``sweep.json``: base, scale, Bayes draws, ``train``, edition,
    device) go; a second call on the same ``out`` trains only the runs its table lacks and refuses a manifest of
    another base, scale, ``train`` or edition. ``engine="ray"`` trains the groups as Ray tasks on the cluster at
    ``address`` (default: a local one, started and stopped here; an instance already initialised is used as it
    is); its table equals the local engine's for the same grid and seeds, timings aside (:data:`TIMING_COLUMNS`).
    ``progress``: a bar over runs (default: on, except under CI)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if address is not None and engine != "ray":
        raise ValueError("address names a Ray cluster: give it with engine='ray'")
    runs = plan(grid, seeds, base, scale, device, bayes_draws, train)
    out_dir = None if out is None else check_output_dir(out)
    done: dict[str, dict] = {}
    histories: dict[str, list] = {}
    manifest = _manifest(base, scale, bayes_draws, train)
    if out_dir is not None:
        mpath = out_dir / "sweep.json"
        if mpath.is_file():
            kept = json.loads(mpath.read_text())
            if {k: kept.get(k) for k in manifest} != manifest:
                raise ValueError(f"out={str(out)!r} holds a sweep of another setting ({kept}); use another out")
        if (out_dir / "sweep.csv").is_file():
            done = {row["run_id"]: row for row in read_sweep(out_dir).to_dict("records")}
    todo = groups([r for r in runs if r.id not in done])
    initial = sum(r.id in done for r in runs)
    bar = progress_bar(len(runs), initial, f"sweep of {len(runs)} runs", progress_enabled(progress))
    gen = _local(todo, out_dir) if engine == "local" else _ray(todo, address)
    with contextlib.closing(bar):
        for group, (rows, hist), ck in gen():
            done.update({row["run_id"]: row for row in rows})
            histories.update(hist)
            if out_dir is not None:
                _write(out_dir, runs, done, hist, manifest)
                if ck is not None:
                    ck.unlink(missing_ok=True)
            bar.update(len(group))
    return pd.DataFrame([done[r.id] for r in runs if r.id in done])


def _write(out_dir: Path, runs: list[SweepRun], done: dict, hist: dict, manifest: dict) -> None:
    (out_dir / "histories").mkdir(parents=True, exist_ok=True)
    for run_id, history in hist.items():
        atomic_write_json(history, out_dir / "histories" / f"{run_id}.json")
    planned = {r.id for r in runs}
    order = [r.id for r in runs] + sorted(k for k in done if k not in planned)  # rows of earlier grids stay
    table = pd.DataFrame([done[k] for k in order if k in done])
    atomic_write_text(table.to_csv(index=False), out_dir / "sweep.csv")
    device = runs[0].spec.device
    atomic_write_json({**manifest, "device": str(device), "device_name": device_name(device)}, out_dir / "sweep.json")


# --- reading a sweep's table (chapter 10) ------------------------------------------------------------------------
#: The columns :func:`over_seeds` averages.
SUMMARY_COLUMNS = ("parent_recovered", "rows_recovered", "attn_on_parent", "gap_to_estimator", "margin")


def over_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """One row per setting (family, S, T, α, steps, lr): the number of seeds, the mean of :data:`SUMMARY_COLUMNS`
    over them (``parent_recovered``'s mean is the fraction of seeds that recovered the graph), the sd (ddof 0) of the
    attention on the parent, and the median step of first recovery among the seeds that recovered."""
    keys = ["family", "S", "T", "alpha", "steps", "lr"]
    g = table.groupby(keys)
    out = g[list(SUMMARY_COLUMNS)].mean()
    out.insert(0, "seeds", g.size())
    out["attn_on_parent_sd"] = g["attn_on_parent"].std(ddof=0)
    out["recovered_at_step_median"] = g["recovered_at_step"].median()
    return out.reset_index()


def margin_vs_recovery(table: pd.DataFrame, by: Sequence[str] = ("family", "S"), per: str | None = None) -> pd.Series:
    """How well the theory's margin orders the runs by how soon they recovered the graph: the Spearman rank
    correlation, within each group of ``by``, between the margin (divided by the column ``per``, if given, e.g.
    ``"S"``) and the step of first recovery, a run that never recovered ranked after every run that did (it would
    recover later, if at all). Negative: a larger margin, an earlier recovery. ``by=()`` pools every run."""
    df = table.copy()
    margin = df["margin"] / (df[per] if per else 1.0)
    never = df["recovered_at_step"].isna()
    steps = df["recovered_at_step"].where(~never, df["steps"].max() * 10.0)  # after any recovery

    def rho(index) -> float:
        a, b = margin.loc[index].rank(), steps.loc[index].rank()
        return float(a.corr(b)) if a.nunique() > 1 and b.nunique() > 1 else float("nan")

    if not by:
        return pd.Series({"all runs": rho(df.index)}, name="spearman")
    return df.groupby(list(by)).apply(lambda part: rho(part.index), include_groups=False).rename("spearman")


def discordance(table: pd.DataFrame, within: Sequence[str]) -> tuple[float, int]:
    """How often the theory's margin orders two settings the wrong way: over the pairs of settings
    (:func:`over_seeds`) that share the columns ``within`` and whose recovery differs, the fraction in which the
    setting with the larger margin recovered *later* (its median recovery step, a setting where no seed recovered
    counting as never); returns ``(fraction, pairs)``. ``within=("family", "S")`` compares α within one vocabulary,
    ``("family", "alpha")`` vocabularies, ``("S", "alpha")`` the graph families."""
    summary = over_seeds(table)
    late = summary["recovered_at_step_median"].fillna(math.inf)
    late = late.where(summary["parent_recovered"] > 0, math.inf)
    wrong = pairs = 0
    for _, part in summary.groupby(list(within)):
        idx = list(part.index)
        for a, b in itertools.combinations(idx, 2):
            if late[a] == late[b] or summary.at[a, "margin"] == summary.at[b, "margin"]:
                continue
            pairs += 1
            bigger, smaller = (a, b) if summary.at[a, "margin"] > summary.at[b, "margin"] else (b, a)
            wrong += late[bigger] > late[smaller]
    return (float(wrong / pairs) if pairs else float("nan")), pairs
