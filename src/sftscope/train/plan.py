"""`sftscope train CONFIG --plan`: will this run fit, per GPU, before anything is downloaded?

It needs only the model's config.json. `memory_trace.trace_step` traces one real training step of that model
on fake tensors, as one GPU of N runs it (N > 1: the trainer's FSDP2 over a fake process group of N ranks;
see there for what is traced and how); this module turns the trace into a per-GPU plan:

- The micro-step traced is the last of an optimizer step: with several micro-steps per GPU, the earlier ones
  already hold the gradients (sharded under FSDP, which reduce-scatters every micro-step by default).
- `fits` leaves 10% of the card to what the trace cannot see (CUDA context, cuBLAS/NCCL workspaces,
  allocator fragmentation).
- When the configured micro-batch does not fit, the plan finds the largest loss chunk (then the largest
  micro-batch) that does; when it fits, the largest micro-batch at the configured chunk. Candidates are
  estimated by scaling the traced timeline (activations grow with the tokens, the loss chunk with the chunk)
  and the answer is then traced itself, so a suggestion is never an extrapolation.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sftscope.errors import InputError
from sftscope.train.config import SFTConfig
from sftscope.train.memory_trace import CATEGORIES, StepTrace, trace_step
from sftscope.train.model import load_model_config, resolve_precision

GIB = 2**30
HEADROOM = 0.10  # of the card, for what a trace cannot see
MIN_CHUNK = 1024  # smaller loss chunks cost more lm_head launches than the memory they save
TOKEN_STEP = 1024  # suggested micro-batch sizes are multiples of this
MAX_TOKENS = 1 << 17  # the search stops at 131,072 tokens per micro-batch: far past any row we train
PRECISION_WORDS = {
    "bf16": "bf16 autocast, fp32 master weights",
    "bf16-pure": "bf16 weights, grads and AdamW state",
    "fp32": "fp32",
}


@dataclass
class MemoryPlan:
    model: str
    n_params: int
    gpus: int
    gpu_memory_gib: float
    precision: str
    activation_checkpointing: bool
    rows_per_micro_batch: int
    micro_batch_tokens: int
    loss_chunk_tokens: int
    micro_steps: int  # per GPU per optimizer step
    tokens_per_step: int  # at most: batch_size x max_length
    categories_gib: dict[str, float]  # per GPU, at the peak
    peak_gib: float  # per GPU
    budget_gib: float
    fits: bool
    fit_micro_batch_tokens: int | None = None  # None: not even TOKEN_STEP tokens fit
    fit_loss_chunk_tokens: int | None = None
    fit_peak_gib: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_memory(text: str) -> float:
    """'80GB', '80GiB', '80G' or '80' -> 80.0 GiB: a GPU's nominal GB are GiB (an "80 GB" H100 has 80 GiB)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(gib|gb|g)?\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise InputError(f"--gpu-memory {text!r}: expected a size such as 80GB")
    return float(match.group(1))


def plan_memory(
    cfg: SFTConfig,
    gpus: int = 1,
    gpu_memory_gib: float = 80.0,
    model_config: Any = None,
    search: bool = True,
) -> MemoryPlan:
    """Trace one step of `cfg`'s model and lay out its peak memory per GPU on `gpus` GPUs."""
    if gpus < 1:
        raise InputError(f"--gpus {gpus}: expected at least 1")
    model_config = model_config if model_config is not None else load_model_config(cfg)
    if cfg.micro_batch_tokens > 0:  # one packed micro-batch; a row longer than the budget goes alone
        rows, seq = 1, max(cfg.micro_batch_tokens, cfg.max_length)
        micro_steps = math.ceil(cfg.batch_size * cfg.max_length / (gpus * seq))
    else:
        rows, seq = cfg.micro_batch_size, cfg.max_length
        micro_steps = math.ceil(math.ceil(cfg.batch_size / gpus) / cfg.micro_batch_size)
    chunk = cfg.loss_chunk_tokens
    accumulating = micro_steps > 1
    budget = gpu_memory_gib * (1 - HEADROOM)
    trace = trace_step(model_config, cfg, rows, seq, chunk, accumulating, gpus)
    peak, parts = _per_gpu(trace)
    plan = MemoryPlan(
        model=cfg.model or getattr(model_config, "_name_or_path", "") or model_config.model_type,
        n_params=trace.n_params,
        gpus=gpus,
        gpu_memory_gib=gpu_memory_gib,
        precision=resolve_precision(cfg, cuda=True),
        activation_checkpointing=cfg.activation_checkpointing is not False,
        rows_per_micro_batch=rows,
        micro_batch_tokens=rows * seq,
        loss_chunk_tokens=chunk,
        micro_steps=micro_steps,
        tokens_per_step=cfg.batch_size * cfg.max_length,
        categories_gib={k: round(v / GIB, 3) for k, v in parts.items()},
        peak_gib=round(peak / GIB, 3),
        budget_gib=round(budget, 3),
        fits=peak / GIB <= budget,
    )
    if rows > 1:
        plan.notes.append("rows are padded to max_length: the worst case of a length-sorted micro-batch")
    if search:
        _search_fit(plan, trace, model_config, cfg, accumulating)
    return plan


def _per_gpu(trace: StepTrace, scale: list[float] | None = None) -> tuple[int, dict[str, int]]:
    """The traced peak and its categories (FSDP's buffers only when there is FSDP)."""
    peak, parts = trace.peak(scale)
    if trace.gpus == 1:
        parts.pop("fsdp buffers")
    return peak, parts


def _estimate(trace: StepTrace, tokens: int, chunk: int, new_tokens: int, new_chunk: int) -> float:
    """Peak GiB per GPU with the activations and the loss chunk scaled to a new micro-batch and chunk
    (a first guess for the search: the answer is traced before it is given)."""
    scale = [1.0] * len(CATEGORIES)
    scale[CATEGORIES.index("activations")] = new_tokens / tokens
    scale[CATEGORIES.index("loss chunk")] = min(new_chunk, new_tokens) / min(chunk, tokens)
    return _per_gpu(trace, scale)[0] / GIB


def _search_fit(
    plan: MemoryPlan, trace: StepTrace, model_config: Any, cfg: SFTConfig, accumulating: bool
) -> None:
    tokens, chunk, gpus, budget = plan.micro_batch_tokens, plan.loss_chunk_tokens, plan.gpus, plan.budget_gib

    def fits(t: int, c: int) -> bool:
        return _estimate(trace, tokens, chunk, t, c) <= budget

    def largest_tokens(c: int) -> int:
        lo, hi = 0, MAX_TOKENS // TOKEN_STEP  # in units of TOKEN_STEP; fits() falls as tokens grow
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(mid * TOKEN_STEP, c) else (lo, mid - 1)
        return lo * TOKEN_STEP

    if plan.fits:
        candidate: tuple[int, int] | None = (max(largest_tokens(chunk), tokens), chunk)
    else:
        chunks = [c for c in (chunk >> i for i in range(12)) if c >= MIN_CHUNK] or [chunk]
        good = [c for c in chunks if fits(tokens, c)]
        if good:
            candidate = (tokens, good[0])
        else:
            small = min(chunks[-1], chunk)
            found = largest_tokens(small)
            candidate = (found, min(small, found)) if found else None
    for _ in range(4):  # trace the candidate itself; step down while the trace disagrees
        if candidate is None:
            break
        t, c = candidate
        if (t, c) == (tokens, chunk) and plan.fits:
            peak = plan.peak_gib * GIB
        else:
            peak, _ = _per_gpu(trace_step(model_config, cfg, 1, t, c, accumulating, gpus))
        if peak / GIB <= budget:
            plan.fit_micro_batch_tokens, plan.fit_loss_chunk_tokens = t, c
            plan.fit_peak_gib = round(peak / GIB, 3)
            if t >= MAX_TOKENS:
                plan.notes.append(f"the search stops at {MAX_TOKENS:,} tokens per micro-batch")
            return
        smaller = (int(t * 0.9) // TOKEN_STEP) * TOKEN_STEP
        candidate = (smaller, min(c, smaller)) if smaller >= TOKEN_STEP else None
    if plan.fits:  # the configured micro-batch is traced and fits
        plan.fit_micro_batch_tokens, plan.fit_loss_chunk_tokens, plan.fit_peak_gib = (
            tokens,
            chunk,
            plan.peak_gib,
        )
        return
    if candidate is None:
        fixed = sum(v for k, v in plan.categories_gib.items() if k not in ("activations", "loss chunk"))
        plan.notes.append(
            f"nothing fits: weights, gradients, optimizer state, weight copies and FSDP buffers alone take "
            f"{fixed:.1f} of the {budget:.1f} GiB budget (more GPUs shard only the first three; bf16-pure "
            "has no weight copies)"
        )
    else:
        plan.notes.append("no verified fit found")


def format_plan(plan: MemoryPlan) -> str:
    """The plan as a short table for the terminal."""
    size = f"{plan.n_params / 1e9:.2f} B" if plan.n_params >= 1e9 else f"{plan.n_params / 1e6:.1f} M"
    lines = [
        f"{plan.model}: {size} parameters, {PRECISION_WORDS.get(plan.precision, plan.precision)}, "
        f"activation checkpointing {'on' if plan.activation_checkpointing else 'off'}",
        f"micro-batch {plan.rows_per_micro_batch} x {plan.micro_batch_tokens // plan.rows_per_micro_batch:,} "
        f"tokens, loss chunk {plan.loss_chunk_tokens:,}; {plan.gpus} GPU{'s' if plan.gpus > 1 else ''} "
        f"(FSDP when > 1), {plan.micro_steps} micro-step{'s' if plan.micro_steps != 1 else ''} per GPU; "
        f"up to {plan.tokens_per_step:,} tokens per step",
        "peak memory per GPU (one training step traced on fake tensors):",
    ]
    for name, gib in plan.categories_gib.items():
        lines.append(f"  {name:<14}{gib:>9.2f} GiB")
    lines.append(f"  {'total':<14}{plan.peak_gib:>9.2f} GiB of {plan.gpu_memory_gib:g} GiB")
    verdict = "yes" if plan.fits else "NO"
    lines.append(
        f"fits: {verdict} (budget {plan.budget_gib:.1f} GiB: {HEADROOM:.0%} left for the CUDA context etc.)"
    )
    if plan.fit_micro_batch_tokens:
        lines.append(
            f"would fit: micro_batch_tokens {plan.fit_micro_batch_tokens:,} with loss_chunk_tokens "
            f"{plan.fit_loss_chunk_tokens:,} (traced peak {plan.fit_peak_gib:.2f} GiB)"
        )
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines)
