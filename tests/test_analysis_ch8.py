"""Chapter 8's read-outs: a model on shorter sequences, one row of the out-of-distribution table, permutation laws."""

import pytest
import torch

from causal_tutorial.analysis import against_estimator, permutation_laws, prefix_logits
from causal_tutorial.estimators import in_context_estimator, soft_cross_entropy
from causal_tutorial.graphs import chain, icl_pairs
from causal_tutorial.models import DisentangledTransformer, ReducedModel, StandardTransformer, induction_head
from causal_tutorial.tasks import SingleParentTask

S, T = 5, 8


def _models():
    g = torch.Generator().manual_seed(0)
    dis = DisentangledTransformer(S, T, init_std=0.3, generator=g)
    std = StandardTransformer(S, T, d=12, generator=g)
    with torch.no_grad():
        for p in std.parameters():  # A, the MLP's last layer and W start at zero: make them matter
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return dis, std


@pytest.mark.parametrize("which", [0, 1], ids=["disentangled", "standard"])
def test_prefix_logits_of_a_full_sequence_are_the_model_s_and_of_a_prefix_ignore_what_follows(which):
    model = _models()[which]
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, S, (16, T), generator=g)
    with torch.no_grad():
        assert torch.allclose(prefix_logits(model, tokens), model(tokens), atol=1e-5)
    L = 5
    prefix = tokens[:, :L]
    other = torch.cat([prefix, torch.randint(0, S, (16, T - L), generator=g)], dim=1)
    cache = model.run_with_cache(other)[1]
    by_hand = cache["resid", 2][:, L - 1] @ model.W
    assert torch.allclose(prefix_logits(model, prefix), by_hand, atol=1e-5), "causal: what follows L-1 is irrelevant"
    with pytest.raises(ValueError, match="1 … T"):
        prefix_logits(model, torch.zeros(2, T + 1, dtype=torch.long))


def test_prefix_logits_refuse_a_model_without_a_read_out_matrix():
    with pytest.raises(TypeError, match="DisentangledTransformer or a StandardTransformer"):
        prefix_logits(ReducedModel(S, T), torch.zeros(2, T, dtype=torch.long))


def test_against_estimator_scores_both_on_the_same_data_and_reads_attention_on_the_trained_graph():
    head = induction_head(S, T, chain(T), beta=20.0, c=5.0)
    batch = SingleParentTask(S, T, icl_pairs(T), 0.1).sample(512, torch.Generator().manual_seed(2))
    row = against_estimator(head, batch.tokens, batch.labels, icl_pairs(T), S, 0.1, trained_parents=chain(T))
    est = soft_cross_entropy(in_context_estimator(batch.tokens, icl_pairs(T), S, 0.1), batch.labels.double())
    wrong = soft_cross_entropy(in_context_estimator(batch.tokens, chain(T), S, 0.1), batch.labels.double())
    assert row["estimator"] == pytest.approx(float(est))
    assert row["estimator_trained_graph"] == pytest.approx(float(wrong))
    assert row["gap"] == pytest.approx(row["model"] - row["estimator"])
    assert 0 < row["gap_se"] < 0.1
    assert row["attn_on_trained_parents"] > 0.99, "the hand-built head attends to i-1 whatever the data"
    short = SingleParentTask(S, 5, chain(5), 0.1).sample(256, torch.Generator().manual_seed(3))
    row5 = against_estimator(head, short.tokens, short.labels, chain(5), S, 0.1)
    assert row5["estimator_trained_graph"] == pytest.approx(row5["estimator"])
    assert row5["attn_on_trained_parents"] > 0.99


def test_permutation_laws_are_permutation_matrices_that_a_task_can_sample_from():
    P = permutation_laws(64, S, torch.Generator().manual_seed(4))
    assert P.shape == (64, S, S)
    assert torch.equal(P.sum(1), torch.ones(64, S)) and torch.equal(P.sum(2), torch.ones(64, S))
    batch = SingleParentTask(S, T, chain(T), 0.1).sample_given_law(P, 64, torch.Generator().manual_seed(5))
    succ = P.argmax(-1)  # succ[m, a]: the one successor of token a
    kids = batch.tokens[:, 1 : T - 1]
    assert torch.equal(kids, succ.gather(1, batch.tokens[:, : T - 2])), "each child is its parent's successor"
