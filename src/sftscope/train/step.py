"""One optimizer step, in pieces small enough to trace on fake tensors (a memory planner does):

    batches = step_batches(encoded, step, cfg, dist, pad_id)      # this rank's micro-batches, with loss scales
    loss_sum = forward_backward(module, batches.micro, dist, cfg, autocast_dtype)
    update = apply_update(module, optimizer, scheduler, cfg.max_grad_norm)   # clip_gradients, then AdamW

Autocast wraps the forward only: under a backward it would keep its bf16 copies of the weights alive for
the whole backward (every layer's matmul weights: +2.6 GiB at Qwen3-1.7B). An update whose gradient norm is not finite is skipped (the gradients
are dropped, the schedule still advances, as the reference does) and reported as skipped.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from sftscope.train import batches
from sftscope.train.config import SFTConfig
from sftscope.train.distributed import Dist, full_tensor, grad_sync
from sftscope.train.encoding import Encoded
from sftscope.train.loss import step_scales
from sftscope.train.schedule import lr_multiplier


def make_optimizer(
    cfg: SFTConfig, params: Any, fused: bool = False, foreach: bool | None = None
) -> torch.optim.AdamW:
    """AdamW as the recipe sets it; its moments take the parameters' dtype (bf16 under bf16-pure).

    `foreach` None lets torch choose (foreach on CUDA tensors); a memory planner tracing on CPU fake tensors
    passes True to get the GPU's implementation, whose update holds one temporary the size of the moments.
    """
    return torch.optim.AdamW(
        params,
        lr=cfg.lr,
        betas=tuple(cfg.betas),
        eps=cfg.eps,
        weight_decay=cfg.weight_decay,
        fused=fused or None,
        foreach=foreach,
    )


def make_scheduler(cfg: SFTConfig, optimizer: Any, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    multiplier = lr_multiplier(cfg.schedule, total_steps, cfg.warmup_ratio, cfg.decay_ratio, cfg.min_lr_ratio)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)


@dataclass
class StepBatches:
    epoch: int
    micro: list[dict[str, Any]]  # this rank's micro-batches (CPU tensors)
    loss_tokens: int  # tokens that carry loss in the whole step, on all ranks
    tokens: int  # all tokens of the step's rows, on all ranks


def step_batches(encoded: list[Encoded], step: int, cfg: SFTConfig, dist: Dist, pad_id: int) -> StepBatches:
    """The rows of 0-based `step`, split for this rank, each row carrying its reduction scale.

    Scales are multiplied by the world size because the data-parallel gradient reduction averages ranks
    where the loss wants their sum.
    """
    epoch, idx = batches.step_rows(len(encoded), step, cfg.batch_size, cfg.shuffle, cfg.seed)
    rows = [encoded[i] for i in idx]
    scales = step_scales(rows, cfg.loss_reduction, cfg.reference_world_size, cfg.reference_micro_batch)
    scale_of = {id(e): s * dist.world for e, s in zip(rows, scales)}
    plan = batches.plan_step(rows, dist.world, cfg.micro_batch_size, cfg.micro_batch_tokens)[dist.rank]
    micro = [
        batches.collate(m, cfg.packs, pad_id, filler=rows[0], scales=[scale_of[id(e)] for e in m])
        for m in plan
    ]
    return StepBatches(
        epoch=epoch,
        micro=micro,
        loss_tokens=sum(e.n_targets for e in rows),
        tokens=sum(len(e.ids) for e in rows),
    )


def forward_backward(
    module: Any, micro: list[dict[str, Any]], dist: Dist, cfg: SFTConfig, autocast_dtype: Any = None
) -> torch.Tensor:
    """Forward and backward over this rank's micro-batches; returns its summed weighted token loss."""
    loss_sum = torch.zeros((), device=dist.device)
    for i, batch in enumerate(micro):
        batch = {k: v.to(dist.device, non_blocking=True) for k, v in batch.items()}
        last = i == len(micro) - 1
        with grad_sync(module, dist, last, cfg.grad_sync_every_micro):
            cast = (
                torch.autocast(dist.device.type, dtype=autocast_dtype)
                if autocast_dtype
                else contextlib.nullcontext()
            )
            with cast:
                objective, summed = module(**batch)
            objective.backward()
        loss_sum += summed.float()
        del objective, summed, batch
    return loss_sum


@dataclass
class Update:
    grad_norm: float  # before clipping, over all ranks
    lr: float  # the learning rate this update used
    skipped: bool  # the gradient norm was not finite, so the optimizer did not step


def clip_gradients(module: Any, max_grad_norm: float) -> torch.Tensor:
    """Clip the gradients to `max_grad_norm` (0: no clipping); returns their norm before clipping.

    Every rank passes every parameter: under FSDP the norm is a collective over the shards. The norm stays
    a tensor here, so a memory planner can trace the clip on fake tensors.
    """
    return full_tensor(
        torch.nn.utils.clip_grad_norm_(list(module.parameters()), max_grad_norm or float("inf"))
    )


def apply_update(module: Any, optimizer: Any, scheduler: Any, max_grad_norm: float) -> Update:
    grad_norm = float(clip_gradients(module, max_grad_norm))
    lr = scheduler.get_last_lr()[0]
    skipped = not math.isfinite(grad_norm)
    with warnings.catch_warnings():
        if not skipped:
            optimizer.step()
        else:  # torch warns when the schedule advances without an optimizer step; here that is the point
            warnings.filterwarnings(
                "ignore", message="Detected call of `lr_scheduler.step", category=UserWarning
            )
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return Update(grad_norm=grad_norm, lr=lr, skipped=skipped)
