"""The run directory: the one place that knows its layout (docs/design.md § Run directory).

    runs/<name>/
      .sftscope-run               marker: sftscope created this directory (only such a dir may be replaced)
      config.yaml                 resolved config (defaults <- YAML <- --set)
      checkpoints/step-<N>/       Hugging Face model dir + sftscope.json {step, epoch, tokens_seen, loss}
      state/                      what --resume needs (trainer.json: the step reached)
      logs/metrics.jsonl          one JSON line per logged step (logs/tensorboard/ when asked)
      finished.json               written last by the trainer: training is over
      sftscope.db                 results (SQLite), unless --db points elsewhere
      report/                     index.html, report.md, figures/

Trainer, sweep, discovery, report and lab ask `RunDir` for these paths and facts; no other module spells a
file name of this layout. Nothing here imports torch, so the report and the sweep can use it on a laptop.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftscope.atomic import write_json
from sftscope.config import read_yaml
from sftscope.errors import InputError

CONFIG = "config.yaml"
CHECKPOINTS = "checkpoints"
CHECKPOINT_META = "sftscope.json"
STATE = "state"
TRAINER_STATE = "trainer.json"
LOGS = "logs"
METRICS = "metrics.jsonl"
FINISHED = "finished.json"
MARKER = ".sftscope-run"
DB = "sftscope.db"
REPORT = "report"
# Files that other trainers (or a user) drop into a run dir when training is over.
FOREIGN_FINISHED = ("DONE",)
CHECKPOINT_PATTERN = re.compile(r"step-(\d+)")  # checkpoints/step-<N>/


def checkpoint_name(step: int) -> str:
    """The name of a checkpoint, in the run dir and in the results DB: one per step (step 0 = the base)."""
    return f"step-{step}"


def checkpoint_step(name: str) -> int | None:
    """The step of a `step-<N>` name, or None for any other name."""
    match = CHECKPOINT_PATTERN.fullmatch(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class RunDir:
    """A run directory on local disk. Cheap to build; touches the disk only when asked."""

    path: Path

    def __init__(self, path: str | Path):
        object.__setattr__(self, "path", Path(path))

    def __str__(self) -> str:
        return str(self.path)

    # -- identity ----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The run's name in results DBs and reports: the directory's own name."""
        return self.path.resolve().name

    def exists(self) -> bool:
        return self.path.is_dir()

    def is_empty(self) -> bool:
        return not self.path.exists() or (self.path.is_dir() and not any(self.path.iterdir()))

    # -- config ------------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    def has_config(self) -> bool:
        return self.config_path.is_file()

    def read_config(self) -> dict[str, Any]:
        """The resolved config the trainer wrote ({} when there is none); bad YAML is an InputError."""
        if not self.has_config():
            return {}
        return read_yaml(self.config_path)

    def base_model(self) -> str | None:
        """The base model (step 0): the config's `model`, a relative path resolved as `train` saw it."""
        model = self.read_config().get("model")
        if isinstance(model, dict):  # a nested `model: {name_or_path: ...}` section
            model = model.get("name_or_path") or model.get("path") or model.get("name")
        if model is not None and not isinstance(model, str):
            raise InputError(
                f"{self.config_path}: key 'model' should be a model path or hub id, got {model!r}"
            )
        if not model:
            return None
        if not Path(model).is_absolute():
            # Relative to where train ran; try the run dir and its parent too.
            for candidate in (Path(model), self.path / model, self.path.parent / model):
                if candidate.exists():
                    return str(candidate)
        return model

    # -- checkpoints -------------------------------------------------------------------------------------
    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    def checkpoint(self, step: int) -> Path:
        return self.checkpoints_dir / checkpoint_name(step)

    def checkpoint_tmp(self, step: int) -> Path:
        """Where a checkpoint is written before it is renamed into place (hidden from discovery)."""
        return self.checkpoints_dir / f".{checkpoint_name(step)}.tmp"

    @staticmethod
    def checkpoint_meta(folder: str | Path) -> Path:
        """The metadata file inside a checkpoint folder; written last, so its presence means complete."""
        return Path(folder) / CHECKPOINT_META

    def checkpoint_steps(self) -> list[int]:
        """Steps whose checkpoint folder carries its metadata file (complete), in order."""
        if not self.checkpoints_dir.is_dir():
            return []
        steps = [checkpoint_step(p.name) for p in self.checkpoints_dir.iterdir() if p.is_dir()]
        return sorted(
            s for s in steps if s is not None and self.checkpoint_meta(self.checkpoint(s)).is_file()
        )

    # -- resumable state ---------------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.path / STATE

    @property
    def state_tmp(self) -> Path:
        return self.path / f"{STATE}.tmp"

    @property
    def state_old(self) -> Path:
        return self.path / f"{STATE}.old"

    @staticmethod
    def trainer_state(state: str | Path) -> Path:
        """The JSON file inside a state dir that records the step reached."""
        return Path(state) / TRAINER_STATE

    @staticmethod
    def state_shard(state: str | Path, rank: int, world: int) -> Path:
        """The tensors (safetensors) one process saved into a state dir: its shard under FSDP, else all."""
        return Path(state) / f"rank-{rank}-of-{world}.safetensors"

    # -- logs --------------------------------------------------------------------------------------------
    @property
    def logs_dir(self) -> Path:
        return self.path / LOGS

    @property
    def metrics_path(self) -> Path:
        return self.logs_dir / METRICS

    @property
    def tensorboard_dir(self) -> Path:
        return self.logs_dir / "tensorboard"

    # -- results -----------------------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.path / DB

    @property
    def report_dir(self) -> Path:
        return self.path / REPORT

    # -- lifecycle markers -------------------------------------------------------------------------------
    @property
    def marker_path(self) -> Path:
        return self.path / MARKER

    def is_ours(self) -> bool:
        """Whether sftscope created this directory (only then may `--overwrite` delete it)."""
        return self.marker_path.is_file()

    def mark_ours(self, payload: dict[str, Any] | None = None) -> None:
        write_json(self.marker_path, {"created_by": "sftscope", **(payload or {})})

    @property
    def finished_path(self) -> Path:
        return self.path / FINISHED

    def mark_finished(self, payload: dict[str, Any]) -> None:
        """Written by the trainer after its last checkpoint and state are in place."""
        write_json(self.finished_path, payload)

    def clear_finished(self) -> None:
        self.finished_path.unlink(missing_ok=True)

    def finished(self) -> bool:
        """Whether training is over: our marker, or another trainer's DONE file."""
        if self.finished_path.is_file():
            try:
                json.loads(self.finished_path.read_text(encoding="utf-8"))
                return True
            except (OSError, ValueError):
                return False  # still being written
        return any((self.path / name).exists() for name in FOREIGN_FINISHED)
