"""Evaluate the base model and every checkpoint of a run on a suite, resumably, optionally while it trains.

    run_sweep(SweepConfig(target="runs/lab/direct", suite="lab", backend="hf"))

Checkpoints come from `discovery` (our layout, HF Trainer, verl, the paper's `step<N>/`, local or on the
hub). Each complete checkpoint goes through the runner one task at a time; the store skips every key it
already holds, so a killed sweep restarted with the same arguments finishes the same rows, no more and no
fewer. A checkpoint whose tasks are all stored is skipped without loading the model. With `watch=True` the
sweep keeps polling for new checkpoints until training has finished or nothing new appeared for
`idle_timeout` seconds.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sftscope.errors import InputError
from sftscope.eval import discovery
from sftscope.eval.discovery import FoundCheckpoint
from sftscope.records import CheckpointRef
from sftscope.store.db import Store, checkpoint_name

# Files that other trainers (or a user) drop into a run dir when it is done; ours is detected from its logs.
FINISHED_MARKERS = ("DONE", "finished.json")


@dataclass
class SweepConfig:
    target: str  # a run dir or a hub repo id owner/name
    suite: str = "lab"  # a suite name or a comma-separated list of tasks
    backend: str = "hf"
    steps: str | None = None  # e.g. "0,40,last"; None = every checkpoint
    base: str | None = None  # base model (step 0); default: the run's config.yaml `model`
    db: str | None = None  # default RUN_DIR/sftscope.db (./sftscope.db for a hub repo)
    limit: int | None = None  # examples per task
    watch: bool = False
    poll_seconds: float = 30.0
    idle_timeout: float = 1800.0
    run: str | None = None  # run name in the DB; default: the run dir's name or the repo id
    backend_opts: dict[str, Any] = field(default_factory=dict)  # e.g. batch_size, dtype, base_url
    # Overrides of the tasks' sampling (e.g. max_new_tokens), for all tasks, then per task name.
    sampling: dict[str, Any] = field(default_factory=dict)
    task_sampling: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_size: int = 64  # prompts per backend call


@dataclass
class SweepSummary:
    run: str
    db: str
    evaluated: list[int] = field(default_factory=list)  # steps whose tasks ran (or resumed)
    cached: list[int] = field(default_factory=list)  # steps already complete in the DB
    skipped: dict[int, str] = field(default_factory=dict)  # incomplete checkpoints: step -> why
    new_samples: int = 0
    seconds: float = 0.0


def run_sweep(
    cfg: SweepConfig,
    *,
    show_progress: bool = True,
    warn: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SweepSummary:
    """Sweep `cfg.target`; see the module docstring. `warn` receives one-line notes (default: stderr)."""
    from sftscope.eval.registry import resolve_suite

    warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
    started = time.monotonic()
    hub = discovery.is_hub_id(cfg.target)
    run_dir = None if hub else Path(cfg.target)
    if run_dir is not None and not run_dir.is_dir():
        raise InputError(
            f"{cfg.target}: run directory not found (give a run dir or a hub repo id owner/name)"
        )
    run = cfg.run or (cfg.target if hub else run_dir.resolve().name)
    db = Path(cfg.db) if cfg.db else (Path("sftscope.db") if hub else run_dir / "sftscope.db")
    selection = discovery.parse_steps(cfg.steps)
    tasks = resolve_suite(cfg.suite)
    base = discovery.base_model(run_dir, cfg.base)
    summary = SweepSummary(run=run, db=str(db))
    keys: dict[str, set[tuple[str, int]]] = {}  # task name -> its example keys, loaded once per sweep

    def scan() -> list[FoundCheckpoint]:
        found = discovery.discover_hub(cfg.target) if hub else discovery.discover_local(run_dir)
        if base and not any(f.step == 0 for f in found):
            found.insert(0, FoundCheckpoint(0, base, "base"))
        return found

    with Store(db) as store, _Progress(show_progress) as progress:
        store.record_run(run, _run_config(run_dir, cfg), {t.name: t.version for t in tasks})
        done: set[int] = set()
        last_new = time.monotonic()
        while True:
            # Read the finished marker before scanning, so a checkpoint saved just before it is not missed.
            finished = not cfg.watch or training_finished(run_dir)
            found = scan()
            wanted = [f for f in found if _selected(f, found, selection, final=finished)]
            pending = [f for f in wanted if f.step not in done]
            ready = [f for f in pending if f.complete]
            if not cfg.watch:
                _check_found(cfg.target, found, wanted, base)
                for f in pending:
                    if not f.complete:
                        summary.skipped[f.step] = f.problem or ""
                        warn(f"skipping step {f.step} ({f.path}): {f.problem}")
            progress.grow(len(ready) * len(tasks))
            for f in ready:
                new = _sweep_checkpoint(f, run, tasks, store, cfg, progress, summary, keys)
                summary.new_samples += new
                done.add(f.step)
                last_new = time.monotonic()
            if not cfg.watch:
                break
            # Stop once training has finished and everything after that scan is evaluated or pending forever.
            if finished and not [f for f in pending if f not in ready]:
                break
            if time.monotonic() - last_new > cfg.idle_timeout:
                for f in pending:
                    if not f.complete and f.step not in done:
                        summary.skipped[f.step] = f.problem or ""
                        warn(f"stopped waiting for step {f.step} ({f.path}): {f.problem}")
                break
            sleep(cfg.poll_seconds)
        if cfg.watch and not done:
            _check_found(cfg.target, found, wanted, base)
    summary.seconds = time.monotonic() - started
    return summary


def training_finished(run_dir: Path | None) -> bool:
    """Whether the run's training is over (a hub repo always is).

    `sftscope train` logs `total_steps` in the first line of logs/metrics.jsonl and writes state/trainer.json
    with the step reached after the final checkpoint is in place, so step >= total_steps means finished.
    A config with `max_steps` whose last checkpoint exists, or a DONE / finished.json file, also counts.
    """
    if run_dir is None:
        return True
    if any((run_dir / marker).exists() for marker in FINISHED_MARKERS):
        return True
    total = _logged_total_steps(run_dir / "logs" / "metrics.jsonl")
    if total is None:
        config = _read_yaml(run_dir / "config.yaml")
        total = config.get("max_steps") or None
    if not isinstance(total, int):
        return False
    try:
        reached = json.loads((run_dir / "state" / "trainer.json").read_text(encoding="utf-8"))["step"]
    except (OSError, ValueError, KeyError, TypeError):
        reached = 0
    return (isinstance(reached, int) and reached >= total) or (
        run_dir / "checkpoints" / f"step-{total}" / "sftscope.json"
    ).is_file()


def _logged_total_steps(path: Path) -> int | None:
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                total = json.loads(line).get("total_steps")
                if isinstance(total, int):
                    return total
    except (OSError, ValueError, AttributeError):
        return None
    return None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def pending_work(
    task: Any, store: Store, run: str, checkpoint: str, limit: int | None, cache: dict | None = None
) -> int:
    """How many (example, sample) keys of `task` are not stored yet for this checkpoint."""
    cache = {} if cache is None else cache
    if task.name not in cache:
        cache[task.name] = {
            (_example_id(ex), i) for ex in task.load(limit=limit) for i in range(task.n_samples)
        }
    have = store.existing_keys(run, checkpoint, task.name, task.version)
    return len(cache[task.name] - have)


def _sweep_checkpoint(
    found: FoundCheckpoint, run: str, tasks: list, store: Store, cfg: SweepConfig, progress, summary, keys
) -> int:
    """Evaluate one checkpoint on every task; the model is loaded only when some key is missing."""
    from sftscope.eval.backends.base import make_backend
    from sftscope.eval.runner import evaluate

    ref = CheckpointRef(run=run, step=found.step, path=found.path)
    name = checkpoint_name(ref)
    todo = [t for t in tasks if pending_work(t, store, run, name, cfg.limit, keys) > 0]
    progress.advance(len(tasks) - len(todo), f"step {found.step}: stored")
    if not todo:
        store.record_checkpoint(ref)
        summary.cached.append(found.step)
        return 0
    local = discovery.materialize(discovery.model_folder(found)) if found.layout != "base" else found.path
    try:
        backend = make_backend(cfg.backend, local, **cfg.backend_opts)
    except InputError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise InputError(
            f"{found.path}: cannot load checkpoint step {found.step} with the {cfg.backend} backend "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    store.record_checkpoint(ref)
    new = 0
    try:
        for task in todo:
            label = f"step {found.step} · {task.name}"
            progress.describe(label)
            result = evaluate(
                backend,
                [task],
                store,
                ref,
                limit=cfg.limit,
                progress=lambda _task, done, total, label=label: progress.describe(f"{label} {done}/{total}"),
                sampling={**cfg.sampling, **cfg.task_sampling.get(task.name, {})} or None,
                batch_size=cfg.batch_size,
            )
            new += result.generated
            progress.advance(1, label)
    finally:
        close = getattr(backend, "close", None)
        if callable(close):
            close()
        del backend
        gc.collect()
    summary.evaluated.append(found.step)
    return new


def _selected(found: FoundCheckpoint, every: list[FoundCheckpoint], selection, *, final: bool) -> bool:
    if selection is None:
        return True
    steps, last = selection
    if found.step in steps:
        return True
    # "last" means the run's final step; while a watched run trains, its last step is not known yet.
    return last and final and found.step == max(f.step for f in every if f.layout != "base")


def _check_found(target: str, found: list[FoundCheckpoint], wanted: list[FoundCheckpoint], base) -> None:
    if not [f for f in found if f.layout != "base"] and not base:
        raise InputError(
            f"{target}: no checkpoints found (looked for checkpoints/step-<N>/, checkpoint-<N>/, "
            "global_step_<N>/, merged_step<N>/, step<N>/) and no base model (pass --base MODEL)"
        )
    if not wanted:
        steps = ", ".join(str(f.step) for f in found)
        raise InputError(f"{target}: --steps selects none of the checkpoints found (steps: {steps})")


def _example_id(example: Any) -> str:
    for attr in ("example_id", "id"):
        value = getattr(example, attr, None)
        if value is not None:
            return str(value)
    if isinstance(example, dict):
        return str(example.get("example_id", example.get("id")))
    raise TypeError(f"task example has no id: {example!r}")


def _run_config(run_dir: Path | None, cfg: SweepConfig) -> dict[str, Any]:
    """The config stored with the run: train's resolved config when present, plus the sweep settings."""
    config = _read_yaml(run_dir / "config.yaml") if run_dir is not None else {}
    sweep = asdict(cfg)
    # Never store credentials (the openai backend takes an api_key option).
    sweep["backend_opts"] = {
        k: v for k, v in cfg.backend_opts.items() if "key" not in k.lower() and "token" not in k.lower()
    }
    return {**config, "sweep": sweep}


class _Progress:
    """checkpoints × tasks done, with an ETA, on stderr (rich); silent when disabled or not a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar = None
        self._task = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("sweep {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("checkpoint×task  ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def grow(self, n: int) -> None:
        if self._bar is not None and n:
            total = self._bar.tasks[0].total or 0
            self._bar.update(self._task, total=total + n)

    def advance(self, n: int, description: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=n, description=description)

    def describe(self, description: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=description)
