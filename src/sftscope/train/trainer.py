"""The SFT loop, readable in one sitting: `setup`, then `run_step` and `after_step` for every step, then
`finish`.

    result = train(cfg, "runs/x")                                  # what `sftscope train` does
    result = train(cfg, "runs/x", inputs=TrainInputs(rows=rows))   # tests, the lab and benchmarks

Why not TRL's `SFTTrainer` (still reachable through `to_trl_config`): the recipe needs (1) per-row weights
on token losses, (2) the paper's `reference` loss reduction next to the global token mean, emulated
whatever the hardware, (3) a data order that is a pure function of the step, so a resumed run sees exactly
the rows of an uninterrupted one, and (4) checkpoints that appear atomically in the layout a sweep reads.
TRL's loss is a fixed token mean, its sampler and resume skip batches by counting, and its checkpoints are
written in place; bending all that costs more code than this.

Memory per GPU, for one step of any model (from its config.json alone): `sftscope train CONFIG --plan`,
which traces this trainer's own step on fake tensors (`sftscope.train.memory_trace`). fp32 master weights
and AdamW's two moments take 12 B per parameter, and gradients 4 more once the backward (or an earlier
micro-step of the same step) has made them; autocast's bf16 copies of the layers' weights live through the
forward only; activation checkpointing keeps one [tokens, hidden] tensor per layer; the chunked loss holds
one chunk's logits (see `sftscope.train.loss`). Qwen3-1.7B, one GPU, one 16k-token row per step: 28.1 GiB
at the peak; in the loss's forward 28.0 GiB (params 6.4, AdamW 12.8, weight copies 2.6, activations 3.9,
loss 2.3), and the backward's last layer, with the other gradients in place, as much. At 256 rows per step
the earlier micro-steps' gradients add 6.4 GiB (34.4 GiB). On 8 GPUs under FSDP (bf16 compute through
FSDP's param_dtype instead of autocast) the same step peaks at 8.6 GiB per GPU.

Every path in the run dir comes from `sftscope.rundir.RunDir`. A run dir this trainer creates carries
RunDir's marker (only such a dir may be replaced by --overwrite), and the finished marker is written last,
after the final checkpoint and state, so `sweep --watch` knows training is over.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftscope import __version__
from sftscope.config import to_dict
from sftscope.errors import InputError
from sftscope.records import SFTRow
from sftscope.rundir import RunDir
from sftscope.train import batches
from sftscope.train.checkpoints import save_checkpoint
from sftscope.train.config import SFTConfig
from sftscope.train.distributed import (
    Dist,
    all_reduce_sum,
    barrier,
    close_dist,
    fsdp_requested,
    init_dist,
    unwrap,
    wrap,
)
from sftscope.train.encoding import Encoded, EncodeStats, encode_rows
from sftscope.train.loss import LossModel
from sftscope.train.metrics import MetricsLog, check_reporters
from sftscope.train.model import autocast_dtype, check_tied, load_model, resolve_precision
from sftscope.train.preflight import check_run_dir, make_run_dir
from sftscope.train.state import find_state, load_state, save_state
from sftscope.train.step import (
    StepBatches,
    Update,
    apply_update,
    forward_backward,
    make_optimizer,
    make_scheduler,
    step_batches,
)


@dataclass
class TrainInputs:
    """What an in-process caller hands the trainer instead of the config's model and data.

    model/tokenizer: an already-built causal LM and its tokenizer (the lab's base stage; tests).
    rows: SFT rows that replace the config's `data`.
    encoded: pre-tokenized rows that replace both `data` and `rows` (benchmarks).
    stop_after: end after this step as a kill would (no finished marker), to test resuming.
    """

    model: Any = None
    tokenizer: Any = None
    rows: list[SFTRow] | None = None
    encoded: list[Encoded] | None = None
    stop_after: int | None = None


@dataclass
class TrainResult:
    run_dir: Path
    total_steps: int
    last_step: int
    losses: list[float] = field(default_factory=list)  # one per step, from step 1 (resumed runs included)
    checkpoints: list[Path] = field(default_factory=list)
    tokens_seen: int = 0
    seconds: float = 0.0
    tokens_per_s: float = 0.0
    skipped_updates: int = 0  # updates dropped for a non-finite gradient norm, in this call
    finished: bool = False  # the last step was reached and the finished marker written
    stats: EncodeStats | None = None
    model: Any = None  # the trained model (unwrapped), for in-process callers such as `model init`


@dataclass
class Session:
    """Everything `setup` builds for the loop."""

    cfg: SFTConfig
    run: RunDir
    dist: Dist
    model: Any  # the HF model
    module: Any  # what runs forward/backward: the LossModel, sharded or DDP-wrapped
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    encoded: list[Encoded]
    total: int
    save_steps: set[int]
    autocast_dtype: Any
    save_dtype: Any
    log: MetricsLog
    result: TrainResult
    bar: Any = None
    nonfinite: int = 0  # consecutive steps with a non-finite loss or gradient norm
    started: float = field(default_factory=time.perf_counter)
    run_tokens: int = 0


def train(
    cfg: SFTConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    inputs: TrainInputs | None = None,
) -> TrainResult:
    """Run (or continue, with `resume`) one SFT run into `run_dir`."""
    inputs = inputs or TrainInputs()
    session = setup(
        cfg, RunDir(run_dir), resume=resume, overwrite=overwrite, inputs=inputs, progress=progress
    )
    try:
        for step in range(session.result.last_step, session.total):
            after_step(session, step, run_step(session, step))
            if inputs.stop_after is not None and step + 1 >= inputs.stop_after:
                break
        else:
            finish(session)
    finally:
        session.bar.close()
        session.log.close()
        close_dist(session.dist)
    result = session.result
    result.seconds = time.perf_counter() - session.started
    result.tokens_per_s = session.run_tokens / max(result.seconds, 1e-9)
    result.model = unwrap(session.module).model
    return result


def setup(
    cfg: SFTConfig, run: RunDir, *, resume: bool, overwrite: bool, inputs: TrainInputs, progress: bool = True
) -> Session:
    """Check every input, then make (or reopen) the run dir and build model, optimizer and state."""
    import torch

    check_reporters(cfg.report_to)
    fresh = check_run_dir(cfg, run, resume, overwrite)  # every rank checks before anyone writes
    dist = init_dist(fsdp_requested(cfg))
    try:
        if cfg.num_threads:
            torch.set_num_threads(min(cfg.num_threads, os.cpu_count() or 1))
        cuda = dist.device.type == "cuda"
        precision = resolve_precision(cfg, cuda)
        torch.manual_seed(cfg.seed)
        # All input checks come before the run dir is touched, so a typo never leaves a half-made run behind.
        on_meta = dist.fsdp and dist.world > 1 and not dist.main  # rank 0 reads the weights, then shares
        model, tokenizer = load_model(cfg, precision, cuda, inputs.model, inputs.tokenizer, on_meta=on_meta)
        encoded, stats = encode_inputs(cfg, tokenizer, inputs)
        total = cfg.max_steps or cfg.epochs * batches.steps_per_epoch(len(encoded), cfg.batch_size)
        try:
            save_steps = set(cfg.resolved_save_steps(total))
        except ValueError as exc:
            raise InputError(f"config save_steps: {exc}") from None
        state = find_state(run, total) if resume and not fresh else None
        barrier(dist)
        if dist.main:
            make_run_dir(cfg, run, fresh)
        barrier(dist)

        module = wrap(LossModel(model, cfg.loss_chunk_tokens), cfg, dist, precision)
        check_tied(model, cfg.model or type(model).__name__)
        fused = cuda and not dist.fsdp
        optimizer = make_optimizer(cfg, unwrap(module).parameters(), fused=fused)
        scheduler = make_scheduler(cfg, optimizer, total)
        saved: dict[str, Any] = {"step": 0, "losses": [], "tokens_seen": 0}
        if state is not None:
            saved = load_state(state, dist, module, optimizer, scheduler, total)
    except BaseException:
        close_dist(dist)
        raise
    start = saved["step"]
    log = MetricsLog(run, cfg.report_to, dist.main, start, to_dict(cfg))
    if start == 0:
        log.log(
            {
                "step": 0,
                "rows": stats.rows,
                "truncated": stats.truncated,
                "dropped": stats.dropped,
                "tokens": stats.tokens,
                "loss_tokens": stats.loss_tokens,
                "total_steps": total,
                "world": dist.world,
                "fsdp": dist.fsdp,
                "precision": precision,
                "device": str(dist.device),
            }
        )
    losses = [math.nan if x is None else float(x) for x in saved["losses"]]
    result = TrainResult(run.path, total, start, losses, tokens_seen=saved.get("tokens_seen", 0), stats=stats)
    module.train()
    return Session(
        cfg=cfg,
        run=run,
        dist=dist,
        model=model,
        module=module,
        tokenizer=tokenizer,
        optimizer=optimizer,
        scheduler=scheduler,
        encoded=encoded,
        total=total,
        save_steps=save_steps,
        autocast_dtype=autocast_dtype(precision, dist.fsdp),
        save_dtype=torch.bfloat16 if precision.startswith("bf16") else next(model.parameters()).dtype,
        log=log,
        result=result,
        bar=_progress(total, start, progress and dist.main),
    )


@dataclass
class StepOutcome:
    batch: StepBatches
    update: Update
    loss: float  # the step's global token mean (whatever the loss reduction), over all ranks


def run_step(s: Session, step: int) -> StepOutcome:
    """Forward, backward and update for 0-based `step`."""
    batch = step_batches(s.encoded, step, s.cfg, s.dist, s.tokenizer.pad_token_id or 0)
    loss_sum = forward_backward(s.module, batch.micro, s.dist, s.cfg, s.autocast_dtype)
    update = apply_update(s.module, s.optimizer, s.scheduler, s.cfg.max_grad_norm)
    loss = float(all_reduce_sum(loss_sum, s.dist)) / max(batch.loss_tokens, 1)  # the global token mean
    return StepOutcome(batch, update, loss)


def after_step(s: Session, step: int, outcome: StepOutcome) -> None:
    """Log, stop on a run of non-finite steps, and write the checkpoint and state this step asks for."""
    batch, update, loss = outcome.batch, outcome.update, outcome.loss
    cfg, result, done = s.cfg, s.result, step + 1
    result.tokens_seen += batch.tokens
    s.run_tokens += batch.tokens
    result.losses.append(loss)
    result.skipped_updates += update.skipped
    s.nonfinite = 0 if math.isfinite(loss) and not update.skipped else s.nonfinite + 1
    elapsed = time.perf_counter() - s.started
    if done % cfg.log_every == 0 or done == s.total or update.skipped:
        record = {
            "step": done,
            "epoch": batch.epoch,
            "loss": loss,
            "lr": update.lr,
            "grad_norm": update.grad_norm,
            "tokens_seen": result.tokens_seen,
            "tokens_per_s": s.run_tokens / max(elapsed, 1e-9),
            "elapsed": elapsed,
        }
        if update.skipped:
            record["skipped_update"] = True  # the gradient norm was not finite: no optimizer step
        if not math.isfinite(loss):
            record["nonfinite_loss"] = True
        s.log.log(record)
    s.bar.update(1)
    s.bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{s.run_tokens / max(elapsed, 1e-9):,.0f}")
    if s.nonfinite >= cfg.max_nonfinite_steps:
        raise InputError(
            f"{s.run}: step {done}: the loss or the gradient norm was not finite for {s.nonfinite} steps in "
            "a row (their updates were skipped), so the run stops; lower lr or check the data and start "
            "over with --overwrite (or raise max_nonfinite_steps)"
        )
    meta = {
        "step": done,
        "epoch": done / batches.steps_per_epoch(len(s.encoded), cfg.batch_size),
        "tokens_seen": result.tokens_seen,
        "loss": loss if math.isfinite(loss) else None,
    }
    if done in s.save_steps:
        path = save_checkpoint(s.run, s.dist, s.module, s.model, s.tokenizer, done, meta, s.save_dtype)
        result.checkpoints.append(path)
    if done in s.save_steps or done % cfg.state_every == 0 or done == s.total:
        losses = [x if math.isfinite(x) else None for x in result.losses]  # JSON has no NaN
        save_state(s.run, s.dist, s.module, s.optimizer, s.scheduler, {**meta, "losses": losses})
    result.last_step = done


def finish(s: Session) -> None:
    """The explicit finished marker, written after the final checkpoint and state are in place."""
    barrier(s.dist)
    if s.dist.main:
        s.run.mark_finished(
            {
                "step": s.result.last_step,
                "total_steps": s.total,
                "checkpoints": s.run.checkpoint_steps(),
                "tokens_seen": s.result.tokens_seen,
                "sftscope": __version__,
            }
        )
    s.result.finished = True


def encode_inputs(cfg: SFTConfig, tokenizer: Any, inputs: TrainInputs) -> tuple[list[Encoded], EncodeStats]:
    if inputs.encoded is not None:
        encoded = inputs.encoded
        stats = EncodeStats(
            rows=len(encoded),
            tokens=sum(len(e.ids) for e in encoded),
            loss_tokens=sum(e.n_loss for e in encoded),
        )
        return encoded, stats
    rows = inputs.rows if inputs.rows is not None else load_rows(cfg)
    return encode_rows(tokenizer, rows, cfg.max_length, cfg.overlong, cfg.data or "rows")


def load_rows(cfg: SFTConfig) -> list[SFTRow]:
    if not cfg.data:
        raise InputError(
            "config data: no data set given (set data: PATH_OR_HUB_ID in the YAML or --set data=...)"
        )
    from sftscope.data.io import read_rows

    rows = read_rows(cfg.data, column_map=cfg.column_map or None, split=cfg.split)
    return rows[: cfg.max_rows] if cfg.max_rows else rows


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc="train",
        unit="step",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
    )
