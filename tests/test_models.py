"""The models: every model meets one contract (logits, checks, cache, head, loss); the readable and fast
formulations agree; the hand-built induction head is the estimator."""

import math

import pytest
import torch
import torch.nn.functional as F

from causal_tutorial.estimators import (
    in_context_estimator,
    matching_children_average,
    readout_floor,
    soft_cross_entropy_from_logits,
)
from causal_tutorial.graphs import chain, icl_pairs, random_tree
from causal_tutorial.models import (
    DisentangledTransformer,
    ReducedModel,
    StandardTransformer,
    block_slices,
    induction_head,
)
from causal_tutorial.tasks import SingleParentTask

S, T = 10, 20


@pytest.fixture(scope="module")
def chain_batch():
    task = SingleParentTask(S, T, chain(T), alpha=0.1)
    return task.sample(4096, torch.Generator().manual_seed(0))


def _layer2_token_average(model, tokens):
    """The token part of the query's layer-2 output, Σ_j att2[T-1, j] e_{s_j}, read from the cache."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    d1 = model.widths[1]  # layer 2's output [h1, attn(h1; A2) h1] starts its head's block at d1
    return cache["resid", 2][:, -1, d1 : d1 + model.S]


def test_widths_grow_by_concatenation():
    m = DisentangledTransformer(S, T, heads=(2, 1))
    assert m.widths == [S + T, 3 * (S + T), 6 * (S + T)]
    assert m.head(1, 1).shape == (S + T, S + T) and m.head(2, 0).shape == (3 * (S + T), 3 * (S + T))
    assert m.W.shape == (6 * (S + T), S)


def test_zero_init_predicts_uniform():
    m = DisentangledTransformer(S, T)
    tokens = torch.randint(0, S, (8, T))
    assert torch.allclose(torch.softmax(m(tokens), -1), torch.full((8, S), 1 / S))


@pytest.mark.parametrize("heads", [(1, 1), (2, 1), (1,), (1, 1, 1)])
def test_attention_rows_are_causal_distributions(heads):
    m = DisentangledTransformer(6, 7, heads=heads, init_std=0.5, generator=torch.Generator().manual_seed(0))
    maps = m.attention(torch.randint(0, 6, (5, 7)))
    assert len(maps) == sum(heads)
    for att in maps.values():
        assert torch.allclose(att.sum(-1), torch.ones(5, 7))
        assert torch.all(att.triu(1) == 0)


@pytest.mark.parametrize("beta", [5.0, 20.0])
def test_induction_head_layer1_attends_to_the_parent(beta):
    tokens = torch.randint(0, S, (16, T))
    att1 = induction_head(S, T, chain(T), beta=beta).attention(tokens)[(1, 0)]
    on_parent = att1[:, torch.arange(1, T - 1), torch.arange(0, T - 2)]
    assert on_parent.min() > 1 - T * torch.exp(torch.tensor(-beta))


def test_induction_head_layer2_becomes_the_matching_children_average(chain_batch):
    tokens = chain_batch.tokens
    v, counts = matching_children_average(tokens, chain(T), S)
    hit = counts > 0  # with no matching child the circuit averages all children instead
    err = [
        (_layer2_token_average(induction_head(S, T, chain(T), beta=b), tokens)[hit] - v[hit]).abs().max().item()
        for b in (4.0, 8.0, 16.0, 32.0)
    ]
    assert err == sorted(err, reverse=True), f"error should shrink as beta grows: {err}"
    assert err[-1] < 1e-5


@pytest.mark.parametrize("parents", [chain(T), icl_pairs(T), random_tree(T, seed=3)], ids=["chain", "icl", "random"])
def test_induction_head_output_smoothed_like_the_estimator_is_the_estimator(parents):
    task = SingleParentTask(S, T, parents, alpha=0.1)
    tokens, _ = task.sample(2048, torch.Generator().manual_seed(1))
    v_model = _layer2_token_average(induction_head(S, T, parents, beta=30.0), tokens)
    _, counts = matching_children_average(tokens, parents, S)
    smoothed = (counts[:, None] * v_model + 0.1) / (counts[:, None] + S * 0.1)
    torch.testing.assert_close(smoothed, in_context_estimator(tokens, parents, S, 0.1), atol=1e-5, rtol=1e-4)


def test_induction_head_loss_approaches_the_readout_floor(chain_batch):
    tokens, labels = chain_batch.tokens, chain_batch.labels
    v, counts = matching_children_average(tokens, chain(T), S)
    hit = counts > 0
    floor, c = readout_floor(tokens[hit], labels[hit], chain(T), S)
    with torch.no_grad():
        gaps = [
            abs(float(induction_head(S, T, chain(T), beta=b, c=c).loss(tokens[hit], labels[hit])) - floor)
            for b in (6.0, 12.0, 32.0)
        ]
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 1e-4, gaps


def test_readout_floor_sits_above_the_estimator_on_the_chain(chain_batch):
    tokens, labels = chain_batch.tokens, chain_batch.labels
    floor, c = readout_floor(tokens, labels, chain(T), S)
    est = float(-(labels * in_context_estimator(tokens, chain(T), S, 0.1).log()).sum(-1).mean())
    assert 0.02 < floor - est < 0.1, "the softmax read-out keeps even the perfect circuit above the estimator"
    v, _ = matching_children_average(tokens, chain(T), S)
    for other in (0.5 * c, 0.9 * c, 1.1 * c, 2 * c):
        assert float(soft_cross_entropy_from_logits(other * v, labels)) >= floor - 1e-7


def test_fast_path_matches_plain_formulation_on_the_induction_head(chain_batch):
    m = induction_head(S, T, chain(T), beta=10.0, c=3.0)
    torch.testing.assert_close(m(chain_batch.tokens), m.forward_plain(chain_batch.tokens), atol=1e-4, rtol=1e-4)


def test_disentangled_model_rejects_bad_constructor_arguments():
    with pytest.raises(ValueError, match="heads"):
        DisentangledTransformer(S, T, heads=(0, 1))
    with pytest.raises(ValueError, match="heads"):
        DisentangledTransformer(S, T, heads=())
    with pytest.raises(ValueError, match="init_std"):
        DisentangledTransformer(S, T, init_std=-1.0)
    with pytest.raises(ValueError, match="init_std"):
        DisentangledTransformer(S, T, init_std=float("nan"))


def test_block_slices_label_every_column_of_layer2_input():
    blocks = block_slices(S, T, (1, 1), layer=2)
    covered = sorted(i for _, sl in blocks for i in range(sl.start, sl.stop))
    assert covered == list(range(2 * (S + T)))
    assert blocks[2][0] == "L1h0·tok"


def test_reduced_model_predicts_a_distribution_with_a_floor():
    m = ReducedModel(S, T, beta0=0.5, eps=1e-3)
    f = torch.softmax(m(torch.randint(0, S, (7, T))), -1)
    assert torch.allclose(f.sum(-1), torch.ones(7)) and f.min() >= 1e-3 / S - 1e-9


def test_reduced_model_logits_are_the_log_of_its_probability_formula():
    """softmax(logits) is (1 - eps) Σ_j a_j e_{s_j} + eps/S, with a the query's layer-2 attention on
    ê_j = Σ_k softmax(mask(A1))_{jk} e_{s_k} scored by e_{s_{T-1}}ᵀ A2 ê_j (the paper's Algorithm 1)."""
    eps = 1e-2
    m = ReducedModel(S, T, beta0=0.5, eps=eps)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        m.A1.copy_(torch.randn(T, T, generator=g))
        m.A2.copy_(2 * torch.randn(S, S, generator=g))
    tokens = torch.randint(0, S, (9, T), generator=g)
    onehot = F.one_hot(tokens, S).double()
    P1 = torch.softmax(m.A1.detach().double().masked_fill(torch.ones(T, T).triu(1).bool(), float("-inf")), -1)
    e_hat = torch.einsum("jk,nks->njs", P1, onehot)
    scores = torch.einsum("ns,st,njt->nj", onehot[:, -1], m.A2.detach().double(), e_hat)
    f = (1 - eps) * torch.einsum("nj,njs->ns", torch.softmax(scores, -1), onehot) + eps / S
    logits = m(tokens)
    torch.testing.assert_close(torch.softmax(logits, -1).double(), f, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logits.exp().sum(-1), torch.ones(9))  # already log-probabilities


def test_reduced_model_prior_position_is_the_estimators_smoothing_in_the_hard_limit():
    """With A1 a hard copy of the chain, the query's row on position 0, A2 = βI with β large and the
    prior weight S·α, the prediction is (1 - eps) · the in-context estimator + eps/S wherever no
    spurious match exists (s_0 differs from the query): each of the N matching children gets 1/(N + Sα),
    the uniform law Sα/(N + Sα). Checked against the estimator of ``estimators`` (counted apart)."""
    S_, T_, alpha, eps = 4, 9, 0.3, 1e-3
    parents = chain(T_)
    m = ReducedModel(S_, T_, beta0=80.0, eps=eps, prior_weight=S_ * alpha).double()
    with torch.no_grad():
        m.A1.fill_(-200.0)
        m.A1[0, 0] = 200.0
        for i, p in enumerate(parents):
            if p >= 0:
                m.A1[i, p] = 200.0
        m.A1[T_ - 1, 0] = 200.0
    batch = SingleParentTask(S_, T_, parents, alpha).sample(2000, torch.Generator().manual_seed(3))
    keep = batch.tokens[:, 0] != batch.tokens[:, -1]
    assert 500 < keep.sum() < 2000
    with torch.no_grad():
        f = m(batch.tokens[keep]).exp()
    est = in_context_estimator(batch.tokens[keep], parents, S_, alpha)
    torch.testing.assert_close(f, (1 - eps) * est.double() + eps / S_, rtol=0, atol=1e-6)
    # And the prior position's weight is in the cache, the real positions' weights sum to the rest.
    _, cache = m.run_with_cache(batch.tokens[:5])
    torch.testing.assert_close(cache["attn", 2, 0].sum(-1) + cache["prior", 2], torch.ones(5, T_, dtype=torch.float64))


def test_reduced_model_without_prior_position_has_no_prior_in_its_cache_and_rejects_a_negative_weight():
    m = ReducedModel(S, T)
    assert ("prior", 2) not in m.run_with_cache(torch.randint(0, S, (2, T)))[1]
    assert m.config()["prior_weight"] == 0.0
    with pytest.raises(ValueError, match="prior_weight"):
        ReducedModel(S, T, prior_weight=-1.0)


def test_reduced_model_rejects_bad_constructor_arguments():
    with pytest.raises(ValueError, match="eps"):
        ReducedModel(S, T, eps=0.0)
    with pytest.raises(ValueError, match="eps"):
        ReducedModel(S, T, eps=1.0)
    with pytest.raises(ValueError, match="beta0"):
        ReducedModel(S, T, beta0=-0.1)


def test_standard_transformer_runs_and_exposes_attention():
    m = StandardTransformer(S, T, d=16, generator=torch.Generator().manual_seed(0))
    tokens = torch.randint(0, S, (3, T))
    assert m(tokens).shape == (3, S)
    maps = m.attention(tokens)
    assert set(maps) == {(1, 0), (2, 0)} and maps[(1, 0)].shape == (3, T, T)


def test_standard_transformer_rejects_bad_constructor_arguments():
    for kw, name in [({"d": 0}, "d"), ({"layers": 0}, "layers")]:
        with pytest.raises(ValueError, match=name):
            StandardTransformer(S, T, **kw)


def test_standard_transformer_starts_as_the_research_code_does_and_predicts_uniformly():
    """d = S + T by default; A, the MLP's last layer, every bias and W start at zero; V, the MLP's
    first layer and both embeddings N(0, 1/d) and trained; the first prediction is uniform."""
    S_, T_ = 10, 20
    m = StandardTransformer(S_, T_, generator=torch.Generator().manual_seed(0))
    d = S_ + T_
    assert m.d == d == 30
    params = dict(m.named_parameters())
    assert set(params) == {
        "tok_emb",
        "pos_emb",
        "W",
        *(f"{k}.{l}" for k in ("A", "V") for l in (0, 1)),
        *(f"mlp.{l}.{w}" for l in (0, 1) for w in ("W1", "W2", "b1", "b2")),
    }
    zero = ["W", "A.0", "A.1", "mlp.0.W2", "mlp.1.W2", "mlp.0.b1", "mlp.0.b2", "mlp.1.b1", "mlp.1.b2"]
    assert all(float(params[n].detach().abs().max()) == 0 for n in zero)
    random = torch.cat(
        [params[n].detach().flatten() for n in ("tok_emb", "pos_emb", "V.0", "V.1", "mlp.0.W1", "mlp.1.W1")]
    )
    assert abs(float(random.std()) * math.sqrt(d) - 1) < 0.05 and abs(float(random.mean())) < 0.02
    tokens = torch.randint(0, S_, (4, T_))
    torch.testing.assert_close(torch.softmax(m(tokens), -1), torch.full((4, S_), 1 / S_))
    m.loss(tokens, torch.full((4, S_), 1 / S_)).backward()
    assert params["W"].grad.abs().max() > 0  # only W moves first (the rest waits behind W = 0)


def test_standard_transformer_layer_is_one_residual_update_through_the_mlp():
    """h ← h + relu(a W1 + b1 √d) W2 + b2 √d with a = softmax(mask(h A hᵀ)) h V, computed by hand."""
    g = torch.Generator().manual_seed(1)
    m = StandardTransformer(S, T, d=8, layers=1, generator=g)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    tokens = torch.randint(0, S, (3, T), generator=g)
    h = m.tok_emb[tokens] + m.pos_emb
    scores = (h @ m.A[0] @ h.transpose(1, 2)).masked_fill(torch.ones(T, T).triu(1).bool(), float("-inf"))
    a = torch.softmax(scores, -1) @ h @ m.V[0]
    mlp = m.mlp[0]
    out = h + torch.relu(a @ mlp.W1 + mlp.b1 * math.sqrt(8)) @ mlp.W2 + mlp.b2 * math.sqrt(8)
    torch.testing.assert_close(m(tokens), out[:, -1] @ m.W)


def test_standard_transformer_param_groups_cover_every_parameter_once():
    m = StandardTransformer(S, T, d=8, layers=2)
    groups = m.param_groups()
    assert set(groups) == {"A1", "A2", "V1", "V2", "mlp1", "mlp2", "W", "embed"}
    names = [n for grp in groups.values() for n in grp]
    assert sorted(names) == sorted(n for n, _ in m.named_parameters())
    assert groups["A2"] == ["A.1"] and groups["W"] == ["W"] and len(groups["mlp1"]) == 4


# -- the contract every model meets -----------------------------------------------------------------
def _models(S=6, T=7):
    g = torch.Generator().manual_seed(0)
    red = ReducedModel(S, T, beta0=0.5)
    with torch.no_grad():
        red.A1.copy_(torch.randn(T, T, generator=g))
    dis = DisentangledTransformer(S, T, heads=(2, 1), init_std=0.5, generator=g)
    with torch.no_grad():
        dis.W.copy_(torch.randn(dis.W.shape, generator=g))
    std = StandardTransformer(S, T, d=8, layers=3, generator=g)
    with torch.no_grad():
        std.W.copy_(torch.randn(std.W.shape, generator=g))
    return {
        "disentangled": dis,
        "deep": DisentangledTransformer(S, T, heads=(1, 2, 1), init_std=0.5, generator=g),
        "reduced": red,
        "standard": std,
    }


MODELS = ["disentangled", "deep", "reduced", "standard"]
CLASSES = [(DisentangledTransformer, {}), (ReducedModel, {}), (StandardTransformer, {"d": 8})]


@pytest.mark.parametrize("name", MODELS)
def test_every_model_returns_logits_and_checks_its_tokens(name):
    m = _models()[name]
    tokens = torch.randint(0, 6, (5, 7))
    assert m(tokens).shape == (5, 6)
    with pytest.raises(ValueError, match="T=6"):
        m(torch.zeros(5, 6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"0\.\.5"):
        m(torch.full((5, 7), 6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"0\.\.5"):
        m.loss(torch.full((5, 7), -1, dtype=torch.long), torch.full((5, 6), 1 / 6))
    with pytest.raises(ValueError, match="T=8"):
        m.run_with_cache(torch.zeros(5, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        m.loss(tokens, torch.full((5, 5), 1 / 5))


@pytest.mark.parametrize("cls,kw", CLASSES, ids=lambda c: getattr(c, "__name__", ""))
def test_every_constructor_rejects_a_short_sequence_and_a_single_token(cls, kw):
    with pytest.raises(ValueError, match="T must be an int >= 3"):
        cls(6, 2, **kw)
    with pytest.raises(ValueError, match="S must be at least 2"):
        cls(1, 7, **kw)


@pytest.mark.parametrize("name", MODELS)
def test_run_with_cache_holds_causal_attention_and_the_residual_streams(name):
    m = _models()[name]
    tokens = torch.randint(0, 6, (5, 7))
    logits, cache = m.run_with_cache(tokens)
    L = len(m.heads)
    assert set(cache) == (
        {("attn", l, h) for l in range(1, L + 1) for h in range(m.heads[l - 1])} | {("resid", l) for l in range(L + 1)}
    )
    for l in range(L + 1):
        assert cache["resid", l].shape == (5, 7, m.widths[l])
    for key, att in cache.items():
        if key[0] == "attn":
            assert att.shape == (5, 7, 7)
            torch.testing.assert_close(att.sum(-1), torch.ones(5, 7))
            assert torch.all(att.triu(1) == 0) and torch.all(att >= 0)
    torch.testing.assert_close(logits, m(tokens), rtol=1e-5, atol=1e-5)
    maps = m.attention(tokens)
    assert set(maps) == {k[1:] for k in cache if k[0] == "attn"} and not any(a.requires_grad for a in maps.values())
    for k, a in maps.items():
        torch.testing.assert_close(a, cache[("attn",) + k].detach())


def test_run_with_cache_follows_the_callers_grad_mode():
    m = _models()["disentangled"]
    tokens = torch.randint(0, 6, (5, 7))
    logits, cache = m.run_with_cache(tokens)
    assert logits.requires_grad and cache["attn", 1, 0].requires_grad
    with torch.no_grad():
        logits, cache = m.run_with_cache(tokens)
    assert not logits.requires_grad and not cache["attn", 1, 0].requires_grad


@pytest.mark.parametrize("heads", [(1, 1), (2, 1), (1, 1, 1)], ids=str)
def test_disentangled_cache_reproduces_the_logits_and_the_residual_stream(heads):
    m = DisentangledTransformer(6, 7, heads=heads, init_std=0.5, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        m.W.normal_(generator=torch.Generator().manual_seed(2))
    tokens = torch.randint(0, 6, (5, 7))
    logits, cache = m.run_with_cache(tokens)
    L = len(heads)
    assert torch.equal(cache["resid", L][:, -1] @ m.W, logits)
    assert torch.equal(logits, m.forward_plain(tokens))
    torch.testing.assert_close(cache["resid", 0], m.embed(tokens))
    for l in range(1, L + 1):  # each layer appends attn(h; A) h for each of its heads
        h = cache["resid", l - 1]
        want = torch.cat([h] + [cache["attn", l, j] @ h for j in range(heads[l - 1])], dim=-1)
        torch.testing.assert_close(cache["resid", l], want)


@pytest.mark.parametrize("name", MODELS)
def test_every_loss_is_the_soft_cross_entropy_of_its_logits(name):
    m = _models()[name]
    tokens = torch.randint(0, 6, (32, 7), generator=torch.Generator().manual_seed(5))
    labels = torch.distributions.Dirichlet(torch.full((6,), 0.5)).sample((32,))
    with torch.no_grad():
        logits = m(tokens)
        want = -(labels * torch.log_softmax(logits, -1)).sum(-1)
        torch.testing.assert_close(m.loss(tokens, labels), want.mean(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(m.loss(tokens, labels, reduction="none"), want, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(
            m.loss(tokens, labels), soft_cross_entropy_from_logits(logits, labels), rtol=1e-5, atol=1e-6
        )
    with pytest.raises(ValueError, match="reduction"):
        m.loss(tokens, labels, reduction="sum")
    loss = m.loss(tokens, labels)
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_head_numbers_layers_from_one_and_rejects_out_of_range(name):
    m = _models()[name]
    L = len(m.heads)
    for l in range(1, L + 1):
        for h in range(m.heads[l - 1]):
            assert isinstance(m.head(l, h), torch.nn.Parameter)
    with pytest.raises(ValueError, match="layer must be in 1"):
        m.head(0)
    with pytest.raises(ValueError, match="layer must be in 1"):
        m.head(L + 1)
    with pytest.raises(ValueError, match="h must be in 0"):
        m.head(1, m.heads[0])
    with pytest.raises(ValueError, match="h must be in 0"):
        m.head(1, -1)


def test_head_names_the_books_matrices():
    dis = DisentangledTransformer(S, T, heads=(2, 1))
    assert dis.head(1, 0) is dis.A[0] and dis.head(1, 1) is dis.A[1] and dis.head(2) is dis.A[2]
    red = ReducedModel(S, T)
    assert red.head(1) is red.A1 and red.head(1).shape == (T, T)
    assert red.head(2) is red.A2 and red.head(2).shape == (S, S)
    std = StandardTransformer(S, T, d=8, layers=3)
    assert [std.head(l) for l in (1, 2, 3)] == list(std.A)


def test_param_groups_of_the_disentangled_and_reduced_models():
    assert DisentangledTransformer(S, T, heads=(2, 1)).param_groups() == {
        "A1": ["A.0", "A.1"],
        "A2": ["A.2"],
        "W": ["W"],
    }
    red = ReducedModel(S, T)
    assert red.param_groups() == {"A1": ["A1"], "A2": ["A2"]}
    assert sorted(n for g in red.param_groups().values() for n in g) == sorted(n for n, _ in red.named_parameters())
