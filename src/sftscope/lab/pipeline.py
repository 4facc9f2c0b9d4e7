"""The CPU mini-lab (`make demo`): base model -> Countdown data -> SFT -> sweep -> report, on 2 cores.

    run_lab(LabConfig(out="runs/lab"))   # what `sftscope lab --out runs/lab` runs

Stages and what they leave in OUT:
    base/                     the tiny Qwen3 after its procedural base stage (train's `init_lab_model`)
    data/countdown-<arm>.jsonl   Countdown rows of the arm's style, plus a replay share of base-stage items
    <arm>/                    an SFT run dir (config.yaml, checkpoints/step-<N>/ log-spaced, sftscope.db)
    <arm>/report/index.html   the report (dip-and-recovery verdict, curves, behaviour)
    lab.md, lab.json          what was done and the accuracy of every checkpoint on every task

Every stage records its parameters in OUT/.stages/<stage>.json when it finishes. A later run skips a stage
whose record matches, so a second `make demo` only re-reads results; a changed setting reruns that stage
and everything after it. A killed SFT resumes from its last state, and the sweep skips stored samples.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sftscope.atomic import atomic_open, write_json
from sftscope.lab.config import LabConfig

if TYPE_CHECKING:
    from sftscope.analysis.estimator import Estimator

STAGES_DIR = ".stages"
# Countdown's generation cap per arm: a direct answer is ~70 tokens and a search trace ~140 (p90 ~310), so
# these caps cut only rambling, and a model that never stops costs seconds, not minutes, per checkpoint.
COUNTDOWN_TOKENS = {"direct": 160, "cot": 400}


@dataclass
class ArmResult:
    arm: str
    run_dir: Path
    data: str  # what the SFT data was, in words
    report: Path | None = None
    accuracy: dict[str, dict[int, tuple[int, int]]] = field(
        default_factory=dict
    )  # task -> step -> (right, n)


@dataclass
class LabResult:
    out: Path
    arms: list[ArmResult]
    seconds: dict[str, float]  # stage -> seconds spent in this call (0 when it was cached)
    summary: Path


def run_lab(
    cfg: LabConfig, *, fresh: bool = False, progress: bool = True, log: Callable[[str], None] | None = None
) -> LabResult:
    """Run (or finish, or just re-read) the mini-lab into `cfg.out`."""
    import torch

    from sftscope.report.source import load_estimator

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out = Path(cfg.out)
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    if not progress:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" / "Writing model shards" bars
    stages = _Stages(out, log)

    base_params = {
        "preset": cfg.preset,
        "base_steps": cfg.base_steps,
        "base_items": cfg.base_items,
        "corpus": cfg.corpus,
        "seed": cfg.seed,
    }
    base_dir = out / "base"
    stages.run("base", base_params, lambda: _build_base(cfg, base_dir, progress))

    base_redone = stages.redo
    arms: list[ArmResult] = []
    sections: list[list[str]] = []  # lab.md's table per arm
    for arm in cfg.arms:
        stages.redo = base_redone  # arms depend on the base, not on each other
        data_params = {"base": base_params, "arm": arm, **_data_params(cfg)}
        data_path = out / "data" / f"countdown-{arm}.jsonl"
        described = stages.run(f"data-{arm}", data_params, partial(_make_data, cfg, arm, data_path))
        train_params = {"data": data_params, **_train_params(cfg)}
        run_dir = out / arm
        stages.run(f"train-{arm}", train_params, partial(_train, cfg, base_dir, data_path, run_dir, progress))
        # The sweep is resumable by itself (stored samples are skipped), so it always runs; cached it only reads.
        sweep_params = {
            "train": train_params,
            "limit": cfg.limit,
            "max_new_tokens": cfg.max_new_tokens,
            "countdown_tokens": COUNTDOWN_TOKENS[arm],
        }
        stages.run(f"sweep-{arm}", sweep_params, partial(_sweep, cfg, arm, run_dir, progress), always=True)
        built: dict[str, Estimator] = {}
        report = stages.run(f"report-{arm}", sweep_params, partial(_report, run_dir, built))
        # One estimator per arm (the report's own when the report ran) serves the accuracy and the summary.
        est = built.get("estimator") or load_estimator(run_dir)
        result = ArmResult(arm=arm, run_dir=run_dir, data=described["data"], report=Path(report["html"]))
        result.accuracy = _accuracy(est)
        sections.append(_arm_section(cfg, result, est))
        arms.append(result)
    summary = _write_summary(cfg, out, arms, sections, stages.first_seconds)
    return LabResult(out=out, arms=arms, seconds=stages.seconds, summary=summary)


class _Stages:
    """Run a stage unless OUT/.stages/<name>.json records a finished run with the same parameters."""

    def __init__(self, out: Path, log: Callable[[str], None]):
        self.dir = out / STAGES_DIR
        self.log = log
        self.seconds: dict[str, float] = {}  # spent in this call
        self.first_seconds: dict[str, float] = {}  # when each stage first ran
        self.redo = False  # once a stage reruns, every later stage depends on new outputs

    def run(
        self, name: str, params: dict[str, Any], fn: Callable[[], dict[str, Any]], always: bool = False
    ) -> dict:
        marker = self.dir / f"{name}.json"
        record = _read_json(marker)
        cached = record is not None and record.get("params") == _plain(params) and not self.redo
        if cached and not always:
            self.log(f"lab: {name}: done already ({record.get('seconds', 0):.0f} s when it ran)")
            self.seconds[name] = 0.0
            self.first_seconds[name] = record.get("seconds", 0.0)
            return record["result"]
        if not cached:
            self.redo = True
            marker.unlink(missing_ok=True)
        self.log(f"lab: {name} ...")
        started = time.monotonic()
        result = fn()
        seconds = time.monotonic() - started
        self.seconds[name] = seconds
        if cached:  # an always-run stage: keep the first timing; new work invalidates what follows
            seconds = record.get("seconds", seconds)
            self.redo = bool(result.get("new_samples"))
        self.first_seconds[name] = round(seconds, 1)
        write_json(marker, {"params": _plain(params), "result": result, "seconds": round(seconds, 1)})
        self.log(f"lab: {name}: {self.seconds[name]:.0f} s")
        return result


def _build_base(cfg: LabConfig, base_dir: Path, progress: bool) -> dict[str, Any]:
    from sftscope.train.lab_model import init_lab_model

    summary = init_lab_model(
        base_dir,
        preset=cfg.preset,
        base_steps=cfg.base_steps,
        seed=cfg.seed,
        n_per_family=cfg.base_items,
        overwrite=True,
        progress=progress,
        corpus_size=tuple(cfg.corpus),
    )
    return {key: value for key, value in summary.items() if isinstance(value, (int, float, str))}


def _data_params(cfg: LabConfig) -> dict[str, Any]:
    return {
        "n_train": cfg.n_train,
        "k_min": cfg.k_min,
        "k_max": cfg.k_max,
        "max_number": cfg.max_number,
        "replay": cfg.replay,
        "seed": cfg.seed,
    }


def _train_params(cfg: LabConfig) -> dict[str, Any]:
    return {"sft_steps": cfg.sft_steps, "batch_size": cfg.batch_size, "lr": cfg.lr, "save": cfg.save_steps()}


def _make_data(cfg: LabConfig, arm: str, path: Path) -> dict[str, Any]:
    """Countdown rows of the arm's style (train split only) plus a replay share of base-stage items."""
    from sftscope.data.countdown import generate_rows
    from sftscope.data.io import write_rows
    from sftscope.data.procedural import LAB_FAMILIES, base_stage_rows

    rows = generate_rows(
        cfg.n_train, cfg.seed, style=arm, k_min=cfg.k_min, k_max=cfg.k_max, max_number=cfg.max_number
    )
    n_replay = round(len(rows) * cfg.replay / (1 - cfg.replay))
    if n_replay:
        # The base stage's own items (same seed, same order): replay, not new procedural data.
        per_family = -(-n_replay // len(LAB_FAMILIES))
        replay = base_stage_rows(LAB_FAMILIES, per_family, cfg.seed)
        random.Random(f"lab-replay:{cfg.seed}").shuffle(replay)
        rows = rows + replay[:n_replay]
    # Training keeps the file order, so mix the replay items through the whole run.
    random.Random(f"lab-order:{cfg.seed}:{arm}").shuffle(rows)
    write_rows(rows, path)
    words = {"direct": "solution-path", "cot": "full search-trace", "nocot": "answer-only"}[arm]
    data = (
        f"Countdown {arm} ({words} traces; {cfg.n_train} problems, {cfg.k_min}-{cfg.k_max} numbers "
        f"from 1-{cfg.max_number}, held-out eval problems excluded)"
    )
    if n_replay:
        data += f" + {cfg.replay:.0%} replay of base-stage items ({n_replay} rows)"
    return {"data": data, "rows": len(rows), "replay_rows": n_replay, "path": str(path)}


def _train(cfg: LabConfig, base_dir: Path, data_path: Path, run_dir: Path, progress: bool) -> dict[str, Any]:
    from sftscope.train.config import SFTConfig
    from sftscope.train.trainer import train

    sft = SFTConfig(
        model=str(base_dir),
        data=str(data_path),
        max_length=1024,
        epochs=1,
        max_steps=cfg.sft_steps,
        batch_size=cfg.batch_size,
        micro_batch_size=cfg.batch_size,
        lr=cfg.lr,
        warmup_ratio=0.05,
        precision="fp32",
        save_steps=cfg.save_steps(),
        state_every=100,
        log_every=10,
        num_threads=cfg.threads,
        seed=cfg.seed,
    )
    # A run dir left by a killed lab resumes; one from different settings is replaced (its stage record is
    # gone). The trainer replaces only a run dir it made itself (RunDir's marker).
    resume = _same_config(run_dir, sft)
    result = train(sft, run_dir, resume=resume, overwrite=not resume, progress=progress)
    return {
        "steps": result.last_step,
        "final_loss": result.losses[-1] if result.losses else None,
        "tokens_per_s": round(result.tokens_per_s),
        "tokens_seen": result.tokens_seen,
    }


def _same_config(run_dir: Path, sft: Any) -> bool:
    """Whether `run_dir` holds a run of exactly this config (so it can resume)."""
    from sftscope.config import to_dict
    from sftscope.errors import InputError
    from sftscope.rundir import RunDir

    run = RunDir(run_dir)
    try:
        return run.has_config() and run.read_config() == json.loads(json.dumps(to_dict(sft)))
    except InputError:  # an unreadable config is not ours to resume
        return False


def _sweep(cfg: LabConfig, arm: str, run_dir: Path, progress: bool) -> dict[str, Any]:
    from sftscope.eval.config import BackendOptions, EvalConfig, SweepConfig
    from sftscope.eval.sweep import run_sweep

    evaluation = EvalConfig(
        suite="lab",
        backend="hf",
        limit=cfg.limit,
        backend_options=BackendOptions(batch_size=cfg.batch_gen),
        max_new_tokens=cfg.max_new_tokens or None,
        task_sampling={} if cfg.max_new_tokens else {"countdown3": {"max_new_tokens": COUNTDOWN_TOKENS[arm]}},
    )
    summary = run_sweep(SweepConfig(target=str(run_dir), eval=evaluation), show_progress=progress)
    return {
        "evaluated": summary.evaluated,
        "cached": summary.cached,
        "new_samples": summary.new_samples,
        "db": summary.db,
    }


def _report(run_dir: Path, built: dict[str, Estimator]) -> dict[str, Any]:
    """Write the report; its estimator goes into `built`, so the lab need not build another."""
    from sftscope.report.build import build_report

    result = build_report(run_dir)
    built["estimator"] = result.findings.estimator
    return {"html": str(result.html), "markdown": str(result.markdown)}


def _accuracy(est: Estimator) -> dict[str, dict[int, tuple[float, int]]]:
    """task -> step -> (right, n questions), read from the report's estimator: right / n is its score."""
    table: dict[str, dict[int, tuple[float, int]]] = {}
    for key in est.cells:
        found = est.estimate(key)
        if found is not None:
            table.setdefault(key.task, {})[key.step] = (round(found.mean * found.n, 6), found.n)
    return {task: dict(sorted(steps.items())) for task, steps in table.items()}


def _arm_section(cfg: LabConfig, arm: ArmResult, est: Estimator) -> list[str]:
    """lab.md's lines for one arm: what it trained on and its accuracy table (task x step)."""
    from sftscope.report.tables import score_text

    lines = [
        f"## Arm `{arm.arm}`",
        "",
        f"SFT data: {arm.data}.",
        f"Countdown generations are capped at {cfg.max_new_tokens or COUNTDOWN_TOKENS[arm.arm]} new tokens.",
        f"Report: {arm.report}",
        "",
    ]
    grid: dict[str, dict[int, Any]] = {}
    for key in est.cells:
        grid.setdefault(key.task, {})[key.step] = key
    steps = sorted({key.step for key in est.cells})
    lines.append("| task | " + " | ".join(f"step {s}" for s in steps) + " |")
    lines.append("|---|" + "---|" * len(steps))
    for task, by_step in sorted(grid.items(), key=lambda kv: (not kv[0].startswith("countdown"), kv[0])):
        cells = [
            f"{score_text(est.cell(by_step[s]).metric, est.estimate(by_step[s]))} ({len(est.cell(by_step[s]).qids)})"
            if s in by_step
            else "-"
            for s in steps
        ]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _write_summary(
    cfg: LabConfig, out: Path, arms: list[ArmResult], sections: list[list[str]], seconds: dict[str, float]
) -> Path:
    lines = ["# sftscope mini-lab", "", f"Settings: `{json.dumps(_plain(asdict(cfg)))}`", ""]
    for section in sections:
        lines += section
    lines += [
        "Accuracy is greedy: % correct [95% interval over questions, as in the report] (n questions). Step 0 "
        "is the base model. Countdown is in-domain; the other tasks "
        "are held-out questions of the base stage's reasoning-gym families (cross-domain).",
        "",
        "Stage times when each ran (s): " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()),
        "",
    ]
    path = out / "lab.md"
    with atomic_open(path) as handle:
        handle.write("\n".join(lines))
    write_json(
        out / "lab.json",
        {
            "config": _plain(asdict(cfg)),
            "seconds": {k: round(v, 1) for k, v in seconds.items()},
            "arms": [
                {
                    "arm": a.arm,
                    "data": a.data,
                    "report": str(a.report),
                    "run_dir": str(a.run_dir),
                    "accuracy": {t: {str(s): list(v) for s, v in by.items()} for t, by in a.accuracy.items()},
                }
                for a in arms
            ],
        },
    )
    return path


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _plain(value: Any) -> Any:
    """JSON-shaped (lists, not tuples), so a stored record compares equal to fresh parameters."""
    return json.loads(json.dumps(value, default=str))
