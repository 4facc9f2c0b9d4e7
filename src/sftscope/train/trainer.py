"""The SFT loop: a lean loop over accelerate, readable in one sitting.

Why not TRL's `SFTTrainer` (still reachable through `to_trl_config`): the recipe needs (1) per-row weights
on token losses, (2) the paper's `reference` loss reduction next to the correct global token mean, with the
step's token count known before the first micro-batch, (3) a data order that is a pure function of the
step, so a resumed run sees exactly the rows of an uninterrupted one, and (4) checkpoints that appear
atomically in the layout a sweep reads. TRL's loss is a fixed token mean, its sampler and resume skip
batches by counting, and its checkpoints are written in place; bending all that costs more code than this.

Memory for long rows (Qwen3-1.7B, 16k tokens, one 80 GB GPU, bf16 autocast, fp32 master weights):
weights 4 B + grads 4 B + AdamW 8 B per parameter = 16 B x 1.72 B = 27.5 GB (FSDP2 divides it by the
number of GPUs). Activation checkpointing keeps one [T, H] bf16 tensor per layer: 16,384 x 2,048 x 2 B x 28
layers = 1.9 GB, plus one layer's recompute (MLP 16,384 x 6,144 x 2 B x 3 = 0.6 GB; attention via SDPA /
flash is O(T)). The loss builds logits 4,096 positions at a time (2.5 GB fp32, see loss.py) instead of
20 GB for the full [T, V] logits and their gradient. Total ~35 GB; no row is ever padded to max_length.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftscope.config import save_config, to_dict
from sftscope.errors import InputError
from sftscope.records import SFTRow
from sftscope.train import batches, checkpoints
from sftscope.train.config import SFTConfig
from sftscope.train.encoding import Encoded, EncodeStats, encode_rows, prepare_tokenizer
from sftscope.train.loss import chunked_token_loss, micro_scale
from sftscope.train.metrics import MetricsLog
from sftscope.train.schedule import lr_multiplier


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
    stats: EncodeStats | None = None
    model: Any = None  # the trained model (unwrapped), for in-process callers such as `model init`


def train(
    cfg: SFTConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    rows: list[SFTRow] | None = None,
    model: Any = None,
    tokenizer: Any = None,
    stop_after: int | None = None,
    progress: bool = True,
    encoded: list[Encoded] | None = None,
) -> TrainResult:
    """Run (or continue) one SFT run into `run_dir`. `stop_after` ends after that step, as a kill would.

    `rows` replaces the config's data set; `encoded` (pre-tokenized rows, for benchmarks) replaces both.
    """
    import torch
    from accelerate import Accelerator

    run_dir = Path(run_dir)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    cuda = torch.cuda.is_available()
    precision = cfg.precision if cfg.precision != "auto" else ("bf16" if cuda else "fp32")
    accelerator = Accelerator(cpu=not cuda, mixed_precision="bf16" if precision == "bf16" else "no")
    fresh = _check_run_dir(cfg, run_dir, resume, overwrite)  # every rank checks before anyone writes
    torch.manual_seed(cfg.seed)

    # All input checks come before the run dir is touched, so a typo never leaves a half-made run behind.
    model, tokenizer = _load_model(cfg, model, tokenizer, precision, cuda)
    source = cfg.data or "rows"
    if encoded is None:
        encoded, stats = encode_rows(
            tokenizer, rows if rows is not None else load_rows(cfg), cfg.max_length, cfg.overlong, source
        )
    else:
        stats = EncodeStats(
            rows=len(encoded),
            tokens=sum(len(e.ids) for e in encoded),
            loss_tokens=sum(e.n_loss for e in encoded),
        )
    total = cfg.max_steps or cfg.epochs * batches.steps_per_epoch(len(encoded), cfg.batch_size)
    try:
        save_steps = set(cfg.resolved_save_steps(total))
    except ValueError as exc:
        raise InputError(f"config save_steps: {exc}") from None
    state = checkpoints.find_state(run_dir) if resume and not fresh else None
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _make_run_dir(cfg, run_dir, fresh)
    accelerator.wait_for_everyone()

    wrapper = LossModel(model, cfg.loss_chunk_tokens)
    optimizer = torch.optim.AdamW(
        wrapper.parameters(),
        lr=cfg.lr,
        betas=tuple(cfg.betas),
        eps=cfg.eps,
        weight_decay=cfg.weight_decay,
        fused=cuda or None,
    )
    wrapper, optimizer = accelerator.prepare(wrapper, optimizer)
    multiplier = lr_multiplier(cfg.schedule, total, cfg.warmup_ratio, cfg.decay_ratio, cfg.min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
    accelerator.register_for_checkpointing(scheduler)

    start, history, tokens_seen = 0, [], 0
    if state is not None:
        saved = checkpoints.load_state(accelerator, state)
        start, history, tokens_seen = saved["step"], saved.get("losses", []), saved.get("tokens_seen", 0)
    log = MetricsLog(run_dir, cfg.report_to, accelerator.is_main_process, start, to_dict(cfg))
    if accelerator.is_main_process and start == 0:
        log.log(
            {
                "step": 0,
                "rows": stats.rows,
                "truncated": stats.truncated,
                "dropped": stats.dropped,
                "tokens": stats.tokens,
                "loss_tokens": stats.loss_tokens,
                "total_steps": total,
                "world": accelerator.num_processes,
                "device": str(accelerator.device),
            }
        )
    save_dtype = torch.bfloat16 if precision.startswith("bf16") else next(model.parameters()).dtype
    result = TrainResult(run_dir, total, start, list(history), stats=stats, tokens_seen=tokens_seen)
    bar = _progress(total, start, progress and accelerator.is_local_main_process)
    world, rank, t0, run_tokens = accelerator.num_processes, accelerator.process_index, time.perf_counter(), 0
    wrapper.train()
    for step in range(start, total):
        epoch, idx = batches.step_rows(len(encoded), step, cfg.batch_size, cfg.shuffle, cfg.seed)
        step_rows = [encoded[i] for i in idx]
        plan = batches.plan_step(step_rows, world, cfg.micro_batch_size, cfg.micro_batch_tokens)[rank]
        step_tokens = sum(min(e.n_loss, len(e.ids) - 1) for e in step_rows)
        loss_sum = torch.zeros((), device=accelerator.device)
        for i, micro in enumerate(plan):
            batch = batches.collate(micro, cfg.packs, tokenizer.pad_token_id or 0, filler=step_rows[0])
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            n_micro = int((batch["targets"] >= 0).sum())
            sync = contextlib.nullcontext() if i == len(plan) - 1 else accelerator.no_sync(wrapper)
            with sync, accelerator.autocast():
                summed = wrapper(**batch)
                accelerator.backward(summed * micro_scale(cfg.loss_reduction, n_micro, step_tokens, world))
            loss_sum += summed.detach().float()
        grad_norm = accelerator.clip_grad_norm_(wrapper.parameters(), cfg.max_grad_norm or float("inf"))
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss = float(accelerator.reduce(loss_sum, "sum")) / max(step_tokens, 1)  # the global token mean
        n_tokens = sum(len(e.ids) for e in step_rows)
        tokens_seen += n_tokens
        run_tokens += n_tokens
        done = step + 1
        result.losses.append(loss)
        elapsed = time.perf_counter() - t0
        if done % cfg.log_every == 0 or done == total:
            log.log(
                {
                    "step": done,
                    "epoch": epoch,
                    "loss": loss,
                    "lr": lr,
                    "grad_norm": float(grad_norm),
                    "tokens_seen": tokens_seen,
                    "tokens_per_s": run_tokens / max(elapsed, 1e-9),
                    "elapsed": elapsed,
                }
            )
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{run_tokens / max(elapsed, 1e-9):,.0f}")
        meta = {
            "step": done,
            "epoch": done / batches.steps_per_epoch(len(encoded), cfg.batch_size),
            "tokens_seen": tokens_seen,
            "loss": loss,
        }
        if done in save_steps:
            result.checkpoints.append(
                checkpoints.save_checkpoint(accelerator, wrapper, tokenizer, run_dir, done, meta, save_dtype)
            )
        if done in save_steps or done % cfg.state_every == 0 or done == total:
            checkpoints.save_state(accelerator, run_dir, {**meta, "losses": result.losses})
        result.last_step = done
        if stop_after is not None and done >= stop_after:
            break
    bar.close()
    log.close()
    result.seconds = time.perf_counter() - t0
    result.tokens_per_s = run_tokens / max(result.seconds, 1e-9)
    result.model = accelerator.unwrap_model(wrapper).model
    return result


def _loss_model_class() -> type:
    import torch

    class LossModelImpl(torch.nn.Module):
        """The causal LM plus our chunked loss in one module, so FSDP's root unshards lm_head for it."""

        def __init__(self, model: Any, chunk: int) -> None:
            super().__init__()
            self.model = model
            self.chunk = chunk
            self._no_split_modules = getattr(model, "_no_split_modules", None)  # FSDP2 auto-wrap reads it

        def forward(self, input_ids, targets, weights, position_ids=None, attention_mask=None):
            out = self.model.get_decoder()(
                input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask, use_cache=False
            )
            head = self.model.get_output_embeddings()
            return chunked_token_loss(out.last_hidden_state, head, targets, weights, self.chunk)

    return LossModelImpl


def LossModel(model: Any, chunk: int) -> Any:
    return _loss_model_class()(model, chunk)


def load_rows(cfg: SFTConfig) -> list[SFTRow]:
    if not cfg.data:
        raise InputError(
            "config data: no data set given (set data: PATH_OR_HUB_ID in the YAML or --set data=...)"
        )
    from sftscope.data.io import read_rows

    rows = read_rows(cfg.data, column_map=cfg.column_map or None, split=cfg.split)
    return rows[: cfg.max_rows] if cfg.max_rows else rows


def _load_model(cfg: SFTConfig, model: Any, tokenizer: Any, precision: str, cuda: bool) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if model is None:
        if not cfg.model:
            raise InputError("config model: no base model given (set model: PATH_OR_HUB_ID)")
        local = Path(cfg.model)
        if not local.exists() and (cfg.model.startswith((".", "/", "~")) or cfg.model.count("/") > 1):
            raise InputError(f"{cfg.model}: model path not found (check config model:)")
        dtype = torch.bfloat16 if precision == "bf16-pure" else torch.float32
        try:
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(cfg.model)
            model = AutoModelForCausalLM.from_pretrained(
                cfg.model, dtype=dtype, attn_implementation=cfg.attn_implementation
            )
        except OSError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{cfg.model}: cannot load the model ({first[:200]})") from None
    prepare_tokenizer(tokenizer, cfg.model or "tokenizer", cfg.chat_template)
    model.config.use_cache = False
    if cfg.activation_checkpointing if cfg.activation_checkpointing is not None else cuda:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model, tokenizer


def _check_run_dir(cfg: SFTConfig, run_dir: Path, resume: bool, overwrite: bool) -> bool:
    """Never overwrite a run by accident; refuse to resume with a different config. True: start afresh."""
    saved = run_dir / "config.yaml"
    if not run_dir.exists() or not any(run_dir.iterdir()) or overwrite:
        return True
    if not resume:
        raise InputError(
            f"{run_dir}: the run dir already exists (pass --resume to continue it, "
            "or --overwrite to start over)"
        )
    if saved.exists():
        from sftscope.config import read_yaml

        old, new = read_yaml(saved), to_dict(cfg)
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if changed:
            raise InputError(
                f"{saved}: --resume with a different config ({', '.join(changed)} changed); "
                "use the same config, or --overwrite to start over"
            )
    return False


def _make_run_dir(cfg: SFTConfig, run_dir: Path, fresh: bool) -> None:
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "config.yaml").exists():
        save_config(cfg, run_dir / "config.yaml")


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
