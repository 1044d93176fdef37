"""Each paper figure as a named experiment at three scales (``test``, ``book``, ``paper``).

``paper`` is exactly the setting of the paper and its research code (its hyper-parameters); ``book``
runs in about a minute on a 2-core CPU and still shows the phenomenon; ``test`` runs in seconds
for pytest. ``python -m causal_tutorial list`` prints them; ``run_experiment`` runs one and
writes ``OUT/NAME/result.json`` plus figures. Chapters 4, 6, 7 and 8 call these.
"""

from __future__ import annotations

import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .analysis import (
    attention_by_position,
    block_attention_on_parent,
    curve_over_graphs,
    parent_metrics,
    position_block,
    recovered_parents,
    rows_on_parent_slot,
    spread_over_graphs,
)
from .checks import check_positive_int, make_generator, resolve_device
from .estimators import baseline_losses
from .graphs import make_parents, multi_parent_dag, random_forest
from .io import atomic_write_json, check_output_dir
from .models import DisentangledTransformer, StandardTransformer
from .stacked import SeedsTask, StackedTask, stacked_metrics
from .tasks import MultiParentTask, SingleParentTask
from .training import TrainConfig, draw_test_set, train

__all__ = [
    "EXPERIMENTS",
    "SCALES",
    "OVERRIDABLE",
    "Experiment",
    "get_experiment",
    "run_experiment",
    "RunSpec",
    "resolve",
    "run_spec",
    "device_name",
    "train_together",
    "run_config",
    "paper_config",
    "list_experiments",
    "build_task",
    "build_model",
    "baseline_generator",
]

SCALES = ("test", "book", "paper")
#: How many checkpoints a run writes when it has an output directory (about; every ``steps // 32`` steps).
CHECKPOINTS_PER_RUN = 32
#: The training settings that ``run_experiment(..., train_overrides=...)`` may replace.
OVERRIDABLE = ("steps", "batch_size", "optimizer", "lr", "schedule", "weight_decay", "eval_every", "test_size")

#: A model's random initial weights are drawn with ``seed + MODEL_SEED_OFFSET``, so that they never come
#: from the same random stream as the training batches, which are drawn with ``seed`` itself.
MODEL_SEED_OFFSET = 777
#: The baselines' own randomness (the Bayes predictor's importance draws) uses ``test_seed + 1``.
BASELINE_SEED_OFFSET = 1


@dataclass(frozen=True)
class Experiment:
    """A named experiment: the task, the model and the training settings at each scale."""

    name: str
    figure: str
    description: str
    family: str  # chain | icl | random | multi | forest
    S: int
    T: int
    model: str  # disentangled | standard
    heads: tuple[int, ...] = (1, 1)
    init_std: float = 0.0
    alpha: float = 0.1
    d: int = 30
    n_graphs: int = 1
    root_law: str = "uniform"  # multi-parent roots: uniform | dirichlet (the research code's)
    stacked: bool = False  # train the graphs as one stacked model (causal_tutorial.stacked)
    scales: dict = field(default_factory=dict)  # scale -> TrainConfig kwargs
    bayes_draws: dict = field(default_factory=lambda: {"test": 16, "book": 128, "paper": 512})

    def config(self, scale: str, seed: int = 0, device: str = "auto", **overrides) -> TrainConfig:
        """The training settings at ``scale``, with ``overrides`` replacing some of them."""
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        return TrainConfig(seed=seed, device=device, **{**self.scales[scale], **overrides})


# --- the paper's settings and our smaller scales ---------------------------
_TEST = dict(steps=30, batch_size=256, eval_every=10, test_size=512)
_SINGLE_PAPER = dict(
    steps=2**17,
    batch_size=1024,
    optimizer="sgd",
    lr=1.0,
    schedule="cosine",
    weight_decay=0.0,
    eval_every=2**10,
    test_size=2**16,
)
# Book scale: the paper's SGD needs ~10^5 steps from a zero init; AdamW finds the same circuit in
# ~10^3 steps, which fits a laptop minute. Chapter 4 says so and shows the paper-scale SGD run.
_SINGLE_BOOK = dict(
    steps=1200,
    batch_size=1024,
    optimizer="adamw",
    lr=0.03,
    schedule="cosine",
    weight_decay=0.0,
    eval_every=50,
    test_size=2**13,
)
_SINGLE_TEST = dict(_TEST, optimizer="adamw", lr=0.03)


def _single(name: str, family: str) -> Experiment:
    return Experiment(
        name=name,
        figure="Fig. 2, 6",
        family=family,
        S=10,
        T=20,
        model="disentangled",
        heads=(1, 1),
        description=f"single parent, {family} graph: layer 1 learns the graph (S=10, T=20, alpha=0.1)",
        scales={"test": _SINGLE_TEST, "book": _SINGLE_BOOK, "paper": _SINGLE_PAPER},
    )


#: Every figure of the paper as a named experiment, each at three scales (``python -m causal_tutorial list``).
EXPERIMENTS: dict[str, Experiment] = {
    "chain": _single("chain", "chain"),
    "icl": _single("icl", "icl"),
    "random": _single("random", "random"),
    "small_tree": Experiment(
        name="small_tree",
        figure="research code's extra example",
        family="small",
        S=3,
        T=6,
        model="disentangled",
        description="the research code's small tree (S=3, T=6, parents -1 0 0 1 2)",
        # Book scale: SGD as in the paper, a shorter run; AdamW's shortcut (the other single-parent
        # experiments' book setting) does not find the parent here (chapter 6 measures it).
        scales={
            "test": _SINGLE_TEST,
            "book": dict(
                steps=2000,
                batch_size=256,
                optimizer="sgd",
                lr=1.0,
                schedule="constant",
                weight_decay=0.0,
                eval_every=100,
                test_size=2**12,
            ),
            "paper": _SINGLE_PAPER,
        },
    ),
    "multiparent": Experiment(
        name="multiparent",
        figure="Fig. 5, 7",
        family="multi",
        S=5,
        T=32,
        model="disentangled",
        heads=(2, 1),
        init_std=1e-4,
        root_law="dirichlet",
        description="two parents per position: each layer-1 head learns one parent (S=5, T=32); "
        "roots from a shared Dirichlet draw, as in the research code",
        scales={
            "test": dict(_TEST, optimizer="adamw", lr=1e-2, weight_decay=1e-4),
            # The drop comes after ~2M sequences whatever the rate; 2048 × 2e-2 constant reaches it in
            # ~1100 steps, and the run stops soon after (chapter 7 says what changed and why).
            "book": dict(
                steps=1400,
                batch_size=2048,
                optimizer="adamw",
                lr=2e-2,
                schedule="constant",
                weight_decay=1e-4,
                eval_every=50,
                test_size=2**13,
            ),
            "paper": dict(
                steps=2**16,
                batch_size=1024,
                optimizer="adamw",
                lr=1e-2,
                schedule="cosine",
                weight_decay=1e-4,
                eval_every=2**9,
                test_size=2**16,
            ),
        },
    ),
    "standard": Experiment(
        name="standard",
        figure="Fig. 8",
        family="chain",
        S=10,
        T=20,
        model="standard",
        d=30,
        description="a standard transformer (embeddings, values, MLPs) on the Markov chain (S=10, T=20, d=30)",
        scales={
            "test": dict(_TEST, optimizer="adamw", lr=1e-2, weight_decay=2e-4),
            # Book scale: a 5x shorter run than the paper's (and half its batch), so that chapter 8
            # fits its 3-minute budget: on a CPU a step of this model costs several of the disentangled one's.
            "book": dict(
                steps=800,
                batch_size=512,
                optimizer="adamw",
                lr=1e-2,
                schedule="cosine",
                weight_decay=2e-4,
                eval_every=100,
                test_size=2**13,
            ),
            "paper": dict(
                steps=2**12,
                batch_size=1024,
                optimizer="adamw",
                lr=1e-2,
                schedule="cosine",
                weight_decay=2e-4,
                eval_every=2**7,
                test_size=2**16,
            ),
        },
    ),
    "forests": Experiment(
        name="forests",
        figure="Fig. 9",
        family="forest",
        S=3,
        T=20,
        model="disentangled",
        n_graphs=20,
        stacked=True,
        description="20 random forests (S=3, T=20): mean layer-1 attention on the true parent",
        scales={
            "test": dict(steps=20, batch_size=128, optimizer="adamw", lr=0.03, eval_every=10, test_size=256),
            # Book scale: the paper's SGD at a constant step, 16x fewer steps of a 4x smaller batch
            # and a 3x larger step size (chapter 6 trains 10 of the 20 graphs at this scale).
            "book": dict(
                steps=1000,
                batch_size=256,
                optimizer="sgd",
                lr=3.0,
                schedule="constant",
                eval_every=100,
                test_size=2**11,
            ),
            "paper": dict(
                steps=2**14,
                batch_size=1024,
                optimizer="sgd",
                lr=1.0,
                schedule="constant",
                eval_every=2**10,
                test_size=2**16,
            ),
        },
        bayes_draws={"test": 8, "book": 32, "paper": 128},
    ),
}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def list_experiments() -> list[dict]:
    """One row per experiment and scale: name, figure, steps × batch, optimiser."""
    rows = []
    for e in EXPERIMENTS.values():
        for s in SCALES:
            c = e.scales[s]
            rows.append(
                {
                    "name": e.name,
                    "figure": e.figure,
                    "scale": s,
                    "steps": c["steps"],
                    "batch": c["batch_size"],
                    "optimizer": c["optimizer"],
                    "lr": c["lr"],
                    "graphs": e.n_graphs,
                    "description": e.description,
                }
            )
    return rows


def build_task(exp: Experiment, device, graph_seed: int = 0):
    """The task of an experiment (for ``forests``, graph number ``graph_seed``)."""
    if exp.family == "multi":
        return MultiParentTask(exp.S, exp.T, multi_parent_dag(exp.T), exp.alpha, device, root_law=exp.root_law)
    if exp.family == "forest":
        parents = random_forest(exp.T, seed=graph_seed)
    else:
        parents = make_parents(exp.family, exp.T, seed=graph_seed)
    return SingleParentTask(exp.S, exp.T, parents, exp.alpha, device)


def build_model(exp: Experiment, seed: int = 0):
    """The model of an experiment, its random initial weights (if any) seeded by ``seed + MODEL_SEED_OFFSET``."""
    g = make_generator(int(seed) + MODEL_SEED_OFFSET)
    if exp.model == "standard":
        return StandardTransformer(exp.S, exp.T, d=exp.d, generator=g)
    return DisentangledTransformer(exp.S, exp.T, exp.heads, init_std=exp.init_std, generator=g)


def baseline_generator(cfg: TrainConfig, device) -> torch.Generator:
    """The generator of the baselines' importance draws on a run's test set (``test_seed + 1``)."""
    return make_generator(cfg.test_seed + BASELINE_SEED_OFFSET, device)


def _versions() -> dict:
    return {
        "causal_tutorial": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def run_config(exp: Experiment, cfg: TrainConfig, n_graphs: int, bayes_draws: int) -> dict:
    """The ``config`` a result file records: the training settings and the experiment's own. A test
    compares each kept paper-scale result's with :func:`paper_config`, so a stale result cannot hide."""
    return {
        "train": cfg.to_dict(),
        "family": exp.family,
        "S": exp.S,
        "T": exp.T,
        "alpha": exp.alpha,
        "model": exp.model,
        "heads": list(exp.heads),
        "init_std": exp.init_std,
        "d": exp.d,
        "n_graphs": n_graphs,
        "root_law": exp.root_law,
        "bayes_draws": bayes_draws,
    }


def paper_config(name: str, seed: int = 0, device: str = "cpu") -> dict:
    """The configuration a paper-scale run of ``name`` records today (for ``device``)."""
    exp = get_experiment(name)
    return run_config(exp, exp.config("paper", seed, device), exp.n_graphs, exp.bayes_draws["paper"])


def _git_commit() -> str | None:
    """The commit of the code that runs (with ``+dirty`` when the package has uncommitted changes), or
    ``None`` outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True, text=True, timeout=10
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_name(device: torch.device) -> str:
    """The device in words: the GPU's name, or the CPU's with torch's thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


# --- one run specification, resolved once -------------------------------------------------------
@dataclass(frozen=True)
class RunSpec:
    """An experiment resolved once (by :func:`resolve`): every setting a run needs, checked, and nothing else.

    ``seeds``: one seed, or several trained as one model with a run axis; ``graphs``: the graph numbers trained
    (``forests``: 0 … n_graphs-1; one graph otherwise); ``stacked``: whether those graphs train as one model;
    ``train``: the training settings of the first run (seed ``seeds[0]``); ``overrides``: the entries of the
    scale's settings that were replaced. :func:`run_spec` runs it, :func:`run_experiment` resolves and runs.
    """

    experiment: Experiment
    scale: str
    seeds: tuple[int, ...]
    graphs: tuple[int, ...]
    stacked: bool
    device: torch.device
    train: TrainConfig
    bayes_draws: int
    overrides: tuple[tuple[str, object], ...] = ()

    @property
    def name(self) -> str:
        return self.experiment.name

    @property
    def seed(self) -> int:
        return self.seeds[0]

    def task(self, graph: int | None = None):
        """Graph ``graph``'s task (default: the first of ``graphs``), on the run's device."""
        return build_task(self.experiment, self.device, self.graphs[0] if graph is None else graph)

    def model(self, seed: int | None = None):
        """A fresh model for ``seed`` (default: the first), its random initial weights (if any) seeded as
        :func:`build_model` does."""
        return build_model(self.experiment, self.seed if seed is None else seed)

    def config(self, seed: int | None = None) -> TrainConfig:
        """The training settings of the run with ``seed`` (default: the first)."""
        return self.train if seed is None else replace(self.train, seed=seed)

    def record(self, seed: int | None = None) -> dict:
        """The ``config`` a result file records (:func:`run_config`)."""
        return run_config(self.experiment, self.config(seed), len(self.graphs), self.bayes_draws)


def resolve(
    name: str | Experiment,
    scale: str = "book",
    seed: int = 0,
    device: str | torch.device = "auto",
    n_graphs: int | None = None,
    bayes_draws: int | None = None,
    train_overrides: dict | None = None,
    stacked: bool | None = None,
    seeds: int | None = None,
) -> RunSpec:
    """Check every setting of a run of experiment ``name`` and resolve it into a :class:`RunSpec` (the arguments
    are :func:`run_experiment`'s; ``name`` may also be an :class:`Experiment` itself, e.g. one with another ``α``:
    ``dataclasses.replace(get_experiment("chain"), alpha=1.0)``). Every error names the argument and the rule, before
    any work starts."""
    exp = name if isinstance(name, Experiment) else get_experiment(name)
    name = exp.name
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if n_graphs is None:
        n_graphs = exp.n_graphs
    elif isinstance(n_graphs, bool) or not isinstance(n_graphs, int) or not 1 <= n_graphs <= exp.n_graphs:
        raise ValueError(f"n_graphs must be an int in 1 … {exp.n_graphs} for {name!r}, got n_graphs={n_graphs!r}")
    if bayes_draws is None:
        bayes_draws = exp.bayes_draws[scale]
    else:
        bayes_draws = check_positive_int("bayes_draws", bayes_draws, "importance draws of the Bayes floor")
    if stacked is None:
        stacked = exp.stacked
    elif not isinstance(stacked, bool):
        raise ValueError(f"stacked must be True, False or None, got stacked={stacked!r}")
    if stacked and exp.n_graphs == 1:
        raise ValueError(f"stacked=True needs a many-graph experiment; {name!r} has one graph")
    if stacked and exp.family == "multi":
        raise ValueError(f"stacked=True needs single-parent graphs; {name!r} is multi-parent")
    n_seeds = 1
    if seeds is not None:
        n_seeds = check_positive_int("seeds", seeds, "the number of seeds trained as one stacked run")
        if exp.n_graphs > 1:
            raise ValueError(f"seeds applies to one-graph experiments; {name!r} has {exp.n_graphs} graphs")
    overrides = dict(train_overrides or {})
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"train_overrides may set only {OVERRIDABLE}, got {unknown}")
    dev = resolve_device(device)
    cfg = exp.config(scale, seed, str(dev), **overrides)
    return RunSpec(
        experiment=exp,
        scale=scale,
        seeds=tuple(range(seed, seed + n_seeds)),
        graphs=tuple(range(n_graphs)),
        stacked=stacked,
        device=dev,
        train=cfg,
        bayes_draws=bayes_draws,
        overrides=tuple(sorted(overrides.items())),
    )


def run_experiment(
    name: str,
    scale: str = "book",
    seed: int = 0,
    device: str = "auto",
    out: str | Path | None = None,
    progress: bool | None = None,
    figures: bool = True,
    n_graphs: int | None = None,
    bayes_draws: int | None = None,
    train_overrides: dict | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    stacked: bool | None = None,
    seeds: int | None = None,
    metrics: Callable | None = None,
    callback: Callable | None = None,
) -> dict:
    """Run a named experiment; with ``out`` write ``out/NAME/result.json`` (atomically) and figures.

    ``n_graphs`` trains only the first graphs of a many-graph experiment (``forests``; default all
    of them); ``bayes_draws`` overrides the Bayes floor's number of importance draws (default: the
    experiment's for the scale); ``train_overrides`` replaces entries of the scale's training settings
    (``TrainConfig`` fields, e.g. ``{"optimizer": "sgd", "lr": 10.0}``). All three are recorded in the
    result's configuration. With ``out``, each run checkpoints under ``out/NAME/`` about
    ``CHECKPOINTS_PER_RUN`` times; ``seeds=R`` trains the seeds ``seed, seed+1, …, seed+R-1`` of any one-graph
    experiment as one model with a run axis (each equal to its separate run to float rounding) and returns
    ``{"runs": [one result per seed], "over_seeds": mean ± sd of the final numbers}``, written as
    ``out/NAME/seed_K/result.json`` and ``out/NAME/seeds.json``; ``resume=True`` continues from those checkpoints
    (a run without one starts afresh) and ends with exactly the result of an uninterrupted run on the same device;
    the result says at which step each run was resumed (``resumed_at_step``, ``None`` if it was not).
    ``stop_after`` stops every run after that many steps (to simulate an interruption; no result file
    is written then). ``stacked`` trains a many-graph experiment's graphs as one model with a run axis
    (the same runs to float rounding, faster; one checkpoint ``checkpoint.pt``); by default as the experiment
    says (``forests``: stacked). ``metrics(task)`` gives a run's evaluation callback (default
    :func:`~causal_tutorial.analysis.parent_metrics`) and ``callback(step, model, record)`` is called after every
    evaluation (see :func:`~causal_tutorial.training.train`; with a run axis the model holds every run).
    Every argument is checked before any work starts (:func:`resolve`; :func:`run_spec` runs the result).
    Returns the result dictionary (plus the trained model under ``"model"``, or ``"models"`` for ``forests``;
    these are not written).
    """
    spec = resolve(name, scale, seed, device, n_graphs, bayes_draws, train_overrides, stacked, seeds)
    return run_spec(spec, out, progress, figures, resume, stop_after, metrics, callback)


def run_spec(
    spec: RunSpec,
    out: str | Path | None = None,
    progress: bool | None = None,
    figures: bool = True,
    resume: bool = False,
    stop_after: int | None = None,
    metrics: Callable | None = None,
    callback: Callable | None = None,
) -> dict:
    """Run a resolved :class:`RunSpec` (the other arguments are :func:`run_experiment`'s)."""
    if not isinstance(spec, RunSpec):
        raise TypeError(f"spec must be a RunSpec (from resolve), got {type(spec).__name__}")
    out_dir = None
    if out is not None:
        check_output_dir(out)
        out_dir = check_output_dir(Path(out) / spec.name)
    if stop_after is not None:
        stop_after = check_positive_int("stop_after", stop_after, "the steps before a simulated interruption")
    job = _Job(spec, out_dir, progress, resume, stop_after, metrics or parent_metrics, callback)
    t0 = time.perf_counter()
    if len(spec.seeds) > 1:
        return _seeds_result(job, figures, t0)
    exp = spec.experiment
    if spec.stacked:
        tasks = [spec.task(k) for k in spec.graphs]
        desc = f"{spec.name} [{spec.scale}] {len(tasks)} graphs stacked"
        runs = _train_stack(job, StackedTask(tasks), tasks, [spec.seed] * len(tasks), desc, job.checkpoint())
    else:
        runs = []
        for k in spec.graphs:
            desc = f"{spec.name} [{spec.scale}]" + (f" graph {k + 1}/{len(spec.graphs)}" if exp.n_graphs > 1 else "")
            runs.append(_run_one(job, k, desc, job.checkpoint(k if exp.n_graphs > 1 else None)))
    result = {**_result_head(spec, spec.seed), "wall_time_s": time.perf_counter() - t0}
    result["trained_as"] = "stacked" if spec.stacked else "separate"
    models = [r.pop("model") for r in runs]
    if exp.n_graphs == 1:
        result.update(runs[0])
        result["final"] = dict(runs[0]["final"])
    else:
        att_mean, att_sd = spread_over_graphs([r["final"]["attn_on_parent"] for r in runs])
        block_mean, block_sd = spread_over_graphs([r["block_attn_on_parent"] for r in runs])
        result["graphs"] = runs
        result["final"] = {
            "attn_on_parent_mean": att_mean,  # attention paid in test sequences (ours)
            "attn_on_parent_std": att_sd,
            "block_attn_on_parent_mean": block_mean,  # softmax of the position block (the paper's Fig. 9)
            "block_attn_on_parent_std": block_sd,
            "test_loss_mean": float(np.mean([r["final"]["test_loss"] for r in runs])),
        }
        result["attn_by_position"] = curve_over_graphs([r["attn_by_position"] for r in runs])
    if out_dir is not None and stop_after is None:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(result, out_dir / "result.json")
        if figures:
            from .plots import experiment_figures

            experiment_figures(result, out_dir)
    if exp.n_graphs == 1:
        result["model"] = models[0]
    else:
        result["models"] = models
    return result


@dataclass(frozen=True)
class _Job:
    """A :class:`RunSpec` and how this call runs it (where, with what progress, resumed or not, its callbacks)."""

    spec: RunSpec
    out_dir: Path | None
    progress: bool | None
    resume: bool
    stop_after: int | None
    metrics: Callable
    callback: Callable | None

    def checkpoint(self, graph: int | None = None) -> Path | None:
        if self.out_dir is None:
            return None
        return self.out_dir / ("checkpoint.pt" if graph is None else f"checkpoint_graph{graph}.pt")

    def train(self, model, task, cfg: TrainConfig, test, checkpoint: Path | None, metrics, desc: str) -> tuple:
        """Train with checkpoints about ``CHECKPOINTS_PER_RUN`` times under ``checkpoint`` (if given), resuming from
        it when asked and present; returns ``(result, train seconds, step resumed at or None)``."""
        if checkpoint is not None:
            cfg = replace(cfg, checkpoint_every=max(1, cfg.steps // CHECKPOINTS_PER_RUN))
        resumed_at = None
        if self.resume and checkpoint is not None and checkpoint.is_file():
            resumed_at = int(torch.load(checkpoint, map_location="cpu", weights_only=True)["step"])
        t0 = time.perf_counter()
        res = train(
            model,
            task,
            cfg,
            test_set=test,
            checkpoint_path=checkpoint,
            resume=resumed_at is not None,
            stop_after=self.stop_after,
            metrics=metrics,
            progress=self.progress,
            desc=desc,
            callback=self.callback,
        )
        return res, time.perf_counter() - t0, resumed_at


def _run_one(job: _Job, graph: int, desc: str, checkpoint: Path | None) -> dict:
    spec = job.spec
    task, model, cfg = spec.task(graph), spec.model(), spec.config()
    test = draw_test_set(task, cfg, spec.device)
    res, train_time, resumed_at = job.train(model, task, cfg, test, checkpoint, job.metrics(task), desc)
    return _summarise(spec, cfg, task, model, test, res.history, train_time, resumed_at)


def _summarise(
    spec: RunSpec,
    cfg: TrainConfig,
    task,
    model,
    test: tuple[torch.Tensor, torch.Tensor],
    history: list[dict],
    train_time: float,
    resumed_at: int | None,
    baselines: dict | None = None,
) -> dict:
    """One trained run's part of the result: history, final metrics, every baseline on its test set (or
    ``baselines``, already computed on the same test set), what layer 1 learned; the model under ``"model"``."""
    exp = spec.experiment
    device = test[0].device
    t1 = time.perf_counter()
    base = baselines or baseline_losses(
        task, test[0], test[1], generator=baseline_generator(cfg, device), bayes_draws=spec.bayes_draws
    )
    out = {
        "task": task.describe(),
        "history": history,
        "final": dict(history[-1]),
        "baselines": base,
        "train_time_s": train_time,
        "resumed_at_step": resumed_at,
        "baseline_time_s": time.perf_counter() - t1,
    }
    if isinstance(model, DisentangledTransformer) and exp.family != "multi":
        block = position_block(model)
        out["A1_position_block"] = block.tolist()
        out["recovered_parents"] = recovered_parents(model)
        out["gap_to_estimator"] = history[-1]["test_loss"] - base["estimator"]
        out["block_attn_on_parent"] = block_attention_on_parent(block, task.parents)
    if exp.family != "multi":
        with torch.no_grad():
            att = model.attention(test[0][:1024])[(1, 0)]
        out["attn_by_position"] = attention_by_position(att, task.parents)
        out["mean_attention"] = att.mean(0).tolist()  # layer 1's mean pattern (T × T), Fig. 8's map
    if isinstance(model, DisentangledTransformer) and exp.family == "multi":
        out["gap_to_estimator"] = history[-1]["test_loss"] - base["estimator"]
        lists = task.parent_lists[: task.T]
        blocks = [position_block(model, h) for h in range(exp.heads[0])]
        out["A1_position_blocks"] = [b.tolist() for b in blocks]  # one per layer-1 head
        out["rows_on_parent_slot"] = [rows_on_parent_slot(b, lists) for b in blocks]  # [head][slot]
        out["child_rows_per_slot"] = [sum(len(ps) > k for ps in lists) for k in range(max(map(len, lists)))]
    out["model"] = model
    return out


def _train_stack(
    job: _Job, stack, tasks: list, seeds: list[int], desc: str, checkpoint: Path | None, specs: list | None = None
) -> list[dict]:
    """Train the runs of ``stack`` (run ``k`` on ``tasks[k]`` with seed ``seeds[k]``, resolved as ``specs[k]``,
    default ``job.spec``; the loop runs with the first run's settings) as one model with a run axis, and split the
    result into each run's part (:func:`_summarise`). Each run starts from its own separate run's initial weights, so
    it equals that run to float rounding. Runs on the same task share its test set and so its baselines."""
    specs = specs or [job.spec] * len(tasks)
    first = specs[0].model(seeds[0])
    model = type(first).stack([first, *(sp.model(s) for sp, s in zip(specs[1:], seeds[1:]))])
    cfg = replace(specs[0].config(seeds[0]), prefetch=False)  # sampling in the loop: the stacked step uses both cores
    test = draw_test_set(stack, cfg, specs[0].device)
    res, seconds, resumed_at = job.train(model, stack, cfg, test, checkpoint, stacked_metrics(stack, job.metrics), desc)
    runs: list[dict] = []
    baselines: dict[str, dict] = {}
    for k, (task, seed, spec) in enumerate(zip(tasks, seeds, specs)):
        history = [{key: (v[k] if isinstance(v, list) else v) for key, v in rec.items()} for rec in res.history]
        run = _summarise(
            spec,
            spec.config(seed),
            task,
            model.unstack(k),
            (test[0][k], test[1][k]),
            history,
            seconds / len(tasks),  # each run's share
            resumed_at,
            baselines=baselines.get(repr(task.describe())),
        )
        baselines.setdefault(repr(task.describe()), run["baselines"])
        runs.append(run)
    return runs


def train_together(
    specs: Sequence[RunSpec],
    progress: bool | None = None,
    metrics: Callable | None = None,
    callback: Callable | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    desc: str = "runs stacked",
) -> list[dict]:
    """Train several one-seed, one-graph runs as one model with a run axis (a sweep's group,
    :mod:`causal_tutorial.sweep`); returns each run's part of a result (history, final numbers, baselines, what
    layer 1 learned, the model under ``"model"``), run ``k`` equal to ``run_spec(specs[k])`` to float rounding.

    The runs may differ in their task (``α``, graph family) and seed, and must share everything that makes one model
    and one loop: ``S``, ``T``, the model and its heads, the device and every training setting but the seed.
    ``checkpoint`` (a file) checkpoints the stack about ``CHECKPOINTS_PER_RUN`` times, and ``resume=True`` continues
    from it when it is there."""
    specs = list(specs)
    if not specs or not all(isinstance(sp, RunSpec) for sp in specs):
        raise TypeError("specs must be a non-empty list of RunSpec (from resolve)")
    first = specs[0]
    shared = lambda sp: (  # noqa: E731 - what the runs of one stack must share
        sp.experiment.model, sp.experiment.heads, sp.experiment.init_std, sp.experiment.d, sp.experiment.S,
        sp.experiment.T, sp.device, replace(sp.train, seed=0), sp.bayes_draws,
    )  # fmt: skip
    for k, sp in enumerate(specs):
        if len(sp.seeds) != 1 or len(sp.graphs) != 1:
            raise ValueError(
                f"specs[{k}] must be one seed of a one-graph run, got seeds {sp.seeds}, graphs {sp.graphs}"
            )
        if shared(sp) != shared(first):
            raise ValueError(
                f"specs[{k}] cannot train with specs[0]: they must share S, T, the model, the device and every "
                "training setting but the seed"
            )
    tasks, seeds = [sp.task() for sp in specs], [sp.seed for sp in specs]
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    job = _Job(first, None, progress, resume, None, metrics or parent_metrics, callback)
    return _train_stack(job, SeedsTask(tasks, seeds), tasks, seeds, desc, path, specs)


def _mean_sd(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "sd": float(np.std(values)), "values": [float(v) for v in values]}


def _result_head(spec: RunSpec, seed: int) -> dict:
    return {
        "experiment": spec.name,
        "figure": spec.experiment.figure,
        "description": spec.experiment.description,
        "scale": spec.scale,
        "seed": seed,
        "device": str(spec.device),
        "device_name": device_name(spec.device),
        "versions": _versions(),
        "git_commit": _git_commit(),
        "config": spec.record(seed),
    }


#: The final numbers averaged over seeds (where a run has them): the key of a run's result, or ``final``'s.
OVER_SEEDS = {
    "test_loss": ("final", "test_loss"),
    "gap_to_estimator": (None, "gap_to_estimator"),
    "attn_on_parent": ("final", "attn_on_parent"),
    "block_attn_on_parent": (None, "block_attn_on_parent"),
    "parent_recovered": ("final", "parent_recovered"),
}


def _seeds_result(job: _Job, figures: bool, t0: float) -> dict:
    """``run_experiment(..., seeds=R)``: the seeds as one model with a run axis, one result per seed (each shaped as
    a separate run's) and the mean ± sd over seeds of the final loss, the gap to the estimator and the attention on
    the parent (where the experiment has them)."""
    spec, seeds, out_dir = job.spec, list(job.spec.seeds), job.out_dir
    desc = f"{spec.name} [{spec.scale}] {len(seeds)} seeds stacked"
    # run k is the separate run with seed seeds[k], to float rounding; the runs share the test set (every separate
    # run draws it from test_seed) and so its baselines
    task = spec.task()
    runs = _train_stack(job, SeedsTask(task, seeds), [task] * len(seeds), seeds, desc, job.checkpoint())
    wall = time.perf_counter() - t0
    results, models = [], []
    for seed, run in zip(seeds, runs):
        models.append(run.pop("model"))
        r = {**_result_head(spec, seed), "wall_time_s": wall / len(seeds)}
        r.update(run, trained_as=f"stacked with seeds {seeds[0]}…{seeds[-1]}", final=dict(run["final"]))
        results.append(r)
    over = {
        key: _mean_sd([(r[where] if where else r)[k] for r in results])
        for key, (where, k) in OVER_SEEDS.items()
        if all(k in (r[where] if where else r) for r in results)
    }
    summary = {
        "experiment": spec.name,
        "scale": spec.scale,
        "seeds": seeds,
        "device": str(spec.device),
        "device_name": device_name(spec.device),
        "wall_time_s": wall,
        "over_seeds": over,
        "sd": "population (ddof 0), over the seeds",
    }
    if out_dir is not None and job.stop_after is None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for seed, r in zip(seeds, results):
            atomic_write_json(r, out_dir / f"seed_{seed}" / "result.json")
            if figures:
                from .plots import experiment_figures

                experiment_figures(r, out_dir / f"seed_{seed}")
        atomic_write_json(summary, out_dir / "seeds.json")
    for r, m in zip(results, models):
        r["model"] = m
    return {**summary, "runs": results}
