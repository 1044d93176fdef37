"""The models: the readable and fast formulations agree; the hand-built induction head is the estimator."""

import pytest
import torch
import torch.nn.functional as F

from causal_tutorial.estimators import (in_context_estimator, matching_children_average, readout_floor,
                                        soft_cross_entropy_from_logits)
from causal_tutorial.graphs import chain, icl_pairs, random_tree
from causal_tutorial.models import (DisentangledTransformer, ReducedModel, StandardTransformer, block_slices,
                                    induction_head)
from causal_tutorial.tasks import SingleParentTask

S, T = 10, 20


@pytest.fixture(scope="module")
def chain_batch():
    task = SingleParentTask(S, T, chain(T), alpha=0.1)
    return task.sample(4096, torch.Generator().manual_seed(0))


def _layer2_token_average(model, tokens):
    att2 = model.attention(tokens)[(2, 0)][:, -1]  # (n, T): the query's layer-2 attention
    return torch.einsum("nt,nts->ns", att2, F.one_hot(tokens, model.S).float())


def test_widths_grow_by_concatenation():
    m = DisentangledTransformer(S, T, heads=(2, 1))
    assert m.widths == [S + T, 3 * (S + T), 6 * (S + T)]
    assert m.head(0, 1).shape == (S + T, S + T) and m.head(1, 0).shape == (3 * (S + T), 3 * (S + T))
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
    err = [(_layer2_token_average(induction_head(S, T, chain(T), beta=b), tokens)[hit] - v[hit]).abs().max().item()
           for b in (4.0, 8.0, 16.0, 32.0)]
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
    gaps = [abs(float(soft_cross_entropy_from_logits(induction_head(S, T, chain(T), beta=b, c=c)(tokens[hit]),
                                                     labels[hit])) - floor) for b in (6.0, 12.0, 32.0)]
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


def test_model_rejects_tokens_of_the_wrong_shape_or_vocabulary():
    m = DisentangledTransformer(S, T)
    with pytest.raises(ValueError, match="T=19"):
        m.forward_plain(torch.zeros(2, 19, dtype=torch.long))
    with pytest.raises(ValueError, match="S=10"):
        m.forward_plain(torch.full((2, T), S, dtype=torch.long))
    with pytest.raises(ValueError, match="S must be at least 2"):
        DisentangledTransformer(1, T)
    with pytest.raises(ValueError, match="heads"):
        DisentangledTransformer(S, T, heads=(0, 1))


def test_block_slices_label_every_column_of_layer2_input():
    blocks = block_slices(S, T, (1, 1), layer=2)
    covered = sorted(i for _, sl in blocks for i in range(sl.start, sl.stop))
    assert covered == list(range(2 * (S + T)))
    assert blocks[2][0] == "L1h0·tok"


def test_reduced_model_predicts_a_distribution_with_a_floor():
    m = ReducedModel(S, T, beta0=0.5, eps=1e-3)
    f = m(torch.randint(0, S, (7, T)))
    assert torch.allclose(f.sum(-1), torch.ones(7)) and f.min() >= 1e-3 / S - 1e-9


def test_standard_transformer_runs_and_exposes_attention():
    m = StandardTransformer(S, T, d=16, generator=torch.Generator().manual_seed(0))
    tokens = torch.randint(0, S, (3, T))
    assert m(tokens).shape == (3, S)
    maps = m.attention(tokens)
    assert set(maps) == {(1, 0), (2, 0)} and maps[(1, 0)].shape == (3, T, T)
