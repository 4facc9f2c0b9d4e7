"""The chunked loss equals the full-logits loss (value and gradient); both reductions give the
hand-computed gradient whatever the split into processes and micro-batches; LossModel is one class."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from sftscope.train.batches import collate
from sftscope.train.config import SFTConfig
from sftscope.train.distributed import Dist
from sftscope.train.encoding import Encoded
from sftscope.train.lab_model import build_model
from sftscope.train.loss import LossModel, chunked_token_loss, step_scales
from sftscope.train.step import forward_backward, step_batches


class _Tok:
    eos_token_id, pad_token_id = 1, 0

    def __len__(self) -> int:
        return 64


@pytest.fixture(scope="module")
def model():
    return build_model("micro", _Tok(), seed=0)


def rows(n: int = 8, seed: int = 1) -> list[Encoded]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        length = int(torch.randint(5, 13, (1,), generator=gen))
        prompt = int(torch.randint(1, length - 1, (1,), generator=gen))
        ids = torch.randint(2, 64, (length,), generator=gen).tolist()
        out.append(Encoded(tuple(ids), prompt, 1.0 + 0.5 * (i % 3), i))
    return out


def plain_sum(model, micro: list[Encoded]) -> torch.Tensor:
    """The hand computation: full logits per row, cross-entropy summed over response tokens, times weight."""
    total = torch.zeros(())
    for e in micro:
        logits = model(input_ids=torch.tensor([e.ids])).logits[0]
        targets = torch.tensor(e.ids[e.n_prompt :])
        total = total + e.weight * F.cross_entropy(logits[e.n_prompt - 1 : -1], targets, reduction="sum")
    return total


def grads(model) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize("chunk", [1, 3, 4096])
def test_chunked_loss_equals_full_logits_loss_in_value_and_gradient(model, chunk):
    micro = rows()[:3]
    batch = collate(micro, packing=True, pad_id=0)
    model.zero_grad()
    hidden = model.model(
        input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False
    ).last_hidden_state
    objective, summed = chunked_token_loss(
        hidden, model.lm_head, batch["targets"], batch["weights"], chunk=chunk
    )
    objective.backward()
    ours = grads(model).clone()
    model.zero_grad()
    expected = plain_sum(model, micro)
    expected.backward()
    assert torch.allclose(objective, expected, rtol=1e-5, atol=1e-5)
    assert torch.allclose(summed, expected, rtol=1e-5, atol=1e-5) and not summed.requires_grad
    assert torch.allclose(ours, grads(model), rtol=1e-4, atol=1e-6)


def test_chunked_loss_backpropagates_any_upstream_gradient(model):
    micro = rows()[:2]
    batch = collate(micro, packing=True, pad_id=0)
    hidden = torch.randn(1, batch["input_ids"].shape[1], 32, requires_grad=True)
    objective, _ = chunked_token_loss(hidden, model.lm_head, batch["targets"], batch["weights"], chunk=2)
    (objective * 3.0).backward()
    ours = hidden.grad.clone()
    hidden.grad = None
    logits = model.lm_head(hidden)[0]
    keep = batch["targets"][0] >= 0
    ce = F.cross_entropy(logits[keep], batch["targets"][0][keep], reduction="none")
    (3.0 * (ce * batch["weights"][0][keep]).sum()).backward()
    assert torch.allclose(ours, hidden.grad, rtol=1e-5, atol=1e-6)


def _our_gradient(model, data, cfg: SFTConfig, world: int) -> torch.Tensor:
    """What `world` data-parallel processes accumulate from the trainer's own `step_batches` (all of `data`
    is step 0), averaged as DDP/FSDP average them."""
    cfg = dataclasses.replace(cfg, batch_size=len(data), shuffle=False)
    wrapper = LossModel(model, chunk=5)
    per_rank = []
    for rank in range(world):
        model.zero_grad()
        micro = step_batches(data, 0, cfg, Dist(rank=rank, world=world), pad_id=0).micro
        forward_backward(wrapper, micro, Dist(rank=rank, world=1), cfg)  # world=1: no real collectives
        per_rank.append(grads(model).clone())
    return sum(per_rank) / world


@pytest.mark.parametrize("world,micro_batch_size,micro_batch_tokens", [(1, 5, 0), (2, 3, 0), (3, 1, 40)])
def test_reference_reduction_is_the_hand_computed_8x4_emulation_on_any_split(
    model, world, micro_batch_size, micro_batch_tokens
):
    data = rows(64, seed=2)  # the reference's layout at batch 64: 8 ranks x 2 micro-batches of 4 rows
    cfg = SFTConfig(
        loss_reduction="reference", micro_batch_size=micro_batch_size, micro_batch_tokens=micro_batch_tokens
    )
    ours = _our_gradient(model, data, cfg, world)
    model.zero_grad()
    expected = torch.zeros(())
    for rank in range(8):  # verl: DistributedSampler gives rank r rows r, r+8, ...; micro-batches of 4
        mine = data[rank::8]
        for start in range(0, len(mine), 4):
            group = mine[start : start + 4]
            expected = expected + plain_sum(model, group) / sum(e.n_loss for e in group)  # summed on a rank
    (expected / 8).backward()  # averaged over ranks
    assert torch.allclose(ours, grads(model), rtol=1e-4, atol=1e-7)


def test_token_mean_is_the_global_token_mean_on_any_split(model):
    data = rows(12, seed=3)
    cfg = SFTConfig(micro_batch_size=2)
    ours = _our_gradient(model, data, cfg, world=3)
    model.zero_grad()
    (plain_sum(model, data) / sum(e.n_loss for e in data)).backward()
    assert torch.allclose(ours, grads(model), rtol=1e-4, atol=1e-7)


def test_step_scales():
    data = [Encoded(tuple(range(n + 1)), 1) for n in (2, 4, 6, 8)]  # 2, 4, 6, 8 loss tokens
    assert step_scales(data, "token_mean") == [1 / 20] * 4
    # 2 virtual ranks x micro-batches of 1 row: each row is its own micro-batch, ranks averaged.
    assert step_scales(data, "reference", 2, 1) == [1 / 4, 1 / 8, 1 / 12, 1 / 16]
    # 2 virtual ranks x 2 rows: rank 0 holds rows 0 and 2 (8 tokens), rank 1 rows 1 and 3 (12 tokens).
    assert step_scales(data, "reference", 2, 2) == [1 / 16, 1 / 24, 1 / 16, 1 / 24]
    with pytest.raises(ValueError, match="loss_reduction"):
        step_scales(data, "mean")


def test_loss_model_is_one_class_and_delegates_tie_weights(model):
    one, two = LossModel(model), LossModel(build_model("micro", _Tok(), seed=1))
    assert type(one) is type(two) is LossModel and isinstance(one, torch.nn.Module)
    tied = build_model("micro", _Tok(), seed=2)
    wrapper = LossModel(tied).to("meta")  # what accelerate's cpu_ram_efficient_loading does to the module
    assert tied.lm_head.weight is not tied.model.embed_tokens.weight  # moving unties them ...
    wrapper.tie_weights()  # ... and accelerate re-ties through the module it was handed
    assert tied.lm_head.weight is tied.model.embed_tokens.weight
