"""Training metrics: one JSON line per logged step in the run's metrics log (`RunDir.metrics_path`),
mirrored to TensorBoard, W&B or MLflow when `report_to` asks. Only the main process writes.

On resume, lines past the resumed step are dropped first, so the log reads as one uninterrupted run.
A non-finite value is written as null (JSON has no NaN), with the step flagged `nonfinite_loss`.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

from sftscope.atomic import atomic_open
from sftscope.errors import InputError
from sftscope.rundir import RunDir

# report_to name -> the module its sink imports, and the package that provides it
SINK_PACKAGES = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "wandb": ("wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow"),
}


def check_reporters(report_to: list[str]) -> None:
    """Every `report_to` sink must be importable; checked before the run dir is made."""
    for name in report_to:
        module, package = SINK_PACKAGES[name]
        if importlib.util.find_spec(module) is None:
            raise InputError(
                f"config report_to: {name} needs the {package} package, which is not installed "
                f"(pip install {package}, or remove {name} from report_to)"
            )


class MetricsLog:
    def __init__(
        self,
        run_dir: str | Path | RunDir,
        report_to: list[str],
        enabled: bool,
        resume_step: int,
        config: dict,
    ) -> None:
        run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        self.enabled = enabled
        self.path = run.metrics_path
        self.sinks: dict[str, Any] = {}
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            kept = [
                line
                for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip() and _step(line) <= resume_step
            ]
            with atomic_open(self.path) as handle:
                handle.write("".join(line + "\n" for line in kept))
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        name = run.name
        if "tensorboard" in report_to:
            from torch.utils.tensorboard import SummaryWriter

            self.sinks["tensorboard"] = SummaryWriter(log_dir=str(run.tensorboard_dir))
        if "wandb" in report_to:
            import wandb

            self.sinks["wandb"] = wandb.init(project="sftscope", name=name, config=config, resume="allow")
        if "mlflow" in report_to:
            import mlflow

            mlflow.set_experiment("sftscope")
            self.sinks["mlflow"] = mlflow.start_run(run_name=name)
            mlflow.log_params({k: str(v)[:250] for k, v in config.items()})

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}
        self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()
        step = record["step"]
        scalars = {
            k: v
            for k, v in record.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"
        }
        if "tensorboard" in self.sinks:
            for key, value in scalars.items():
                self.sinks["tensorboard"].add_scalar(f"train/{key}", value, step)
        if "wandb" in self.sinks:
            self.sinks["wandb"].log(scalars, step=step)
        if "mlflow" in self.sinks:
            import mlflow

            mlflow.log_metrics(scalars, step=step)

    def close(self) -> None:
        if not self.enabled:
            return
        self._handle.close()
        if "tensorboard" in self.sinks:
            self.sinks["tensorboard"].close()
        if "wandb" in self.sinks:
            self.sinks["wandb"].finish()
        if "mlflow" in self.sinks:
            import mlflow

            mlflow.end_run()


def read_metrics(run_dir: str | Path | RunDir) -> list[dict[str, Any]]:
    path = (run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)).metrics_path
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _step(line: str) -> int:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return 1 << 62  # a torn last line from a kill: drop it
