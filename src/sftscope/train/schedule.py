"""Learning-rate schedules as a multiplier of the peak lr, for `torch.optim.lr_scheduler.LambdaLR`.

All three warm up linearly from 0 over `warmup_ratio` of the steps, as the reference's verl trainer does
(it keeps the warmup for its constant variant too): the update at 0-based optimizer step k uses
`lr * k / warmup` while k < warmup, so **the first update uses lr 0**, and `warmup = int(total * ratio)`
rounds down, as verl's `int(total_steps * warmup_steps_ratio)` does. `cosine` then decays to
`min_lr_ratio` at the last step (verl's cosine); `constant` stays at 1; `wsd` (warmup-stable-decay, ours)
stays at 1 and decays linearly over the last `decay_ratio` of the steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    return int(total_steps * warmup_ratio)


def lr_multiplier(
    schedule: str, total_steps: int, warmup_ratio: float, decay_ratio: float = 0.2, min_lr_ratio: float = 0.0
) -> Callable[[int], float]:
    """The multiplier for the update at 0-based optimizer step `step` (LambdaLR's convention)."""
    if schedule not in ("cosine", "constant", "wsd"):
        raise ValueError(f"unknown schedule {schedule!r} (cosine, constant or wsd)")
    warmup = warmup_steps(total_steps, warmup_ratio)
    decay_start = max(total_steps - max(1, round(decay_ratio * total_steps)), warmup)

    def multiplier(step: int) -> float:
        if step < warmup:
            return step / warmup
        if schedule == "constant":
            return 1.0
        if schedule == "cosine":
            progress = (step - warmup) / max(1, total_steps - warmup)
            return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        if step < decay_start:
            return 1.0
        progress = (step - decay_start) / max(1, total_steps - decay_start)
        return min_lr_ratio + (1 - min_lr_ratio) * (1 - min(progress, 1.0))

    return multiplier
