"""How long `sftscope report` takes on a sweep-sized DB: 12 checkpoints x 10 tasks x 100 questions x 4 samples.

    .venv/bin/python benchmarks/report_speed.py [--questions 100] [--samples 4]

Builds the DB with the real store, then times (a) analysis only (read + curves + labels + behaviour, no
figures) and (b) the full report (figures, HTML, markdown), in the same process. Target: (b) <= 20 s.
Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from sftscope.analysis.findings import analyse_run
from sftscope.records import CheckpointRef, SampleRecord
from sftscope.report.build import build_report
from sftscope.report.source import load_run
from sftscope.store.db import Store

STEPS = [0, 10, 20, 40, 80, 160, 320, 480, 640, 800, 960, 1120]
TASKS = [
    ("countdown", "in_domain"),
    ("math500", "in_domain"),
    ("aime24", "in_domain"),
    ("gpqa_diamond", "cross_domain"),
    ("mmlu_pro", "cross_domain"),
    ("livecodebench", "cross_domain"),
    ("humaneval", "cross_domain"),
    ("ifeval", "general"),
    ("alpacaeval", "general"),
    ("hexphi", "safety"),
]
TARGET_S = 20.0
PHRASES = ["Wait, that is not right.", "Let me check the sum.", "First, add the numbers.", "so the result is"]


def synthetic_db(path: Path, n_questions: int, n_samples: int) -> int:
    rng = random.Random(0)
    records = []
    for t, (task, domain) in enumerate(TASKS):
        for s, step in enumerate(STEPS):
            dip = -0.3 if 2 <= s <= 4 and domain == "cross_domain" else 0.0
            p = min(0.95, 0.3 + 0.04 * s + dip + 0.02 * t)
            for q in range(n_questions):
                for i in range(n_samples):
                    ok = rng.random() < p
                    words = rng.choices(PHRASES, k=40 + 4 * s)
                    records.append(
                        SampleRecord(
                            "bench",
                            f"step-{step}",
                            step,
                            task,
                            "1",
                            domain,
                            f"{task}-{q}",
                            i,
                            f"q{q}",
                            "1",
                            "<think>" + " ".join(words) + "</think> \\boxed{1}",
                            "1" if ok else "2",
                            ok,
                            float(ok),
                            6 * len(words),
                            "length" if rng.random() < 0.02 else "stop",
                        )
                    )
    with Store(path) as store:
        store.record_run("bench", {"model": "synthetic"})
        for step in STEPS:
            store.record_checkpoint(CheckpointRef("bench", step, f"step-{step}"))
        store.add_samples(records)
    return len(records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=100, help="questions per task")
    parser.add_argument("--samples", type=int, default=4, help="samples per question")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        n = synthetic_db(db, args.questions, args.samples)
        print(
            f"built {db.name}: {n} samples, {len(STEPS)} checkpoints x {len(TASKS)} tasks in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        t0 = time.perf_counter()
        loaded = load_run(db)
        analyse_run(loaded.records, loaded.run)
        analysis_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = build_report(db, out=Path(tmp) / "report")
        report_s = time.perf_counter() - t0
    print(f"analysis only (read + curves + labels + behaviour): {analysis_s:.2f} s")
    print(
        f"full report (+ figures, HTML, markdown):            {report_s:.2f} s  (target <= {TARGET_S:.0f} s)"
    )
    print(f"ratio full/analysis: {report_s / analysis_s:.2f}x; verdict: {result.findings.verdict()[1]}")
    return 0 if report_s <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
