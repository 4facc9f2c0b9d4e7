"""`SFTConfig`: every knob of a training run, with the paper's recipe as the defaults.

Resolution is one way (sftscope.config.load_config): these defaults, then the YAML file, then `--set k=v`.
`to_trl_config(cfg)` is the documented bridge for users who prefer TRL's `SFTTrainer`; it maps the same
hyperparameters onto `trl.SFTConfig`. What TRL cannot express (per-row weights, the reference loss
reduction) is listed in sftscope/train/trainer.py, which explains why our own loop is the default.

Two numerical recipes, both first-class (docs/paper.md § Training recipe):
- The defaults are the better-engineered choice for your own runs: fp32 master weights with bf16 autocast on
  GPU (`precision: auto`) and the global token mean (`loss_reduction: token_mean`), so every response token
  counts the same whatever the batch split and gradient clipping sees a gradient of the usual scale.
- The paper's runs (every configs/sft/ file but the lab's) train as the reference trainer did:
  `precision: bf16-pure` (weights and AdamW states in bf16) and `loss_reduction: reference` (the token mean
  of each 4-row micro-batch, summed over a rank's micro-batches, averaged over 8 ranks). The reference
  reduction is emulated on any hardware: `reference_world_size` x `reference_micro_batch` name the virtual
  layout, so 1 process, 2 CPU processes and 8 GPUs produce the same gradient for the same step.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

PAPER_SAVE_STEPS = (10, 20, 40, 80, 160, 320, 480, 640)  # evaluated in the paper, for 640 steps in all
PAPER_TOTAL_STEPS = 640
REPORTERS = ("tensorboard", "wandb", "mlflow")
# transformers' attention backends; a hub kernel ("kernels-community/flash-attn") is also accepted.
ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flex_attention", "flash_attention_2", "flash_attention_3")
FLOAT32_MAX = 3.4028234663852886e38  # a hyperparameter beyond this overflows fp32/bf16 arithmetic
MAX_THREADS = 1024  # far above any real core count; larger values are typos (torch would try to spawn them)


@dataclass
class SFTConfig:
    """One SFT run. Field comments say why a default is what it is."""

    model: str = ""  # base model: a local HF dir or a hub id; recorded so a sweep evaluates it as step 0
    data: str = ""  # parquet / jsonl / HF dataset dir or id with the canonical (or the paper's) columns
    column_map: dict[str, str] = field(default_factory=dict)  # rename source columns, e.g. {prompt: messages}
    split: str = "train"
    max_rows: int = 0  # >0: train on the first N rows only (Table 1's 2.5k subset is the first 2,560)
    chat_template: str | None = None  # a Jinja file, for tokenizers that ship without a chat template
    max_length: int = 20000  # the reference's prompt 3,072 + response 16,384, rounded as in the paper
    overlong: Literal["truncate", "drop"] = "truncate"  # truncate keeps the prompt and cuts the response
    epochs: int = 8
    max_steps: int = 0  # 0: epochs x steps per epoch; >0 stops (or cycles epochs) at this step
    batch_size: int = 256  # rows per optimizer step, over all devices and accumulation
    micro_batch_size: int = 4  # rows per device per forward (the reference: 4 per GPU)
    micro_batch_tokens: int = 0  # >0: fill micro-batches up to this many tokens instead of a row count
    # Padding-free packing (one sequence per micro-batch, position_ids restart per row) pays off only with
    # varlen flash-attention kernels. With SDPA the packed rows get a dense block-diagonal mask, so attention
    # costs (sum of lengths)^2 instead of sum(length^2): on the CPU lab, length-sorted dynamic padding was
    # 1.93x faster (10.4k vs 5.4k tokens/s, same losses). None: pack only with a flash-attention backend.
    packing: bool | None = None
    shuffle: bool = False  # the paper keeps a fixed order: step k always sees rows 256k..256k+255
    seed: int = 0
    lr: float = 5e-5
    schedule: Literal["cosine", "constant", "wsd"] = "cosine"
    warmup_ratio: float = 0.1  # linear warmup from 0, also for the constant schedule (paper)
    decay_ratio: float = 0.2  # wsd only: the last 20% of steps decay linearly to min_lr
    min_lr_ratio: float = 0.0  # cosine and wsd end at lr * min_lr_ratio (the paper: 0)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.01
    eps: float = 1e-8
    max_grad_norm: float = 1.0  # 0 disables clipping
    max_nonfinite_steps: int = 3  # stop after this many steps in a row with a non-finite loss or grad norm
    loss_reduction: Literal["token_mean", "reference"] = "token_mean"  # see sftscope/train/loss.py
    reference_world_size: int = (
        8  # `reference` only: the reference's ranks (8 GPUs), emulated on any hardware
    )
    reference_micro_batch: int = 4  # `reference` only: rows per micro-batch on each of those ranks
    precision: Literal["auto", "fp32", "bf16", "bf16-pure"] = "auto"  # auto: bf16 on CUDA, fp32 on CPU
    activation_checkpointing: bool | None = None  # None: on with CUDA, off on CPU
    attn_implementation: str = "sdpa"  # "flash_attention_2" uses varlen kernels for packed rows
    trust_remote_code: bool = False  # run the model repo's own Python (InternLM2.5 needs it); off for safety
    loss_chunk_tokens: int = 1024  # logits are built this many tokens at a time, never [T, vocab] at once
    # Distributed: under torchrun, data parallel (DDP) by default; fsdp shards parameters, gradients and AdamW
    # state with torch's fully_shard per decoder layer and at the root, on CPU (gloo) and GPU (nccl) alike.
    fsdp: bool = False
    fsdp_reshard_after_forward: bool = True  # ZeRO-3: free each layer's gathered weights after its forward
    # Reduce-scatter gradients after every micro-batch, so no rank ever holds unsharded gradients across
    # micro-steps (false saves communication at the cost of full-size gradients on every rank).
    grad_sync_every_micro: bool = True
    reduce_dtype: Literal["fp32", "bf16"] = "fp32"  # FSDP gradient reduction dtype (the reference: fp32)
    save_steps: list[int] | None = None  # None: the paper's steps scaled to this run's length
    save_every: int = 0  # >0: save every N steps instead of a list
    save_final: bool = True  # the last step is always a checkpoint, so a sweep sees the end of training
    state_every: int = 50  # resumable state every N steps (and at every checkpoint)
    log_every: int = 1
    report_to: list[str] = field(default_factory=list)  # any of tensorboard, wandb, mlflow
    num_threads: int = 0  # CPU threads for torch; 0 keeps torch's default

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # inf, nan or 1e300 would train on NaN and "succeed"
            value = getattr(self, f.name)
            numbers = value if f.name == "betas" and isinstance(value, list) else [value]
            for x in numbers:
                if isinstance(x, float) and not (math.isfinite(x) and abs(x) <= FLOAT32_MAX):
                    raise ValueError(f"{f.name} must be a finite number within float32's range, got {x!r}")
        checks = [
            (self.max_length > 0, "max_length must be > 0"),
            (self.epochs > 0, "epochs must be > 0"),
            (self.max_steps >= 0, "max_steps must be >= 0"),
            (self.max_rows >= 0, "max_rows must be >= 0"),
            (self.batch_size > 0, "batch_size must be > 0"),
            (self.micro_batch_size > 0, "micro_batch_size must be > 0"),
            (self.micro_batch_tokens >= 0, "micro_batch_tokens must be >= 0"),
            (self.lr > 0, "lr must be > 0"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
            (0 < self.decay_ratio <= 1, "decay_ratio must be in (0, 1]"),
            (0 <= self.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]"),
            (
                len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
                "betas must be two numbers in [0, 1)",
            ),
            (self.weight_decay >= 0 and self.eps > 0, "weight_decay must be >= 0 and eps > 0"),
            (self.max_grad_norm >= 0, "max_grad_norm must be >= 0"),
            (self.loss_chunk_tokens > 0, "loss_chunk_tokens must be > 0"),
            (self.save_every >= 0 and self.state_every > 0, "save_every must be >= 0, state_every > 0"),
            (self.log_every > 0, "log_every must be > 0"),
            (
                0 <= self.num_threads <= MAX_THREADS,
                f"num_threads must be in [0, {MAX_THREADS}] (0: torch's default)",
            ),
            (self.max_nonfinite_steps > 0, "max_nonfinite_steps must be > 0"),
            (
                self.reference_world_size > 0 and self.reference_micro_batch > 0,
                "reference_world_size and reference_micro_batch must be > 0",
            ),
            (
                self.attn_implementation in ATTN_IMPLEMENTATIONS or "/" in self.attn_implementation,
                f"attn_implementation {self.attn_implementation!r} is unknown "
                f"(choose from {', '.join(ATTN_IMPLEMENTATIONS)}, or a hub kernel such as kernels-community/flash-attn)",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.save_steps is not None and any(s <= 0 for s in self.save_steps):
            raise ValueError("save_steps must be positive step numbers")
        unknown = [r for r in self.report_to if r not in REPORTERS]
        if unknown:
            raise ValueError(f"report_to: unknown {unknown} (choose from {', '.join(REPORTERS)})")

    @property
    def packs(self) -> bool:
        """Whether micro-batches are packed (see `packing`)."""
        return self.packing if self.packing is not None else self.attn_implementation.startswith("flash")

    def resolved_save_steps(self, total_steps: int) -> list[int]:
        """The steps that get a checkpoint. Raises ValueError for an explicit step past the end."""
        if self.save_steps is not None:
            late = [s for s in self.save_steps if s > total_steps]
            if late:
                raise ValueError(
                    f"save_steps {late} are past the last step {total_steps} "
                    "(lower them, or raise epochs/max_steps)"
                )
            steps = set(self.save_steps)
        elif self.save_every > 0:
            steps = set(range(self.save_every, total_steps + 1, self.save_every))
        else:
            steps = {max(1, round(s * total_steps / PAPER_TOTAL_STEPS)) for s in PAPER_SAVE_STEPS}
        if self.save_final:
            steps.add(total_steps)
        return sorted(steps)


def to_trl_config(cfg: SFTConfig, output_dir: str, *, world_size: int = 1) -> Any:
    """The same hyperparameters as a `trl.SFTConfig`, for users who train with TRL's `SFTTrainer`.

    Kept in TRL: optimizer, schedule, batch (via gradient accumulation), length, precision, checkpointing,
    completion-only loss on prompt/completion rows, sequential order. Not expressible there: per-row weights,
    `loss_reduction: reference`, and our exact data order across resumes; TRL's own loss is a token mean over
    the accumulated batch (`average_tokens_across_devices`), which matches our default.
    """
    import torch
    from trl import SFTConfig as TRLSFTConfig

    per_step = cfg.micro_batch_size * world_size
    if cfg.batch_size % per_step:
        raise ValueError(
            f"batch_size {cfg.batch_size} is not a multiple of micro_batch_size x world_size {per_step}"
        )
    schedules = {"cosine": "cosine", "constant": "constant_with_warmup", "wsd": "warmup_stable_decay"}
    kwargs: dict[str, Any] = {}
    if cfg.schedule == "wsd":
        kwargs["lr_scheduler_kwargs"] = {"num_decay_steps": 0, "min_lr_ratio": cfg.min_lr_ratio}
    elif cfg.schedule == "cosine" and cfg.min_lr_ratio > 0:
        kwargs["lr_scheduler_type"] = "cosine_with_min_lr"
        kwargs["lr_scheduler_kwargs"] = {"min_lr_rate": cfg.min_lr_ratio}
    cuda = torch.cuda.is_available()
    bf16 = cfg.precision in ("bf16", "bf16-pure") or (cfg.precision == "auto" and cuda)
    checkpointing = cfg.activation_checkpointing if cfg.activation_checkpointing is not None else cuda
    # transformers 5 renamed gradient_checkpointing; keep older versions working too.
    names = {f.name for f in dataclasses.fields(TRLSFTConfig)}
    kwargs[
        "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    ] = checkpointing
    return TRLSFTConfig(
        output_dir=output_dir,
        learning_rate=cfg.lr,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=cfg.batch_size // per_step,
        lr_scheduler_type=kwargs.pop("lr_scheduler_type", schedules[cfg.schedule]),
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the total steps
        weight_decay=cfg.weight_decay,
        adam_beta1=cfg.betas[0],
        adam_beta2=cfg.betas[1],
        adam_epsilon=cfg.eps,
        max_grad_norm=cfg.max_grad_norm,
        max_length=cfg.max_length,
        truncation_mode="keep_start",
        completion_only_loss=True,
        padding_free=False,  # TRL enforces max_length only when padding (or with its own packing)
        train_sampling_strategy="random" if cfg.shuffle else "sequential",
        seed=cfg.seed,
        bf16=bf16,
        save_steps=cfg.save_every or 500,
        logging_steps=cfg.log_every,
        report_to=list(cfg.report_to) or "none",
        use_cpu=not cuda,
        **kwargs,
    )
