"""Token losses without materializing [T, vocab] logits, and the two loss reductions.

`chunked_token_loss` selects the positions that carry loss (the response, never the prompt), then builds
logits `chunk` positions at a time under activation checkpointing: each chunk's fp32 logits live only
inside its own forward/backward. For Qwen3-1.7B (vocab 151,936) a 16k-token row would need 10 GB of fp32
logits at once (16,384 x 151,936 x 4 B), plus as much again for their gradient; 4,096-token chunks cap it
at 2.5 GB.

Reductions over one optimizer step (micro-batches m on ranks r, token losses l, row weights w):
- `token_mean` (default): sum_{r,m,t} w*l / N, where N counts every loss token of the step on all ranks.
  Every token counts the same whatever the batch split, so 1 GPU x 8 micro-steps and 8 GPUs x 1 micro-step
  give the same gradient. Each rank knows N from the shared step plan, so nothing is all-reduced for it.
- `reference`: the paper's verl trainer: the token mean inside each micro-batch, summed (not averaged) over
  a rank's micro-batches, then averaged over ranks by the gradient all-reduce.
Data-parallel wrappers (DDP, FSDP) average gradients over ranks, so `micro_scale` multiplies by the world
size where the reduction wants a plain sum over ranks.
"""

from __future__ import annotations

from typing import Any


def micro_scale(reduction: str, micro_tokens: int, step_tokens: int, world: int) -> float:
    """The factor on a micro-batch's summed (weighted) token loss, before the ranks' gradient average."""
    if reduction == "token_mean":
        return world / max(step_tokens, 1)
    if reduction == "reference":
        return 1.0 / max(micro_tokens, 1)
    raise ValueError(f"unknown loss_reduction {reduction!r} (token_mean or reference)")


def chunked_token_loss(
    hidden: Any, lm_head: Any, targets: Any, weights: Any, chunk: int = 4096, checkpoint: bool = True
) -> Any:
    """Sum over loss positions of weight * cross-entropy; hidden [.., T, H], targets/weights [.., T]."""
    import torch
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint as ckpt

    keep = targets.reshape(-1) >= 0
    h = hidden.reshape(-1, hidden.shape[-1])[keep]
    y = targets.reshape(-1)[keep]
    w = weights.reshape(-1)[keep].to(torch.float32)

    def piece(h_part: Any, y_part: Any, w_part: Any) -> Any:
        logits = lm_head(h_part).float()
        return (F.cross_entropy(logits, y_part, reduction="none") * w_part).sum()

    # Zero terms keep every parameter in the graph when no position carries loss (an empty micro-batch),
    # so data-parallel gradient hooks still fire on this rank.
    total = hidden.sum() * 0.0 + sum(p.sum() for p in lm_head.parameters()) * 0.0
    for start in range(0, h.shape[0], chunk):
        part = (h[start : start + chunk], y[start : start + chunk], w[start : start + chunk])
        if checkpoint and h.requires_grad:
            total = total + ckpt(piece, *part, use_reentrant=False)
        else:
            total = total + piece(*part)
    return total


def count_loss_tokens(targets: Any) -> int:
    return int((targets >= 0).sum())
