"""Chunked loss equals the plain loss; both reductions give the hand-computed gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sftscope.train.batches import collate, plan_step
from sftscope.train.encoding import Encoded
from sftscope.train.lab_model import build_model
from sftscope.train.loss import chunked_token_loss, micro_scale
from sftscope.train.trainer import LossModel


class _Tok:
    eos_token_id, pad_token_id = 1, 0

    def __len__(self) -> int:
        return 64


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("micro", _Tok(), seed=0)


def rows() -> list[Encoded]:
    gen = torch.Generator().manual_seed(1)
    out = []
    for i, (n, p) in enumerate([(9, 3), (6, 2), (12, 5), (7, 4), (5, 1), (10, 6), (8, 2), (11, 3)]):
        ids = torch.randint(2, 64, (n,), generator=gen).tolist()
        out.append(Encoded(tuple(ids), p, 1.0 + 0.5 * (i % 3), i))
    return out


def plain_sum(model, micro: list[Encoded]) -> torch.Tensor:
    """The hand computation: full logits per row, cross-entropy summed over response tokens, times weight."""
    total = 0.0
    for e in micro:
        logits = model(input_ids=torch.tensor([e.ids])).logits[0]
        targets = torch.tensor(e.ids[e.n_prompt :])
        total = total + e.weight * F.cross_entropy(logits[e.n_prompt - 1 : -1], targets, reduction="sum")
    return total


def grads(model) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize("chunk", [1, 3, 4096])
def test_chunked_loss_equals_full_logits_loss(model, chunk):
    micro = rows()[:3]
    batch = collate(micro, packing=True, pad_id=0)
    hidden = model.model(
        input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False
    ).last_hidden_state
    ours = chunked_token_loss(hidden, model.lm_head, batch["targets"], batch["weights"], chunk=chunk)
    assert torch.allclose(ours, plain_sum(model, micro), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reduction", ["token_mean", "reference"])
def test_reduction_gradients_match_hand_computed_expectation(model, reduction):
    world, data = 2, rows()
    plans = plan_step(data, world, micro_batch_size=2)  # 2 ranks x 2 micro-batches of 2 rows
    step_tokens = sum(e.n_loss for e in data)
    wrapper = LossModel(model, chunk=5)
    per_rank = []
    for plan in plans:  # what each rank accumulates before the gradient all-reduce averages them
        model.zero_grad()
        for micro in plan:
            n_micro = sum(e.n_loss for e in micro)
            loss = wrapper(**collate(micro, packing=True, pad_id=0))
            (loss * micro_scale(reduction, n_micro, step_tokens, world)).backward()
        per_rank.append(grads(model).clone())
    ours = sum(per_rank) / world

    model.zero_grad()
    if reduction == "token_mean":  # every token of the step counts once: sum / N
        expected = sum(plain_sum(model, m) for p in plans for m in p) / step_tokens
    else:  # the reference: token mean per micro-batch, summed on a rank, averaged over ranks
        expected = sum(plain_sum(model, m) / sum(e.n_loss for e in m) for p in plans for m in p) / world
    expected.backward()
    assert torch.allclose(ours, grads(model), rtol=1e-4, atol=1e-6)


def test_reductions_differ_and_reference_is_larger_with_accumulation(model):
    # With 2 micro-batches per rank, the reference sums two means: about twice the token-mean gradient.
    assert micro_scale("reference", 10, 40, 2) == pytest.approx(0.1)
    assert micro_scale("token_mean", 10, 40, 2) == pytest.approx(2 / 40)
    with pytest.raises(ValueError):
        micro_scale("mean", 1, 1, 1)
