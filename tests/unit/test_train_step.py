"""The step's pieces: a non-finite gradient norm skips the update; autocast never wraps the backward."""

from __future__ import annotations

import math

import torch

from sftscope.train.batches import collate
from sftscope.train.config import SFTConfig
from sftscope.train.distributed import Dist
from sftscope.train.encoding import Encoded
from sftscope.train.lab_model import build_model
from sftscope.train.loss import LossModel
from sftscope.train.step import apply_update, forward_backward, make_optimizer, make_scheduler


class _Tok:
    eos_token_id, pad_token_id = 1, 0

    def __len__(self) -> int:
        return 64


def test_a_nonfinite_gradient_norm_skips_the_update_but_advances_the_schedule():
    layer = torch.nn.Linear(3, 2)
    cfg = SFTConfig(lr=0.1, warmup_ratio=0.0)
    optimizer = make_optimizer(cfg, layer.parameters())
    scheduler = make_scheduler(cfg, optimizer, total_steps=10)
    before = [p.detach().clone() for p in layer.parameters()]
    layer(torch.ones(1, 3)).sum().backward()
    layer.weight.grad[0, 0] = math.inf
    update = apply_update(layer, optimizer, scheduler, max_grad_norm=1.0)
    assert update.skipped and not math.isfinite(update.grad_norm)
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))  # no step taken
    assert all(p.grad is None for p in layer.parameters()) and scheduler.last_epoch == 1
    layer(torch.ones(1, 3)).sum().backward()
    assert not apply_update(layer, optimizer, scheduler, max_grad_norm=1.0).skipped
    assert not torch.equal(before[0], layer.weight)


def test_autocast_wraps_the_forward_only():
    model = build_model("micro", _Tok(), seed=0)
    seen = []
    model.model.layers[0].register_full_backward_hook(
        lambda *_: seen.append(torch.is_autocast_enabled("cpu"))
    )
    batch = collate([Encoded(tuple(range(2, 12)), 4)], packing=False, pad_id=0, scales=[0.1])
    loss_sum = forward_backward(LossModel(model), [batch], Dist(), SFTConfig(), autocast_dtype=torch.bfloat16)
    assert seen == [False]  # under a backward, autocast would keep bf16 weight copies alive
    assert loss_sum > 0 and model.lm_head.weight.grad is not None


def test_one_real_step_traces_on_fake_tensors():
    """A memory planner traces the real step without allocating: no data-dependent shapes or branches."""
    from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

    batch = collate(
        [Encoded(tuple(range(2, 14)), 4), Encoded(tuple(range(2, 9)), 2)], True, 0, scales=[0.1, 0.2]
    )
    assert batch["loss_index"].tolist() == [i for i, t in enumerate(batch["targets"][0].tolist()) if t >= 0]
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        model = build_model("micro", _Tok(), seed=0)
        fake = {k: mode.from_tensor(v) for k, v in batch.items()}
        forward_backward(LossModel(model, chunk=4), [fake], Dist(), SFTConfig())
        make_optimizer(SFTConfig(), model.parameters()).step()
        assert isinstance(model.lm_head.weight.grad, FakeTensor)
