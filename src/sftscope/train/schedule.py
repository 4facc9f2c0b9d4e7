"""Learning-rate schedules as a multiplier of the peak lr, for `torch.optim.lr_scheduler.LambdaLR`.

All three warm up linearly from 0 over `warmup_ratio` of the steps (the paper keeps the warmup for its
constant variant too). `cosine` then decays to `min_lr_ratio` at the last step; `constant` stays at 1;
`wsd` (warmup-stable-decay) stays at 1 and decays linearly over the last `decay_ratio` of the steps.
The multiplier at optimizer step s (0-based) is the one used for the update that produces step s + 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def lr_multiplier(
    schedule: str, total_steps: int, warmup_ratio: float, decay_ratio: float = 0.2, min_lr_ratio: float = 0.0
) -> Callable[[int], float]:
    if schedule not in ("cosine", "constant", "wsd"):
        raise ValueError(f"unknown schedule {schedule!r} (cosine, constant or wsd)")
    warmup = math.ceil(warmup_ratio * total_steps)  # verl/transformers round the warmup up, too
    decay_start = total_steps - max(1, round(decay_ratio * total_steps))

    def multiplier(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1) if warmup else 1.0
        if schedule == "constant":
            return 1.0
        if schedule == "cosine":
            progress = (step - warmup) / max(1, total_steps - warmup)
            return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        if step < max(decay_start, warmup):
            return 1.0
        progress = (step - max(decay_start, warmup)) / max(1, total_steps - max(decay_start, warmup))
        return min_lr_ratio + (1 - min_lr_ratio) * (1 - min(progress, 1.0))

    return multiplier
