"""Checkpoints a sweep can read, and the state a killed run resumes from; both appear atomically.

`checkpoints/step-<N>/` is a full Hugging Face model dir (config, safetensors, tokenizer with its chat
template) plus `sftscope.json` {step, epoch, tokens_seen, loss}. It is written to a hidden temp dir and
renamed into place, so a sweep watching the run never sees half of one.

`state/` holds what resuming needs: model and optimizer state (through accelerate, so FSDP shards work),
the scheduler, RNG states and `trainer.json` (the step reached and the metrics so far). A new state is
written to `state.tmp/`, then swapped in; a crash during the swap leaves `state.old/`, which `find_state`
falls back to.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

from sftscope.atomic import write_json
from sftscope.errors import InputError

STATE = "state"
TRAINER_FILE = "trainer.json"


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step-{step}"


def save_checkpoint(
    accelerator: Any, wrapper: Any, tokenizer: Any, run_dir: Path, step: int, meta: dict[str, Any], dtype: Any
) -> Path:
    """Write checkpoints/step-<step>/ atomically (the main process writes; all ranks gather weights)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per shard write would bury the training bar
    state_dict = accelerator.get_state_dict(wrapper)  # a collective under FSDP: every rank calls it
    final = checkpoint_dir(run_dir, step)
    if accelerator.is_main_process:
        model = accelerator.unwrap_model(wrapper).model
        state_dict = {
            k.removeprefix("model."): v.to(dtype) if v.is_floating_point() else v
            for k, v in state_dict.items()
        }
        tmp = final.parent / f".{final.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, state_dict=state_dict)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "sftscope.json", meta)
        if final.exists():  # re-created after a resume from an earlier state: same step, same weights
            shutil.rmtree(final)
        os.replace(tmp, final)
    accelerator.wait_for_everyone()
    return final


def save_state(accelerator: Any, run_dir: Path, trainer: dict[str, Any]) -> None:
    state, tmp, old = run_dir / STATE, run_dir / f"{STATE}.tmp", run_dir / f"{STATE}.old"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    # Pickled tensors, not safetensors: tied embeddings share storage, which safetensors refuses.
    accelerator.save_state(str(tmp), safe_serialization=False)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(tmp / TRAINER_FILE, trainer)
        if state.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(state, old)
        os.replace(tmp, state)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def find_state(run_dir: Path) -> Path | None:
    """The newest complete state dir, or None for a fresh run; a broken one is an InputError."""
    for name in (STATE, f"{STATE}.old"):
        path = run_dir / name
        if path.is_dir():
            read_trainer(path)
            return path
    return None


def read_trainer(state: Path) -> dict[str, Any]:
    path = state / TRAINER_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        step = data["step"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(
            f"{path}: the resumable state is missing or corrupt (rerun with --overwrite to start over)"
        ) from None
    if not isinstance(step, int) or step < 0:
        raise InputError(f"{path}: field 'step': expected a step number, got {step!r} (the state is corrupt)")
    return data


def load_state(accelerator: Any, state: Path) -> dict[str, Any]:
    trainer = read_trainer(state)
    try:
        accelerator.load_state(str(state))
    except (OSError, RuntimeError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as exc:
        raise InputError(
            f"{state}: cannot load the resumable state ({type(exc).__name__}); rerun with --overwrite"
        ) from None
    return trainer
