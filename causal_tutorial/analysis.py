"""Reading the learned circuit: attention on the true parents, recovery of the graph (chapters 4, 6, 7).
"""

from __future__ import annotations

import torch

__all__ = ["attention_on_parents", "position_block", "recovered_parents", "single_parent_metrics"]


def position_block(model, layer: int = 1, head: int = 0) -> torch.Tensor:
    """The ``T × T`` position × position block of a disentangled transformer's layer-1 matrix."""
    if layer != 1:
        raise ValueError("position_block reads layer 1 only (its input is [tok | pos])")
    A = model.head(0, head).detach()
    S, T = model.S, model.T
    return A[S:S + T, S:S + T].cpu()


def recovered_parents(model, head: int = 0) -> list[int]:
    """Row-wise argmax of the layer-1 position block: the parent each position attends to."""
    return position_block(model, 1, head).argmax(dim=1).tolist()


def single_parent_metrics(att: torch.Tensor, parents) -> dict:
    """Mean attention ``att[:, i, p(i)]`` over children ``i``, from a ``(n, T, T)`` layer-1 pattern."""
    kids = [i for i, p in enumerate(parents) if p >= 0]
    if not kids:
        return {"attn_on_parent": float("nan")}
    idx = torch.tensor(kids, device=att.device)
    par = torch.tensor([parents[i] for i in kids], device=att.device)
    return {"attn_on_parent": float(att[:, idx, par].mean())}


def attention_on_parents(model, task, tokens: torch.Tensor) -> dict:
    """Metrics of how much layer 1 attends to the true parents, for whatever model and task (chapter 4).

    Single-parent task: ``attn_on_parent`` (mean layer-1 attention of each child on its parent) and,
    for a disentangled transformer, ``parent_recovered`` (1.0 when the row-wise argmax of the
    position block equals the parent at every child). Multi-parent task: for each layer-1 head and
    parent slot ``k``, ``attn_h{h}_parent{k}``.
    """
    from .models import DisentangledTransformer, ReducedModel, StandardTransformer

    out: dict = {}
    if isinstance(model, ReducedModel):
        att = model.layer1().detach().unsqueeze(0)
        if task.kind == "single":
            out.update(single_parent_metrics(att, task.parents))
        return out
    if not isinstance(model, (DisentangledTransformer, StandardTransformer)):
        return out
    maps = model.attention(tokens)
    if task.kind == "single":
        out.update(single_parent_metrics(maps[(1, 0)], task.parents))
        if isinstance(model, DisentangledTransformer):
            rec = recovered_parents(model)
            kids = [i for i, p in enumerate(task.parents) if p >= 0]
            out["parent_recovered"] = float(all(rec[i] == task.parents[i] for i in kids))
        return out
    lists = task.parent_lists[: task.T]
    heads = [k for k in maps if k[0] == 1]
    for (_, h) in heads:
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
