"""`run_lab`'s bookkeeping without a model: the training and sweep stages are stubbed, the arm's results DB
is a synthetic stored run. One estimator per arm serves the accuracy, lab.md and lab.json."""

from __future__ import annotations

import json

import pytest
from report_data import synthetic_records

from sftscope.analysis.estimator import Estimator
from sftscope.lab import pipeline
from sftscope.lab.config import LabConfig
from sftscope.records import CheckpointRef
from sftscope.store.db import Store

CURVES = {
    "countdown3": ("in_domain", (0.1, 0.3, 0.5)),
    "leg_counting": ("cross_domain", (0.6, 0.4, 0.55)),
}


@pytest.fixture
def stubbed(tmp_path, monkeypatch):
    out = tmp_path / "lab"
    run_dir = out / "direct"
    run_dir.mkdir(parents=True)
    records = synthetic_records(run="direct", steps=(0, 2, 4), curves=CURVES, n_questions=12, k=1)
    with Store(run_dir / "sftscope.db") as store:
        store.record_run("direct", {}, {"countdown3": "1"})
        for step in (0, 2, 4):
            store.record_checkpoint(CheckpointRef("direct", step, f"{run_dir}/checkpoints/step-{step}"))
        store.add_samples(records)
    monkeypatch.setattr(pipeline, "_build_base", lambda *a: {})
    monkeypatch.setattr(pipeline, "_make_data", lambda *a: {"data": "Countdown direct (stub)"})
    monkeypatch.setattr(pipeline, "_train", lambda *a: {})
    monkeypatch.setattr(pipeline, "_sweep", lambda *a: {"new_samples": 0})
    monkeypatch.setattr("sftscope.report.build.make_figures", lambda findings, tick=None: {})
    built = []
    init = Estimator.__init__

    def counting(self, *args, **kwargs):
        built.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(Estimator, "__init__", counting)
    return LabConfig(out=str(out), arms=["direct"], threads=1), built


def test_one_estimator_per_arm_whether_or_not_the_report_runs(stubbed):
    cfg, built = stubbed
    first = pipeline.run_lab(cfg, log=lambda _: None)
    assert first.seconds["report-direct"] > 0 and len(built) == 1  # the report's estimator, reused
    again = pipeline.run_lab(cfg, log=lambda _: None)
    assert again.seconds["report-direct"] == 0.0 and len(built) == 2  # report cached: one estimator
    assert again.arms[0].accuracy == first.arms[0].accuracy

    (arm,) = first.arms
    assert set(arm.accuracy) == set(CURVES) and set(arm.accuracy["countdown3"]) == {0, 2, 4}
    assert all(n == 12 for by in arm.accuracy.values() for _, n in by.values())
    est = built[-1]
    for key in est.cells:
        found = est.estimate(key)
        right, n = arm.accuracy[key.task][key.step]
        assert right == pytest.approx(found.mean * n)
    summary = json.loads((first.out / "lab.json").read_text())
    assert summary["arms"][0]["accuracy"]["countdown3"]["4"] == list(arm.accuracy["countdown3"][4])
    md = first.summary.read_text()
    assert "## Arm `direct`" in md and "SFT data: Countdown direct (stub)." in md
    assert md.index("| countdown3 |") < md.index("| leg_counting |")
    assert "| task | step 0 | step 2 | step 4 |" in md and "(12) |" in md
