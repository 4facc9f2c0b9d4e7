"""`LabConfig`: the sizes of the CPU mini-lab (`make demo`), chosen from measurements (docs/lab.md).

Each number carries the reason it is what it is. Resolution follows the rest of the package: these defaults,
then `sftscope lab --config x.yaml`, then `--set key=value`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ARMS = ("direct", "cot")  # direct: the solution path only; cot: the full search trace with dead ends


@dataclass
class LabConfig:
    out: str = "runs/lab"
    # direct learns at this scale; cot (search traces) needed ~10M tokens in docs/lab.md, far past a CPU budget
    arms: list[str] = field(default_factory=lambda: ["direct"])
    seed: int = 0
    threads: int = 2  # the lab targets a 2-core machine; more threads than cores only thrash

    # (a) base model: a ~1.7M-parameter Qwen3 with a short-answer procedural stage (train's `model init`)
    preset: str = "tiny"
    base_steps: int = 1500  # ~24 short items per step; docs/lab.md: ~2.5 min on an idle 2-core machine
    base_items: int = 3000  # distinct training items per procedural family for the base stage
    corpus: list[int] = field(default_factory=lambda: [1500, 300])  # tokenizer corpus: Countdown rows, items

    # (b) Countdown data, drawn like the lab's `countdown3` eval task (3 numbers from 1-10, target <= 100):
    # docs/lab.md measured that 3 numbers are learnable at this scale in minutes; 4 numbers are much harder.
    n_train: int = 8000  # problems; held-out eval problems are excluded by construction (split="train")
    k_min: int = 3
    k_max: int = 3
    max_number: int = 10
    replay: float = 0.2  # share of base-stage items mixed into SFT data, so cross-domain dips can recover

    # (c) SFT. Measured on an idle 2-core machine (dynamic padding, ~10k tokens/s): with 16 rows per step,
    # Countdown (3 numbers) went 0 -> 13.5% after 1000 steps and 0 -> 32.5% after 2000 (411 s), while the
    # cross-domain families dipped and then recovered. 2000 steps keep `make demo` near 11 minutes on an idle
    # machine (the SFT stage took 411 s on 2026-11-26, 657 s on a slower day).
    sft_steps: int = 2000
    batch_size: int = (
        16  # rows per optimizer step: many small updates learn most per CPU-second (docs/lab.md)
    )
    lr: float = 1e-3  # a 1.7M-parameter model after a brief base stage needs a large lr; 5e-5 barely moves it
    n_checkpoints: int = 6  # log-spaced: S/32, S/16, ..., S (plus the base as step 0)

    # (d) sweep
    limit: int = 200  # examples per task: Countdown has 200 held-out problems, each lab family 100
    max_new_tokens: int = 0  # >0 caps every task (for quick runs); 0: task defaults, Countdown capped per arm
    batch_gen: int = 64  # prompts per generate() call on CPU

    def __post_init__(self) -> None:
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown or not self.arms:
            raise ValueError(f"arms: {unknown or 'none'} (choose from {', '.join(ARMS)})")
        if not 0 <= self.replay < 1:
            raise ValueError("replay must be in [0, 1)")
        if self.base_steps < 0 or len(self.corpus) != 2:
            raise ValueError(
                "base_steps must be >= 0 and corpus two counts [countdown_rows, items_per_family]"
            )
        for name in ("base_items", "n_train", "sft_steps", "batch_size", "n_checkpoints", "limit", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")

    def save_steps(self) -> list[int]:
        """Log-spaced checkpoints ending at the last step: S/2^(n-1), ..., S/2, S."""
        steps = {max(1, round(self.sft_steps / 2**k)) for k in range(self.n_checkpoints)}
        return sorted(steps)
