"""Numbers read off a model or a circuit: attention on the parents, the learned graph, the circuit's blocks.

Every read-out the book prints about a model lives here; the figures that show them are in
:mod:`causal_tutorial.plots`. Chapter 3 ("The disentangled transformer") reads the hand-built
induction head: the residual stream a layer-2 head reads, the query's layer-2 output, the loss as
``β`` grows and why the softmax read-out cannot count. Chapter 4 ("Training on Markov chains")
reads the trained one: parameter snapshots, the step at which layer 1 locks onto the parents and
where the query's layer-2 attention goes.

**Locked on its parent.** Row ``i`` of ``A⁽¹⁾``'s position × position block (:func:`position_block`)
is *locked* when, over the positions ``j ≤ i`` it can attend to, its entry at the parent ``p(i)``
is strictly larger than every other (:func:`rows_locked_on_parent`). A row of equal entries (the
zero initialisation) is not locked. The graph is *recovered* when every child's row is locked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .estimators import matching_children_average, soft_cross_entropy, soft_cross_entropy_from_logits
from .graphs import edges, validate_parents
from .models import DisentangledTransformer, block_slices, induction_head
from .priors import dirichlet_posterior_mean

__all__ = [
    # the learned graph
    "position_block",
    "rows_locked_on_parent",
    "recovered_parents",
    "single_parent_metrics",
    "attention_on_parents",
    "parent_metrics",
    # chapter 6: many graphs (the paper's Fig. 9)
    "block_attention_on_parent",
    "attention_by_position",
    "spread_over_graphs",
    "curve_over_graphs",
    # chapter 3: the hand-built head
    "residual_stream",
    "query_layer2_token_average",
    "smooth_like_estimator",
    "induction_head_losses",
    "readout_loss",
    "ideal_readout",
    "agreeing_children_prediction",
    "matching_children_mask",
    "loss_by_match_count",
    "pick_example",
    # chapter 4: watching the circuit form
    "ParameterSnapshots",
    "lock_step",
    "first_step_above",
    "circuit_blocks",
    "layer2_attention_by_count",
    "rows_on_parent",
    "load_result",
    # chapter 8: a standard transformer, out of distribution
    "prefix_logits",
    "against_estimator",
    "permutation_laws",
    # chapter 7: two heads on the plateau
    "head_gradient_spread",
]


def position_block(model: DisentangledTransformer, head: int = 0) -> torch.Tensor:
    """The ``T × T`` position × position block of ``A⁽¹⁾`` (layer 1, ``head``), on the CPU (chapter 4).

    Row ``i`` (the query's position) against column ``j`` (the key's position): the part of layer 1
    that can learn the graph. Entries with ``j > i`` are masked out of the attention.
    """
    S, T = model.S, model.T
    return model.head(1, head).detach()[S : S + T, S : S + T].cpu()


def rows_locked_on_parent(block: torch.Tensor, parents: Sequence[int]) -> dict[int, bool]:
    """For each child ``i`` of ``parents``: is row ``i`` of a position block locked on ``p(i)``?

    Locked: over the causal part of the row (``j ≤ i``, the positions row ``i`` can attend to), the
    entry at the parent is strictly larger than every other, so ties (the zero initialisation)
    count as not locked. The one definition used by :func:`recovered_parents`,
    :func:`attention_on_parents` and :func:`rows_on_parent` (chapter 4).
    """
    kids, par = edges(parents)
    out = {}
    for i, p in zip(kids, par):
        row = block[i, : i + 1]
        others = torch.cat([row[:p], row[p + 1 :]])
        out[i] = bool(others.numel() == 0 or row[p] > others.max())
    return out


def recovered_parents(model: DisentangledTransformer, head: int = 0) -> list[int]:
    """The parent each position's row of the layer-1 position block picks: the position ``j ≤ i`` of
    its strict maximum, or ``-1`` where the maximum is tied (rows of equal entries; chapter 4)."""
    B = position_block(model, head)
    out = []
    for i in range(B.shape[0]):
        row = B[i, : i + 1]
        top = int(row.argmax())
        out.append(top if int((row == row[top]).sum()) == 1 else -1)
    return out


def rows_on_parent_slot(block: torch.Tensor, parent_lists: Sequence[Sequence[int]]) -> list[int]:
    """For each parent slot ``k``, how many rows ``i`` with a ``k``-th parent peak (argmax over
    ``j ≤ i``) at ``parent_lists[i][k]`` (chapter 7: which parent a multi-parent head took)."""
    T = block.shape[-1]
    kmax = max(len(ps) for ps in parent_lists[:T])
    out = []
    for k in range(kmax):
        rows = [i for i in range(T) if len(parent_lists[i]) > k]
        out.append(sum(int(block[i, : i + 1].argmax()) == parent_lists[i][k] for i in rows))
    return out


def single_parent_metrics(att: torch.Tensor, parents) -> dict:
    """Mean attention ``att[:, i, p(i)]`` over children ``i``, from a ``(n, T, T)`` layer-1 pattern."""
    kids, par = edges(parents)
    if not kids:
        return {"attn_on_parent": float("nan")}
    idx = torch.tensor(kids, device=att.device)
    pidx = torch.tensor(par, device=att.device)
    return {"attn_on_parent": float(att[:, idx, pidx].mean())}


def block_attention_on_parent(block: torch.Tensor, parents: Sequence[int]) -> float:
    """The paper's Fig. 9 metric for one graph: ``softmax(mask(block))[i, p(i)]`` averaged over the child rows.

    ``block`` is a ``T × T`` position × position block of ``A⁽¹⁾`` (:func:`position_block`), masked
    causally (row ``i`` over ``j ≤ i``) and softmaxed row by row: the attention layer 1 would pay if
    it looked at positions alone, as the research code measures it. Compare
    :func:`attention_by_position`, the attention actually paid in sequences (token parts included).
    NaN for a graph without children.
    """
    kids, par = edges(validate_parents(parents))
    if not kids:
        return float("nan")
    T = len(parents) + 1
    if block.shape[-2:] != (T, T):
        raise ValueError(f"block must be ({T}, {T}) for a parent array of length {T - 1}, got {tuple(block.shape)}")
    mask = torch.ones(T, T, dtype=torch.bool, device=block.device).tril()
    att = torch.softmax(block.double().masked_fill(~mask, float("-inf")), -1)
    return float(att[kids, par].mean())


def attention_by_position(att: torch.Tensor, parents: Sequence[int]) -> list[float | None]:
    """The mean layer-1 attention from each position ``i`` to its parent ``p(i)`` over a batch
    ``att (n, T, T)`` of patterns; ``None`` at roots (chapter 6's per-position curve)."""
    parents = validate_parents(parents)
    means = att[:, : len(parents), :].mean(0)
    return [None if p < 0 else float(means[i, p]) for i, p in enumerate(parents)]


def spread_over_graphs(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation (ddof 0, as the paper reports Fig. 9's spread) over graphs."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("values must hold at least one graph's number")
    return float(v.mean()), float(v.std())


def curve_over_graphs(curves: Sequence[Sequence[float | None]]) -> dict[str, list]:
    """Per-position mean and sd (ddof 0) over the graphs where position ``i`` is a child.

    ``curves`` holds one :func:`attention_by_position` list per graph. Returns ``{"position",
    "mean", "sd", "graphs"}``: the positions that are a child in at least one graph, and at each the
    mean, the sd and the number of graphs that have a parent there.
    """
    if not curves or len({len(c) for c in curves}) != 1:
        raise ValueError("curves must be one or more lists of the same length")
    out: dict[str, list] = {"position": [], "mean": [], "sd": [], "graphs": []}
    for i in range(len(curves[0])):
        vals = [float(v) for c in curves if (v := c[i]) is not None]
        if vals:
            mean, sd = spread_over_graphs(vals)
            out["position"].append(i)
            out["mean"].append(mean)
            out["sd"].append(sd)
            out["graphs"].append(len(vals))
    return out


def attention_on_parents(model, task, tokens: torch.Tensor) -> dict:
    """Metrics of how much layer 1 attends to the true parents, for whatever model and task (chapter 4).

    Single-parent task: ``attn_on_parent`` (mean layer-1 attention of each child on its parent) and,
    for a disentangled transformer, ``parent_recovered`` (1.0 when the row-wise argmax of the
    position block equals the parent at every child). Multi-parent task: for each layer-1 head and
    parent slot ``k``, ``attn_h{h}_parent{k}``.
    """
    from .models import ReducedModel, StandardTransformer

    out: dict = {}
    if isinstance(model, ReducedModel):
        att = model.attention(tokens[:1])[(1, 0)]
        if task.kind == "single":
            out.update(single_parent_metrics(att, task.parents))
        return out
    if not isinstance(model, (DisentangledTransformer, StandardTransformer)):
        return out
    maps = model.attention(tokens)
    if task.kind == "single":
        out.update(single_parent_metrics(maps[(1, 0)], task.parents))
        if isinstance(model, DisentangledTransformer):
            out["parent_recovered"] = float(all(rows_locked_on_parent(position_block(model), task.parents).values()))
        return out
    lists = task.parent_lists[: task.T]
    heads = [k for k in maps if k[0] == 1]
    for _, h in heads:
        att = maps[(1, h)]
        kmax = max(len(ps) for ps in lists)
        for slot in range(kmax):
            rows = [i for i, ps in enumerate(lists) if len(ps) > slot]
            if not rows:
                continue
            idx = torch.tensor(rows, device=att.device)
            par = torch.tensor([lists[i][slot] for i in rows], device=att.device)
            out[f"attn_h{h}_parent{slot}"] = float(att[:, idx, par].mean())
    return out


def parent_metrics(task, n_sequences: int = 1024) -> Callable[[torch.nn.Module, torch.Tensor], dict]:
    """The evaluation callback the experiments give :func:`causal_tutorial.training.train`: it
    returns :func:`attention_on_parents` on the first ``n_sequences`` test sequences (chapter 4)."""

    def metrics(model: torch.nn.Module, test_tokens: torch.Tensor) -> dict:
        return attention_on_parents(model, task, test_tokens[:n_sequences])

    return metrics


def residual_stream(model: DisentangledTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """Layer 2's input ``h⁽¹⁾ = [x̃, attn(x̃; A1) x̃, …]`` of shape ``(n, T, d_1)`` (chapter 3).

    Its column blocks are named by :func:`causal_tutorial.models.block_slices` (``layer=2``).
    """
    with torch.no_grad():
        return model.run_with_cache(tokens)[1]["resid", 1]


def query_layer2_token_average(model: DisentangledTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """The token part of the query's layer-2 output, ``Σ_j att2[T-1, j] e_{s_j}`` ``(n, S)`` (chapter 3).

    For the hand-built head with large ``β`` this is the matching-children average ``v``.
    """
    att2 = model.attention(tokens)[(2, 0)][:, -1]  # (n, T): the query's layer-2 attention
    return torch.einsum("nt,nts->ns", att2, F.one_hot(tokens, model.S).to(att2.dtype))


def smooth_like_estimator(v: torch.Tensor, counts: torch.Tensor, alpha: float) -> torch.Tensor:
    """``(N·v + α) / (N + Sα)``: the Dirichlet smoothing that turns an average ``v`` of ``N`` next tokens
    into the in-context estimator (chapter 3). ``v (n, S)``, ``counts (n,)``."""
    return dirichlet_posterior_mean(counts.to(v.dtype).unsqueeze(-1) * v, alpha)


def induction_head_losses(
    tokens: torch.Tensor, labels: torch.Tensor, parents: Sequence[int], S: int, betas: Sequence[float], c: float
) -> list[float]:
    """Test loss of :func:`~causal_tutorial.models.induction_head` for each ``β`` at read-out scale ``c``
    (chapter 3). On sequences with a matching child it settles on the read-out floor as ``β`` grows."""
    T = tokens.shape[1]
    out = []
    with torch.no_grad():
        for b in betas:
            model = induction_head(S, T, parents, beta=float(b), c=float(c)).to(tokens.device)
            out.append(float(soft_cross_entropy_from_logits(model(tokens), labels)))
    return out


def readout_loss(v: torch.Tensor, labels: torch.Tensor, c: float) -> float:
    """Loss of the softmax read-out ``softmax(c·v)`` of an average ``v (n, S)`` (chapter 3).

    Minimised over ``c`` this is the read-out floor (:func:`causal_tutorial.estimators.readout_floor`).
    """
    return float(soft_cross_entropy_from_logits(float(c) * v, labels))


def ideal_readout(v: torch.Tensor, counts: torch.Tensor, c: float) -> torch.Tensor:
    """The ideal read-out of chapters 3 and 4: ``softmax(c·v)`` where at least one child matches, and the
    uniform law where none does (as the estimator). ``v (n, S)``, ``counts (n,)``; returns ``(n, S)``.

    With ``c`` the read-out floor's scale fitted on the sequences with a match, its loss there is the
    read-out floor; where nothing matches it makes the estimator's choice, which the hand-built head cannot.
    """
    f = torch.softmax(float(c) * v, -1)
    return torch.where(counts.unsqueeze(-1) > 0, f, torch.full_like(f, 1.0 / v.shape[-1]))


def agreeing_children_prediction(S: int, alpha: float, c: float, n_max: int = 10) -> dict:
    """When ``N`` matching children all continue with the same token ``a``: the probability the
    in-context estimator puts on ``a``, ``(N + α)/(N + Sα)``, and the softmax read-out's,
    ``e^c / (e^c + S - 1)`` (the same for every ``N ≥ 1``: the read-out cannot count; chapter 3)."""
    N = np.arange(1, n_max + 1)
    est = (N + alpha) / (N + S * alpha)
    soft = np.full(N.shape, np.exp(c) / (np.exp(c) + S - 1))
    return {"N": N, "estimator": est, "readout": soft}


def matching_children_mask(tokens: torch.Tensor, parents: Sequence[int]) -> torch.Tensor:
    """``(n, T)`` booleans: position ``j`` is a matching child, a child whose parent token equals the
    query token ``s_{T-1}`` (chapter 3)."""
    kids_l, par_l = edges(validate_parents(parents, tokens.shape[1]))
    kids = torch.tensor(kids_l, dtype=torch.long, device=tokens.device)
    par = torch.tensor(par_l, dtype=torch.long, device=tokens.device)
    out = torch.zeros_like(tokens, dtype=torch.bool)
    out[:, kids] = tokens[:, par] == tokens[:, -1:]
    return out


def _count_buckets(counts: torch.Tensor, max_count: int) -> tuple[list[str], list[torch.Tensor]]:
    names = [str(k) for k in range(max_count)] + [f"{max_count}+"]
    sels = [counts == k for k in range(max_count)] + [counts >= max_count]
    return names, sels


def loss_by_match_count(
    tokens: torch.Tensor,
    labels: torch.Tensor,
    parents: Sequence[int],
    S: int,
    predictions: dict[str, torch.Tensor],
    max_count: int = 6,
) -> dict[str, list]:
    """Mean loss of each predictor (``name -> probs (n, S)``) by the number ``N`` of matching children
    (buckets ``0 … max_count-1`` and ``max_count+``), with the share of sequences in each bucket
    (chapters 3, 4). Returns columns: ``"N"``, ``"share"``, then one per predictor."""
    _, counts = matching_children_average(tokens, parents, S)
    names, sels = _count_buckets(counts, max_count)
    out: dict[str, list] = {"N": names, "share": [float(m.float().mean()) for m in sels]}
    for name, f in predictions.items():
        per = soft_cross_entropy(f, labels, reduction="none")
        out[name] = [float(per[m].mean()) if m.any() else float("nan") for m in sels]
    return out


def pick_example(tokens: torch.Tensor, parents: Sequence[int], S: int, min_matches: int = 3) -> int:
    """Index of the first sequence whose query token has at least ``min_matches`` matching children
    (a readable example for the attention figures of chapter 3)."""
    _, counts = matching_children_average(tokens, parents, S)
    idx = torch.nonzero(counts >= min_matches).flatten()
    if idx.numel() == 0:
        raise ValueError(f"no sequence has {min_matches} matching children; lower min_matches")
    return int(idx[0])


class ParameterSnapshots:
    """A :func:`~causal_tutorial.training.train` callback that keeps a copy of ``A1``, ``A2`` and ``W``
    (CPU tensors) at every evaluation step (chapter 4). ``snaps[step]`` gives ``{"A1", "A2", "W"}``."""

    def __init__(self):
        self.params: dict[int, dict[str, torch.Tensor]] = {}

    def __call__(self, step: int, model, record: dict) -> None:
        self.params[int(step)] = {
            "A1": model.head(1).detach().cpu().clone(),
            "A2": model.head(2).detach().cpu().clone(),
            "W": model.W.detach().cpu().clone(),
        }

    @property
    def steps(self) -> list[int]:
        return sorted(self.params)

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        return self.params[step]

    def model_at(self, step: int, S: int, T: int) -> DisentangledTransformer:
        """A heads-(1, 1) disentangled transformer holding the parameters of ``step``."""
        m = DisentangledTransformer(S, T, heads=(1, 1))
        with torch.no_grad():
            m.head(1).copy_(self.params[step]["A1"])
            m.head(2).copy_(self.params[step]["A2"])
            m.W.copy_(self.params[step]["W"])
        return m


def lock_step(history: Sequence[dict]) -> int | None:
    """The first evaluation step at which the row-wise argmax of the layer-1 position block equals the
    parent at every child (``parent_recovered == 1``), or ``None`` (chapter 4)."""
    for rec in history:
        if rec.get("parent_recovered") == 1.0:
            return int(rec["step"])
    return None


def first_step_above(history: Sequence[dict], key: str, value: float) -> int | None:
    """The first evaluation step at which ``record[key] >= value``, or ``None`` (chapter 4)."""
    for rec in history:
        if rec.get(key) is not None and rec[key] >= value:
            return int(rec["step"])
    return None


def circuit_blocks(model: DisentangledTransformer) -> dict[str, torch.Tensor]:
    """The three blocks the hand-built induction head uses, read from any heads-(1, 1) model (chapters 3, 4):

    * ``"A1 pos×pos"`` ``(T, T)``: row ``i`` should peak at ``p(i)``;
    * ``"A2 tok×L1h0·tok"`` ``(S, S)``: query token × the token a key gathered in layer 1 (a diagonal);
    * ``"W L2h0·tok"`` ``(S, S)``: the token part of layer 2's output × next token (a diagonal).
    """
    S, T, heads = model.S, model.T, model.heads
    b2 = dict(block_slices(S, T, heads, 2))
    b3 = dict(block_slices(S, T, heads, 3))
    A1, A2, W = (x.detach().cpu() for x in (model.head(1), model.head(2), model.W))
    return {
        "A1 pos×pos": A1[b2["pos"], b2["pos"]],
        "A2 tok×L1h0·tok": A2[b2["tok"], b2["L1h0·tok"]],
        "W L2h0·tok": W[b3["L2h0·tok"], :],
    }


def layer2_attention_by_count(
    model: DisentangledTransformer, tokens: torch.Tensor, parents: Sequence[int], max_count: int = 6
) -> dict[str, list]:
    """Where the query's layer-2 attention goes, by the number ``N`` of matching children (chapter 4):
    mean mass on the matching children, on the query position itself, and elsewhere."""
    att = model.attention(tokens)[(2, 0)][:, -1]  # (n, T)
    match = matching_children_mask(tokens, parents)
    counts = match.sum(-1)
    on_match = (att * match).sum(-1)
    on_self = att[:, -1]
    names, sels = _count_buckets(counts, max_count)
    mean = lambda x, m: float(x[m].mean()) if m.any() else float("nan")  # noqa: E731
    return {
        "N": names,
        "on matching children": [mean(on_match, m) for m in sels],
        "on the query itself": [mean(on_self, m) for m in sels],
        "elsewhere": [mean(1 - on_match - on_self, m) for m in sels],
    }


def rows_on_parent(snapshots: ParameterSnapshots, parents: Sequence[int], S: int) -> dict[int, int]:
    """For each snapshot step, how many children's rows of the ``A1`` position block are locked on the
    parent (:func:`rows_locked_on_parent`; chapter 4)."""
    p = validate_parents(parents)
    T = len(p) + 1
    return {
        step: sum(rows_locked_on_parent(snapshots[step]["A1"][S : S + T, S : S + T], p).values())
        for step in snapshots.steps
    }


def load_result(path: str | Path) -> dict | None:
    """A ``result.json`` written by :func:`~causal_tutorial.experiments.run_experiment`, or ``None`` when the
    file does not exist (chapter 4 plots the paper-scale run beside the book run when there is one)."""
    p = Path(path)
    if not p.is_file():
        return None
    return json.loads(p.read_text())


# ==== chapter 8: a standard transformer, and both circuits out of distribution ====


def _padded(model, prefix: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``prefix (n, L)``, ``1 ≤ L ≤ model.T``, padded with token 0 to ``(n, model.T)``; and ``L``."""
    from .checks import check_tokens

    prefix = check_tokens(prefix, model.S)
    L = prefix.shape[1]
    if not 1 <= L <= model.T:
        raise ValueError(f"a prefix must have 1 … T = {model.T} positions (the model's position table), got {L}")
    pad = prefix.new_zeros(prefix.shape[0], model.T - L)
    return torch.cat([prefix, pad], dim=1), L


def prefix_logits(model, prefix: torch.Tensor) -> torch.Tensor:
    """The logits ``(n, S)`` of a disentangled or standard transformer on sequences shorter than its ``T``,
    read at their last position ``L-1`` (chapter 8), without gradients.

    Both models are causal, and every layer runs at every position of the readable formulation
    (``run_with_cache``), so the stream at position ``L-1`` depends on ``s_0 … s_{L-1}`` only: we pad
    ``prefix (n, L)`` with token 0 up to ``T`` and apply the read-out ``W`` to the last layer's stream
    at ``L-1``. With ``L = T`` these are the model's logits. The read position keeps its own position
    embedding (``e_{L-1}``), which in training was an ordinary position, never the query's. A longer
    sequence than ``T`` is impossible: both models have a position table of exactly ``T`` rows.
    """
    from .models import StandardTransformer

    if not isinstance(model, (DisentangledTransformer, StandardTransformer)):
        raise TypeError(f"model must be a DisentangledTransformer or a StandardTransformer, got {type(model).__name__}")
    tokens, L = _padded(model, prefix)
    with torch.no_grad():
        cache = model.run_with_cache(tokens)[1]
        return cache["resid", len(model.heads)][:, L - 1] @ model.W


def against_estimator(
    model,
    tokens: torch.Tensor,
    labels: torch.Tensor,
    parents: Sequence[int],
    S: int,
    alpha: float,
    trained_parents: Sequence[int] | None = None,
) -> dict[str, float]:
    """One row of chapter 8's out-of-distribution table: a model and the in-context estimator on the same data.

    ``tokens (n, L)`` (``L ≤ model.T``; shorter sequences are read by :func:`prefix_logits`) and soft
    ``labels (n, S)`` drawn on the graph ``parents`` (length ``L-1``). Returns ``model`` and
    ``estimator`` (mean losses; the estimator with ``parents`` and ``alpha``), ``gap`` (model minus
    estimator) with its paired standard error ``gap_se``, ``estimator_trained_graph`` (the estimator
    with the graph the model was trained on, ``trained_parents`` cut to ``L-1`` positions; by default
    ``parents``) and ``attn_on_trained_parents``, the mean layer-1 attention of each child of the
    trained graph on its trained parent in these sequences.
    """
    from .estimators import in_context_estimator, mean_and_se

    padded, L = _padded(model, tokens)
    parents = validate_parents(parents, L)
    trained = parents if trained_parents is None else validate_parents(tuple(trained_parents)[: L - 1], L)
    per_model = soft_cross_entropy_from_logits(prefix_logits(model, tokens).double(), labels.double(), reduction="none")
    per_est = soft_cross_entropy(in_context_estimator(tokens, parents, S, alpha), labels.double(), reduction="none")
    est_trained = soft_cross_entropy(in_context_estimator(tokens, trained, S, alpha), labels.double())
    gap, gap_se = mean_and_se(per_model - per_est)
    att = model.attention(padded)[(1, 0)][:, :L, :L]
    return {
        "model": float(per_model.mean()),
        "estimator": float(per_est.mean()),
        "gap": gap,
        "gap_se": gap_se,
        "estimator_trained_graph": float(est_trained),
        "attn_on_trained_parents": single_parent_metrics(att, trained)["attn_on_parent"],
    }


def permutation_laws(n: int, S: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` random permutation matrices ``(n, S, S)`` (uniform over the ``S!`` permutations), as transition
    laws: each token has exactly one successor (chapter 8's deterministic chains); on the generator's device."""
    device = generator.device if generator is not None else None
    perm = torch.argsort(torch.rand(n, S, generator=generator, device=device), dim=-1)
    return F.one_hot(perm, S).float()


def head_gradient_spread(
    model: DisentangledTransformer,
    task,
    n_batches: int,
    batch_size: int,
    generator: torch.Generator,
    heads: tuple[int, int] = (0, 1),
) -> dict[str, float]:
    """How much of the gradient that tells two layer-1 heads apart is systematic, and how much batch noise (chapter 7).

    On ``n_batches`` fresh batches of ``task``, the gradient of the mean loss with respect to the two heads'
    ``A`` matrices, ``g_0`` and ``g_1``. Returns the Frobenius norms of the mean over batches (``*_mean``) and
    the batch-to-batch spread, ``sqrt(Σ_b ‖g_b − ḡ‖² / (n_batches − 1))`` (``*_spread``), of one head's gradient
    (``head_*``, the first of ``heads``) and of the difference ``g_0 − g_1`` (``difference_*``): what one batch
    does to the distance between the heads, beside what they do on average. The model is left unchanged.
    """
    if n_batches < 2:
        raise ValueError(f"n_batches must be at least 2 to measure a spread, got {n_batches}")
    h0, h1 = (model.head(1, h) for h in heads)
    one, diff = [], []
    for _ in range(n_batches):
        tokens, labels = task.sample(batch_size, generator)
        g0, g1 = torch.autograd.grad(model.loss(tokens, labels), (h0, h1))
        one.append(g0.double())
        diff.append((g0 - g1).double())

    def mean_and_spread(gs: list[torch.Tensor]) -> tuple[float, float]:
        g = torch.stack(gs)
        return float(g.mean(0).norm()), float((g - g.mean(0)).pow(2).sum((1, 2)).sum().div(len(gs) - 1).sqrt())

    (hm, hs), (dm, ds) = mean_and_spread(one), mean_and_spread(diff)
    return {"head_mean": hm, "head_spread": hs, "difference_mean": dm, "difference_spread": ds}
