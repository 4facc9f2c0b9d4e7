"""The state a killed run resumes from, in formats that cannot run code when read.

A run dir may come from anywhere (a shared disk, a colleague, a download), so resuming never unpickles:
tensors (model weights, AdamW moments, RNG) go to safetensors files, one per process under FSDP (each
holds its own shard) or one in all otherwise, and everything else (the step, the metrics so far, the
scheduler's counters, the optimizer's hyperparameters, the parameter names) to JSON in trainer.json.
Before this, state/ was accelerate's `save_state`, which pickles (custom_checkpoint_0.pkl, RNG .pkl files,
torch.load with weights_only=False): a tampered run dir ran code on `--resume`.

A new state is written to state.tmp/, then swapped in; a crash during the swap leaves state.old/, which
`find_state` falls back to. trainer.json is checked field by field before anything is loaded.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from sftscope.atomic import write_json
from sftscope.errors import InputError
from sftscope.rundir import RunDir
from sftscope.train.distributed import Dist, barrier, like_param, local_tensor, unwrap

FORMAT = 2  # 1 was accelerate's pickled state


def save_state(
    run: RunDir, dist: Dist, module: Any, optimizer: Any, scheduler: Any, trainer: dict[str, Any]
) -> None:
    """Write state/ for the step in `trainer` (a collective: every rank calls it)."""
    state, tmp, old = run.state_dir, run.state_tmp, run.state_old
    if dist.main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier(dist)
    named = list(unwrap(module).named_parameters())
    if dist.fsdp or dist.main:  # FSDP: every rank writes its shard; otherwise the state is replicated
        tensors = {f"model/{name}": _cpu(local_tensor(p)) for name, p in named}
        for name, p in named:
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value):
                    tensors[f"optim/{name}/{key}"] = _cpu(local_tensor(value))
        tensors["rng/cpu"] = torch.get_rng_state()
        if torch.cuda.is_available():
            tensors["rng/cuda"] = torch.cuda.get_rng_state()
        rank, world = (dist.rank, dist.world) if dist.fsdp else (0, 1)
        save_file(tensors, RunDir.state_shard(tmp, rank, world))
    barrier(dist)
    if dist.main:
        groups = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
        sched = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
        meta = {
            "format": FORMAT,
            "sharded": dist.fsdp,
            "world": dist.world if dist.fsdp else 1,
            "params": [name for name, _ in named],
            "param_groups": json.loads(json.dumps(groups, default=_plain)),
            "scheduler": json.loads(json.dumps(sched, default=_plain)),
        }
        write_json(RunDir.trainer_state(tmp), {**trainer, "resume": meta})
        if state.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(state, old)
        os.replace(tmp, state)
        shutil.rmtree(old, ignore_errors=True)
    barrier(dist)


def find_state(run: RunDir, total_steps: int) -> Path | None:
    """The newest complete state dir, or None for a fresh run; a broken one is an InputError."""
    for path in (run.state_dir, run.state_old):
        if path.is_dir():
            read_trainer(path, total_steps)
            return path
    return None


def read_trainer(state: Path, total_steps: int) -> dict[str, Any]:
    """trainer.json, checked: `step` a strict int in [0, total_steps] and the resume layout present."""
    path = RunDir.trainer_state(state)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(
            f"{path}: the resumable state is missing or corrupt (rerun with --overwrite to start over)"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object (the state is corrupt; rerun with --overwrite)")
    step = data.get("step")
    if type(step) is not int or not 0 <= step <= total_steps:  # `step: true` is an int to isinstance
        raise InputError(
            f"{path}: field 'step': expected a step number in [0, {total_steps}], got {step!r} "
            "(the state is corrupt or from another config; rerun with --overwrite)"
        )
    losses = data.get("losses")
    numbers = isinstance(losses, list) and all(
        x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in losses
    )
    if not numbers or len(losses) != step:
        raise InputError(f"{path}: field 'losses': expected {step} values (the state is corrupt)")
    meta = data.get("resume")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(
            f"{path}: field 'resume': this state was written by an older sftscope in a pickled format, "
            "which is never loaded because unpickling can run code; rerun with --overwrite to start over"
        )
    checks = {
        "sharded": lambda v: isinstance(v, bool),
        "world": lambda v: type(v) is int and v > 0,
        "params": lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
        "param_groups": lambda v: isinstance(v, list) and all(isinstance(g, dict) and "lr" in g for g in v),
        "scheduler": lambda v: isinstance(v, dict),
    }
    for key, ok in checks.items():
        if not ok(meta.get(key)):
            raise InputError(
                f"{path}: field 'resume.{key}': missing or of the wrong type (the state is corrupt)"
            )
    return data


def load_state(
    state: Path, dist: Dist, module: Any, optimizer: Any, scheduler: Any, total_steps: int
) -> dict[str, Any]:
    """Load state/ into the model, optimizer, scheduler and RNG; returns trainer.json."""
    trainer = read_trainer(state, total_steps)
    meta = trainer["resume"]
    where = RunDir.trainer_state(state)
    if meta["sharded"] != dist.fsdp or (dist.fsdp and meta["world"] != dist.world):
        saved = f"FSDP over {meta['world']} processes" if meta["sharded"] else "without FSDP"
        now = f"FSDP over {dist.world} processes" if dist.fsdp else "without FSDP"
        raise InputError(f"{where}: the state was saved {saved}; resume it the same way (now: {now})")
    named = list(unwrap(module).named_parameters())
    if meta["params"] != [name for name, _ in named]:
        raise InputError(
            f"{where}: field 'resume.params': the state is for another model (different parameters)"
        )
    shard = RunDir.state_shard(state, dist.rank if dist.fsdp else 0, meta["world"])
    try:
        tensors = load_file(shard)  # safetensors: data only, nothing to execute
    except (OSError, SafetensorError) as exc:
        raise InputError(
            f"{shard}: cannot read the resumable state ({exc}); rerun with --overwrite"
        ) from None
    with torch.no_grad():
        for name, p in named:
            saved = tensors.get(f"model/{name}")
            if saved is None or saved.shape != local_tensor(p).shape:
                raise InputError(
                    f"{shard}: tensor 'model/{name}' is missing or of the wrong shape (corrupt state)"
                )
            local_tensor(p).copy_(saved)
            moments = {k.rsplit("/", 1)[1]: v for k, v in tensors.items() if k.startswith(f"optim/{name}/")}
            bad = [k for k, v in moments.items() if k != "step" and v.shape != saved.shape]
            if bad:
                raise InputError(
                    f"{shard}: tensor 'optim/{name}/{bad[0]}' has the wrong shape (corrupt state)"
                )
            if moments:
                on_device = optimizer.defaults.get("fused") or optimizer.defaults.get("capturable")
                step_device = local_tensor(p).device if on_device else "cpu"
                optimizer.state[p] = {
                    k: v.to(step_device) if k == "step" else like_param(v, p) for k, v in moments.items()
                }
    for group, saved in zip(optimizer.param_groups, meta["param_groups"]):
        group["lr"] = float(saved["lr"])
    scheduler.load_state_dict({**meta["scheduler"], "lr_lambdas": [None] * len(optimizer.param_groups)})
    if "rng/cpu" not in tensors:
        raise InputError(f"{shard}: tensor 'rng/cpu' is missing (corrupt state); rerun with --overwrite")
    torch.set_rng_state(tensors["rng/cpu"])
    if "rng/cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng/cuda"])
    return trainer


def _cpu(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu").contiguous()


def _plain(value: Any) -> Any:
    if torch.is_tensor(value):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return str(value)
