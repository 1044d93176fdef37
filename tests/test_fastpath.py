"""The fast path (``model(tokens)``, ``model.loss``) computes the same function, loss and gradients as
the readable formulation (``forward_plain`` / ``run_with_cache``)."""

import pytest
import torch

from causal_tutorial import _fastpath, models
from causal_tutorial._fastpath import TwoLayerLogits, TwoLayerLoss, layer1_tables
from causal_tutorial.models import DisentangledTransformer

HEADS = [(1, 1), (2, 1), (1, 2)]  # the fast path is for two layers; other depths run the readable formulation
SHAPES = [(10, 20), (3, 5), (5, 9)]


def soft_ce(logits, labels):
    """The training loss, written out: mean over sequences of −Σ_s y_s log softmax(logits)_s."""
    return -(labels * torch.log_softmax(logits, dim=-1)).sum(-1).mean()


def make_model(S, T, heads, std, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    m = DisentangledTransformer(S, T, heads, init_std=std, generator=g)
    if std > 0:
        with torch.no_grad():
            m.W.copy_(torch.randn(m.W.shape, generator=g))
    return m.to(dtype)


def make_batch(S, T, n=64, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, S, (n, T), generator=g)
    labels = torch.distributions.Dirichlet(torch.full((S,), 0.5)).sample((n,)).to(dtype)
    return tokens, labels


def loss_and_grads(model, loss_fn):
    for p in model.parameters():
        p.grad = None
    loss = loss_fn()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def assert_grads_close(got, want, rtol=1e-4):
    for a, b in zip(got, want):
        scale = float(b.abs().max()) + 1e-6
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("heads", HEADS, ids=str)
@pytest.mark.parametrize("S,T", SHAPES, ids=str)
@pytest.mark.parametrize("std", [0.5, 2.0])
def test_fast_path_gives_the_plain_logits_loss_and_gradients(heads, S, T, std):
    model = make_model(S, T, heads, std)
    tokens, labels = make_batch(S, T)
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), model.forward_plain(tokens), rtol=1e-5, atol=1e-5)
    loss_plain, g_plain = loss_and_grads(model, lambda: soft_ce(model.forward_plain(tokens), labels))
    loss_fast, g_fast = loss_and_grads(model, lambda: soft_ce(model(tokens), labels))
    loss_fused, g_fused = loss_and_grads(model, lambda: model.loss(tokens, labels))
    torch.testing.assert_close(loss_fast, loss_plain, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss_fused, loss_plain, rtol=1e-5, atol=1e-6)
    assert_grads_close(g_fast, g_plain)
    assert_grads_close(g_fused, g_plain)


@pytest.mark.parametrize("heads", HEADS, ids=str)
def test_fast_path_at_zero_init_gives_the_plain_gradients(heads):
    S, T = 10, 20
    model = make_model(S, T, heads, 0.0)
    tokens, labels = make_batch(S, T)
    loss_plain, g_plain = loss_and_grads(model, lambda: soft_ce(model.forward_plain(tokens), labels))
    loss_fused, g_fused = loss_and_grads(model, lambda: model.loss(tokens, labels))
    torch.testing.assert_close(loss_fused, loss_plain)
    assert_grads_close(g_fused, g_plain)
    assert float(model.W.grad.abs().max()) > 0  # at zero init only W moves first


def test_layer1_tables_give_the_bilinear_scores():
    S, T = 4, 6
    A = torch.randn(S + T, S + T, dtype=torch.float64)
    F, G = layer1_tables(A, S, T)
    for a in range(S):
        for i in range(T):
            x_i = torch.cat([torch.eye(S)[a], torch.eye(T)[i]]).double()
            for b in range(S):
                for j in range(T):
                    x_j = torch.cat([torch.eye(S)[b], torch.eye(T)[j]]).double()
                    got = F[a * T + i, b] + G[a * T + i, j]
                    if j > i:
                        assert got == float("-inf")
                    else:
                        torch.testing.assert_close(got, x_i @ A @ x_j)


@pytest.mark.parametrize("scale", [30.0, 300.0], ids=["spread-within-factorised-range", "spread-beyond-it"])
def test_large_scores_stay_exact_on_both_layer1_paths(scale):
    """A spread of token scores beyond the factorised exponential's range falls back to the
    exact softmax; both give the plain logits and gradients, without overflow."""
    S, T = 5, 9
    model = make_model(S, T, (1, 1), 1.0)
    with torch.no_grad():
        model.head(1)[:S, :S] = scale * torch.rand(S, S, generator=torch.Generator().manual_seed(3))
        model.head(1)[S:, S:] *= 10
    F, _ = layer1_tables(model.head(1).detach(), S, T)
    spread = float((F.amax(1) - F.amin(1)).max())
    assert (spread <= _fastpath._MAX_TABLE_SPREAD) == (scale == 30.0)
    tokens, labels = make_batch(S, T)
    loss_plain, g_plain = loss_and_grads(model, lambda: soft_ce(model.forward_plain(tokens), labels))
    loss_fused, g_fused = loss_and_grads(model, lambda: model.loss(tokens, labels))
    assert torch.isfinite(loss_fused)
    torch.testing.assert_close(loss_fused, loss_plain, rtol=1e-4, atol=1e-5)
    assert_grads_close(g_fused, g_plain, rtol=2e-4)


@pytest.mark.parametrize("trainable", [("A1",), ("A2",), ("W",), ("A1", "W")], ids=str)
def test_frozen_parameters_get_no_gradient_and_the_others_the_plain_one(trainable):
    S, T = 5, 9
    model = make_model(S, T, (2, 1), 0.5)
    tokens, labels = make_batch(S, T)
    _, g_plain = loss_and_grads(model, lambda: soft_ce(model.forward_plain(tokens), labels))
    names = [n for grp in trainable for n in model.param_groups()[grp]]
    for name, p in model.named_parameters():
        p.requires_grad_(name in names)
        p.grad = None
    model.loss(tokens, labels).backward()
    for (name, p), want in zip(model.named_parameters(), g_plain):
        if name in names:
            assert_grads_close([p.grad], [want])
        else:
            assert p.grad is None


def test_fast_path_runs_without_gradients_for_evaluation():
    S, T = 10, 20
    model = make_model(S, T, (1, 1), 0.5)
    tokens, labels = make_batch(S, T)
    with torch.no_grad():
        loss = model.loss(tokens, labels)
        logits = model(tokens)
    assert not loss.requires_grad and not logits.requires_grad
    torch.testing.assert_close(loss, soft_ce(model.forward_plain(tokens), labels).detach())


@pytest.mark.parametrize("m1,m2", [(1, 1), (2, 1), (1, 2)])
def test_hand_derived_backward_passes_gradcheck_in_float64(m1, m2):
    S, T, n = 3, 4, 5
    g = torch.Generator().manual_seed(0)
    d0 = S + T
    d1 = d0 * (1 + m1)
    A = [torch.randn(d0, d0, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(m1)]
    A += [torch.randn(d1, d1, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(m2)]
    W = torch.randn(d1 * (1 + m2), S, generator=g, dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, S, (n, T), generator=g)
    labels = torch.distributions.Dirichlet(torch.ones(S, dtype=torch.float64)).sample((n,))
    assert torch.autograd.gradcheck(lambda W, *A: TwoLayerLogits.apply(tokens, m1, 0, W, *A), (W, *A))
    assert torch.autograd.gradcheck(lambda W, *A: TwoLayerLoss.apply(tokens, labels, m1, 0, W, *A), (W, *A))


@pytest.mark.parametrize("heads", [(1, 1), (2, 1), (1, 1, 1)], ids=str)
def test_model_loss_is_the_plain_loss_with_the_plain_gradients(heads):
    """What training calls, ``model.loss``, fused (mean) or per sequence (none), against the
    readable formulation's soft cross-entropy."""
    from causal_tutorial.estimators import soft_cross_entropy_from_logits

    S, T = 10, 20
    model = make_model(S, T, heads, 0.5)
    tokens, labels = make_batch(S, T)
    loss_plain, g_plain = loss_and_grads(
        model, lambda: soft_cross_entropy_from_logits(model.forward_plain(tokens), labels)
    )
    loss_train, g_train = loss_and_grads(model, lambda: model.loss(tokens, labels))
    torch.testing.assert_close(loss_train, loss_plain)
    assert_grads_close(g_train, g_plain)
    per_plain = soft_cross_entropy_from_logits(model.forward_plain(tokens), labels, reduction="none")
    loss_none, g_none = loss_and_grads(model, lambda: model.loss(tokens, labels, reduction="none").mean())
    torch.testing.assert_close(model.loss(tokens, labels, reduction="none"), per_plain, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss_none, loss_plain)
    assert_grads_close(g_none, g_plain)


def test_fast_path_reads_the_model_through_one_accessor():
    """The fast path sees only ``_fast_parameters()``: replacing it changes what the fast path computes."""
    S, T = 5, 9
    model, other = make_model(S, T, (2, 1), 0.5, seed=0), make_model(S, T, (2, 1), 0.5, seed=1)
    tokens, labels = make_batch(S, T)
    model._fast_parameters = other._fast_parameters
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), other.forward_plain(tokens), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.loss(tokens, labels), other.loss(tokens, labels))


def test_retain_freed_memory_is_public_safe_to_call_repeatedly_and_not_called_by_the_models(monkeypatch):
    assert models.retain_freed_memory is _fastpath.retain_freed_memory and "retain_freed_memory" in models.__all__
    first = models.retain_freed_memory()
    assert models.retain_freed_memory() == first
    calls = []
    monkeypatch.setattr(_fastpath, "retain_freed_memory", lambda: calls.append(1))
    monkeypatch.setattr(models, "retain_freed_memory", lambda: calls.append(1))
    model = make_model(5, 9, (1, 1), 0.5)
    tokens, labels = make_batch(5, 9)
    model(tokens)
    model.loss(tokens, labels).backward()
    assert calls == []


@pytest.mark.parametrize("heads", [(1,), (1, 1, 1)], ids=str)
def test_other_depths_have_no_second_formulation(heads, monkeypatch):
    """One model: a depth other than two runs the readable formulation itself, never the fast path."""
    model = make_model(5, 8, heads, 0.5)
    tokens, labels = make_batch(5, 8)

    def no_fast_path(*args, **kwargs):
        raise AssertionError("the fast path was called for a model of depth other than two")

    monkeypatch.setattr(_fastpath, "fast_logits", no_fast_path)
    monkeypatch.setattr(_fastpath, "fast_loss", no_fast_path)
    assert torch.equal(model(tokens), model.run_with_cache(tokens)[0])
    assert model.loss(tokens, labels).dim() == 0
