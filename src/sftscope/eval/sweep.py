"""Evaluate the base model and every checkpoint of a run on a suite, resumably, optionally while it trains.

    run_sweep(SweepConfig(target="runs/lab/direct", eval=EvalConfig(suite="lab")))

Two parts. `plan_checkpoint` is pure bookkeeping: it asks the store ONCE per checkpoint what is stored and
says, per task, how many samples are missing. The execute loop then loads a model only for a checkpoint
with missing work, runs `runner.evaluate` on the tasks that need it, and closes the backend (freeing its
memory) before the next checkpoint. Checkpoints come from `discovery` (our layout, HF Trainer, verl, the
paper's `step<N>/`, local or on the hub). A killed sweep restarted with the same arguments finishes the
same rows, no more and no fewer. With `watch=True` the sweep keeps polling for new checkpoints until
training has finished (`RunDir.finished()`) or nothing new appeared for `idle_timeout` seconds.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sftscope.config import is_hub_id
from sftscope.errors import InputError
from sftscope.eval import discovery
from sftscope.eval.config import EvalConfig, SweepConfig
from sftscope.eval.discovery import FoundCheckpoint
from sftscope.eval.progress import SweepProgress
from sftscope.eval.runner import count_warning, task_sampling
from sftscope.eval.scoring import check_needs, choose_protocol
from sftscope.eval.spec import Example, TaskSpec
from sftscope.records import CheckpointRef
from sftscope.rundir import DB, RunDir, checkpoint_name
from sftscope.store.db import Store


@dataclass
class SweepSummary:
    run: str
    db: str
    evaluated: list[int] = field(default_factory=list)  # steps whose tasks ran (or resumed)
    cached: list[int] = field(default_factory=list)  # steps already complete in the DB
    skipped: dict[int, str] = field(default_factory=dict)  # incomplete checkpoints: step -> why
    new_samples: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class CheckpointPlan:
    """What one checkpoint still needs: task name -> samples missing (0: all stored)."""

    found: FoundCheckpoint
    missing: dict[str, int]
    stored: dict = field(default_factory=dict, repr=False)  # the store's answer (`Store.stored`), reused

    @property
    def todo(self) -> list[str]:
        return [task for task, n in self.missing.items() if n]


class ExpectedKeys:
    """Per task, the (example_id, sample_idx) keys a complete evaluation holds; examples load once, and a
    count that differs from the benchmark's known size is reported once, to `warn`."""

    def __init__(
        self,
        tasks: list[TaskSpec],
        ev: EvalConfig,
        warn: Callable[[str], None] | None = None,
        loaded: dict[str, list[Example]] | None = None,  # examples the caller has loaded already
    ):
        self.tasks, self.ev, self.warn, self.loaded = tasks, ev, warn, loaded or {}
        self._keys: dict[str, set[tuple[str, int]]] = {}

    def of(self, spec: TaskSpec) -> set[tuple[str, int]]:
        if spec.name not in self._keys:
            ev = self.ev
            protocol = choose_protocol(spec, ev.protocol)
            n = task_sampling(spec, protocol, ev).n
            examples = self.loaded.get(spec.name)
            if examples is None:
                examples = spec.load(limit=ev.limit, data_path=ev.data_paths.get(spec.name))
                self.loaded[spec.name] = examples  # the execute step evaluates these, not a second load
            note = count_warning(spec, len(examples), ev.limit)
            if note and self.warn:
                self.warn(note)
            self._keys[spec.name] = {(ex.id, i) for ex in examples for i in range(n)}
        return self._keys[spec.name]


def plan_checkpoint(store: Store, run: str, found: FoundCheckpoint, expected: ExpectedKeys) -> CheckpointPlan:
    """How many samples each task misses at this checkpoint (one store query)."""
    stored = store.stored(run, checkpoint_name(found.step))
    missing = {}
    for spec in expected.tasks:
        protocol = choose_protocol(spec, expected.ev.protocol).name
        have = set(stored.get((spec.name, spec.version, protocol), {}))
        missing[spec.name] = len(expected.of(spec) - have)
    return CheckpointPlan(found, missing, stored)


@dataclass
class SweepPlan:
    run: str
    db: str
    checkpoints: list[CheckpointPlan]  # the selected checkpoints, complete or still being written


def plan_sweep(
    cfg: SweepConfig, tasks: list[TaskSpec], loaded: dict[str, list[Example]] | None = None
) -> SweepPlan:
    """What `run_sweep` would do now, read-only: no model is loaded, nothing downloaded or written."""
    source = _Source(cfg)
    selection = discovery.parse_steps(cfg.steps)
    expected = ExpectedKeys(tasks, cfg.eval, loaded=loaded)
    found = source.scan()
    wanted = [f for f in found if _selected(f, found, selection, final=True)]
    _check_found(cfg.target, found, wanted, source.base)
    if not source.db.is_file():
        return SweepPlan(
            source.run,
            str(source.db),
            [plan_checkpoint(_NoResults(), source.run, f, expected) for f in wanted],
        )
    with Store(source.db, readonly=True) as store:
        plans = [plan_checkpoint(store, source.run, f, expected) for f in wanted]
    return SweepPlan(source.run, str(source.db), plans)


class _NoResults:
    """A results DB that does not exist yet: nothing is stored."""

    def stored(self, run: str, checkpoint: str) -> dict:
        return {}


def run_sweep(
    cfg: SweepConfig,
    *,
    show_progress: bool = True,
    warn: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SweepSummary:
    """Sweep `cfg.target`; see the module docstring. `warn` receives one-line notes (default: stderr)."""
    from sftscope.eval.tasks import resolve_suite

    warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
    started = time.monotonic()
    source = _Source(cfg)
    tasks = resolve_suite(cfg.eval.suite)
    selection = discovery.parse_steps(cfg.steps)
    context = cfg.eval.score_context()
    for spec in tasks:  # an unknown protocol or a missing judge fails before any checkpoint loads
        check_needs(spec, choose_protocol(spec, cfg.eval.protocol), context)
    expected = ExpectedKeys(tasks, cfg.eval, warn)
    summary = SweepSummary(run=source.run, db=str(source.db))
    with Store(source.db) as store, SweepProgress(show_progress) as progress:
        store.record_run(source.run, source.stored_config(), {t.name: t.version for t in tasks})
        done: set[int] = set()
        last_new = time.monotonic()
        while True:
            # Read the finished marker before scanning, so a checkpoint saved just before it is not missed.
            finished = not cfg.watch or source.finished()
            found = source.scan()
            wanted = [f for f in found if _selected(f, found, selection, final=finished)]
            pending = [f for f in wanted if f.step not in done]
            ready = [f for f in pending if f.complete]
            if not cfg.watch:
                _check_found(cfg.target, found, wanted, source.base)
                for f in pending:
                    if not f.complete:
                        summary.skipped[f.step] = f.problem or ""
                        warn(f"skipping step {f.step} ({f.path}): {f.problem}")
            progress.grow(len(ready) * len(tasks))
            for f in ready:
                plan = plan_checkpoint(store, source.run, f, expected)
                progress.advance(len(tasks) - len(plan.todo), f"step {f.step}: stored")
                if plan.todo:
                    todo = [t for t in tasks if t.name in plan.todo]
                    summary.new_samples += _execute(
                        plan, todo, source.run, store, cfg, context, progress, expected.loaded
                    )
                    summary.evaluated.append(f.step)
                else:
                    summary.cached.append(f.step)
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
            _check_found(cfg.target, found, wanted, source.base)
    summary.seconds = time.monotonic() - started
    return summary


def _execute(
    plan: CheckpointPlan,
    todo: list[TaskSpec],
    run: str,
    store: Store,
    cfg: SweepConfig,
    context,
    progress,
    examples: dict[str, list[Example]],
) -> int:
    """Evaluate one checkpoint's missing tasks; the backend is closed before the next checkpoint loads."""
    from sftscope.eval.backends.base import close_backend, make_backend
    from sftscope.eval.identity import model_fingerprint
    from sftscope.eval.runner import evaluate

    found, ev = plan.found, cfg.eval
    ref = CheckpointRef(run=run, step=found.step, path=found.path)
    local = discovery.materialize(discovery.model_folder(found)) if found.layout != "base" else found.path
    served = (ev.backend_options.base_url or "default") if ev.backend == "openai" else None
    model_id = model_fingerprint(local, served_at=served)
    if ev.backend_options.data_parallel > 1:
        return _execute_data_parallel(local, todo, ref, store, ev, model_id, progress)
    try:
        backend = make_backend(ev.backend, local, **ev.backend_options.for_backend(ev.backend))
    except InputError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise InputError(
            f"{found.path}: cannot load checkpoint step {found.step} with the {ev.backend} backend "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    finished: set[str] = set()

    def report(task: str, done: int, total: int) -> None:
        label = f"step {found.step} · {task}"
        progress.describe(f"{label} {done}/{total}")
        if done >= total and task not in finished:  # one checkpoint x task cell is done
            finished.add(task)
            progress.advance(1, label)

    try:
        # One call for all the checkpoint's missing tasks, on the plan's answer from the store and the
        # examples the plan loaded: nothing is asked or loaded twice.
        result = evaluate(
            backend,
            todo,
            store,
            ref,
            ev,
            context=context,
            model_id=model_id,
            progress=report,
            stored=plan.stored,
            examples=examples,
        )
    finally:
        close_backend(backend)  # frees the model (vLLM: shuts the engine down) before the next one loads
        del backend
        gc.collect()
    progress.advance(len(todo) - len(finished), f"step {found.step}")
    return result.generated


def _execute_data_parallel(
    local: str, todo, ref: CheckpointRef, store: Store, ev: EvalConfig, model_id, progress
):
    """One checkpoint's missing tasks on `data_parallel` worker processes; they exit (freeing their GPUs)
    before the next checkpoint starts."""
    from sftscope.eval.dataparallel import evaluate_data_parallel

    store.record_checkpoint(ref, model_id)  # the identity check runs once, here, before any worker starts
    label = f"step {ref.step}"
    progress.describe(f"{label} · {len(todo)} tasks on {ev.backend_options.data_parallel} workers")
    result = evaluate_data_parallel(
        local,
        todo,
        store.path,
        ref,
        ev,
        model_id=model_id,
        progress=lambda task, done, total: progress.describe(f"{label} · {task} {done}/{total}"),
    )
    progress.advance(len(todo), label)
    return result.generated


class _Source:
    """Where the checkpoints come from (a local run dir or a hub repo) and where results go."""

    def __init__(self, cfg: SweepConfig):
        self.cfg = cfg
        self.hub = is_hub_id(cfg.target)
        self.run_dir = None if self.hub else RunDir(cfg.target)
        if self.run_dir is not None and not self.run_dir.exists():
            raise InputError(
                f"{cfg.target}: run directory not found (give a run dir or a hub repo id owner/name)"
            )
        self.run = cfg.eval.run or (cfg.target if self.hub else self.run_dir.name)
        if cfg.eval.db:
            self.db = Path(cfg.eval.db)
        else:
            self.db = Path(DB) if self.hub else self.run_dir.db_path
        self.base = cfg.base or (self.run_dir.base_model() if self.run_dir is not None else None)

    def finished(self) -> bool:
        return self.run_dir is None or self.run_dir.finished()

    def scan(self) -> list[FoundCheckpoint]:
        found = (
            discovery.discover_hub(self.cfg.target)
            if self.hub
            else discovery.discover_local(self.run_dir.path)
        )
        if self.base and not any(f.step == 0 for f in found):
            found.insert(0, FoundCheckpoint(0, self.base, "base"))
        return found

    def stored_config(self) -> dict:
        """The config stored with the run: train's resolved config when present, plus the sweep settings."""
        train = self.run_dir.read_config() if self.run_dir is not None else {}
        return {**train, "sweep": self.cfg.stored()}


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
