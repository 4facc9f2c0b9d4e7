"""The training loss: the causal LM plus a chunked linear + cross-entropy, and the two loss reductions.

**Chunked loss.** Only positions that carry loss (the response, never the prompt) reach the LM head, and
their logits are built `chunk` positions at a time (`loss_chunk_tokens`, default 1,024). Each chunk's
gradient is computed right away, in the forward pass (softmax minus one-hot, written in place over the
logits), so one chunk's buffers exist at a time and nothing of size [tokens, vocab] is kept for the
backward: only the gradients for the hidden states [N, H] and the head's weight [V, H], in the compute
dtype. Traced for Qwen3-1.7B on one 16k-token row under bf16 autocast (`sftscope train --plan`), the loss
holds 2.28 GiB at its peak: the chunk's fp32 logits and its bf16 gradient (1,024 x 151,936 x 6 B =
0.87 GiB), lm_head's bf16 cast and its bf16 gradient (2 x 0.58 GiB; under FSDP the gathered bf16 lm_head
is used as it is), and the selected [N, H] hidden states with their gradient (0.25 GiB). Autograd through
checkpointed 4,096-token chunks (what this replaced) held three [chunk, vocab] fp32 tensors in the
recompute (logits, the log-softmax saved for the backward, its gradient): 7.8 GiB there, and on CPU a peak
RSS above TRL's (7.2 vs 6.1 GiB on a 42M-parameter Qwen3 with the full vocabulary, 16 rows of ~270
tokens; now below it, see `benchmarks/train_throughput.py --mode cpu-vocab`). torch has no fused linear +
cross-entropy and Liger's is Triton (GPU only), hence this small autograd Function.

**Reductions** over one optimizer step: each row of the step gets a scale, and the step minimises
sum over rows of scale * sum over its loss tokens of weight * cross-entropy. The scale depends only on the
step's rows, never on how this machine splits them into processes and micro-batches:
- `token_mean` (default): 1 / N, N = the loss tokens of the whole step. Every token counts the same.
- `reference` (the paper's verl trainer): the step's rows are dealt to `reference_world_size` virtual ranks
  as its DistributedSampler does (virtual rank v gets rows v, v+W, v+2W, ...), each rank's list is cut
  into micro-batches of `reference_micro_batch` consecutive rows, and each micro-batch contributes its own
  token mean; micro-batches are summed (not averaged) on a rank and the ranks are averaged. So a row's
  scale is 1 / (W * tokens of its virtual micro-batch), and 1 process, 2 CPU processes or 8 GPUs give the
  same gradient. At batch 256 that is ~8x a token mean, which changes what clipping at 1.0 does.
Data-parallel wrappers average gradients over the real ranks, so the trainer multiplies the scales by the
real world size (see `sftscope.train.step`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from sftscope.train.encoding import Encoded


def step_scales(
    rows: Sequence[Encoded], reduction: str, reference_world_size: int = 8, reference_micro_batch: int = 4
) -> list[float]:
    """The loss scale of each of one step's rows (in step order), for the given reduction."""
    if reduction == "token_mean":
        total = sum(e.n_targets for e in rows)
        return [1.0 / max(total, 1)] * len(rows)
    if reduction != "reference":
        raise ValueError(f"unknown loss_reduction {reduction!r} (token_mean or reference)")
    world, micro = reference_world_size, reference_micro_batch
    scales = [0.0] * len(rows)
    for rank in range(world):
        mine = list(range(rank, len(rows), world))
        for start in range(0, len(mine), micro):
            group = mine[start : start + micro]
            tokens = sum(rows[i].n_targets for i in group)
            for i in group:
                scales[i] = 1.0 / (world * max(tokens, 1))
    return scales


class _LinearCrossEntropy(torch.autograd.Function):
    """sum_t coef_t * CE(hidden_t @ W.T + b, y_t), with its gradient computed chunk by chunk in the forward.

    Returns (objective, per-token losses); the losses carry no gradient (they feed the log).
    """

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, coef, chunk, dtype):
        needs_grad = any(ctx.needs_input_grad[:3])
        with torch.autocast(hidden.device.type, enabled=False):
            w, h = weight.to(dtype), hidden.to(dtype)
            b = bias.to(dtype) if bias is not None else None
            n = h.shape[0]
            losses = torch.empty(n, dtype=torch.float32, device=h.device)
            grad_h = torch.empty_like(h) if needs_grad else None
            grad_w = torch.zeros_like(w) if needs_grad else None
            grad_b = torch.zeros(w.shape[0], dtype=torch.float32, device=h.device) if b is not None else None
            for start in range(0, n, chunk):
                end = min(start + chunk, n)
                y = targets[start:end]
                logits = h[start:end] @ w.T
                if b is not None:
                    logits += b
                logits = logits.float()  # the softmax in fp32, as HF's loss does
                picked = logits.gather(1, y[:, None]).squeeze(1)
                top = logits.amax(dim=1, keepdim=True)
                logits.sub_(top).exp_()
                total = logits.sum(dim=1, keepdim=True)
                losses[start:end] = (total.log() + top).squeeze(1) - picked
                if not needs_grad:
                    continue
                logits.div_(total)  # softmax
                logits[torch.arange(end - start, device=y.device), y] -= 1.0
                logits.mul_(coef[start:end, None])  # d objective / d logits
                grad = logits.to(dtype)
                del logits
                grad_h[start:end] = grad @ w
                grad_w.addmm_(grad.T, h[start:end])
                if grad_b is not None:
                    grad_b += grad.float().sum(dim=0)
                del grad  # before the next chunk's logits: one chunk's buffers at a time
        ctx.save_for_backward(grad_h, grad_w, grad_b)
        ctx.dtypes = (hidden.dtype, weight.dtype, bias.dtype if bias is not None else None)
        ctx.mark_non_differentiable(losses)
        return (losses * coef).sum(), losses

    @staticmethod
    def backward(ctx, grad_objective, _grad_losses):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        h_dtype, w_dtype, b_dtype = ctx.dtypes
        if grad_h is None:  # forward ran without grad: nothing was computed to hand back
            raise RuntimeError("the chunked loss was computed without gradients")
        if getattr(ctx, "used", False):  # the saved gradients are scaled in place below
            raise RuntimeError("the chunked loss supports one backward per forward (no retain_graph)")
        ctx.used = True
        # In place and without a data-dependent branch: no second [V, H] buffer, and the step can be traced
        # on fake tensors (a memory planner does).
        grad_h.mul_(grad_objective.to(grad_h.dtype))
        grad_w.mul_(grad_objective.to(grad_w.dtype))
        if grad_b is not None:
            grad_b = grad_b.mul_(grad_objective).to(b_dtype)
        return grad_h.to(h_dtype), grad_w.to(w_dtype), grad_b, None, None, None, None


def chunked_token_loss(
    hidden: Any,
    lm_head: Any,
    targets: Any,
    weights: Any,
    scales: Any | None = None,
    chunk: int = 1024,
    loss_index: Any | None = None,
) -> tuple[Any, Any]:
    """(objective, loss_sum) over positions with a target >= 0; hidden [.., T, H], the rest [.., T].

    objective = sum of scale * weight * cross-entropy (what the step minimises; scales default to 1);
    loss_sum = sum of weight * cross-entropy, detached (for the token mean in the log).
    `loss_index` (the flat positions with a target, from `collate`) spares a boolean mask, whose
    data-dependent shape would stop the step from being traced on fake tensors.
    """
    if loss_index is None:
        loss_index = (targets.reshape(-1) >= 0).nonzero().squeeze(1)
    h = hidden.reshape(-1, hidden.shape[-1]).index_select(0, loss_index)
    y = targets.reshape(-1).index_select(0, loss_index)
    w = weights.reshape(-1).index_select(0, loss_index).to(torch.float32)
    coef = w * scales.reshape(-1).index_select(0, loss_index).to(torch.float32) if scales is not None else w
    device = hidden.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else lm_head.weight.dtype
    objective, losses = _LinearCrossEntropy.apply(
        h, lm_head.weight, getattr(lm_head, "bias", None), y, coef, chunk, dtype
    )
    return objective, (losses * w).sum().detach()


class LossModel(torch.nn.Module):
    """The causal LM plus the chunked loss in one module, so FSDP's root unshards lm_head for the loss.

    forward(...) -> (objective, loss_sum): see `chunked_token_loss`. The model's own LM-head forward (and
    any logit post-processing in it) is bypassed: the loss reads the output embedding's weight directly.
    """

    def __init__(self, model: Any, chunk: int = 1024) -> None:
        super().__init__()
        self.model = model
        self.chunk = chunk
        self._no_split_modules = getattr(model, "_no_split_modules", None)  # FSDP auto-wrap reads it

    def forward(
        self,
        input_ids,
        targets,
        weights,
        scales=None,
        position_ids=None,
        attention_mask=None,
        loss_index=None,
    ):
        out = self.model.get_decoder()(
            input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask, use_cache=False
        )
        head = self.model.get_output_embeddings()
        return chunked_token_loss(
            out.last_hidden_state, head, targets, weights, scales, self.chunk, loss_index=loss_index
        )

    # accelerate's FSDP2 loading (fsdp_cpu_ram_efficient_loading) moves the prepared module to the meta
    # device and then re-ties weights through `tie_weights()` on *this* module. Without the delegation the
    # embedding and lm_head became two parameters, and lm_head's gradient was never applied.
    def tie_weights(self, *args: Any, **kwargs: Any) -> Any:
        return self.model.tie_weights(*args, **kwargs)

    def get_input_embeddings(self) -> Any:
        return self.model.get_input_embeddings()

    def get_output_embeddings(self) -> Any:
        return self.model.get_output_embeddings()
