"""A miniature mini-lab end to end (micro model, a few steps, a few examples), then a cached second run."""

from __future__ import annotations

import json
import sqlite3

import pytest

from sftscope.cli.main import main
from sftscope.config import load_config
from sftscope.lab.config import LabConfig
from sftscope.lab.pipeline import run_lab

pytestmark = pytest.mark.slow

MINIATURE = [
    "preset=micro",
    "base_steps=4",
    "base_items=40",
    "corpus=[60, 20]",
    "n_train=60",
    "replay=0.2",
    "sft_steps=4",
    "batch_size=8",
    "n_checkpoints=2",
    "limit=3",
    "max_new_tokens=8",
    "batch_gen=8",
]


def test_lab_runs_end_to_end_then_reuses_everything(tmp_path, capsys):
    out = tmp_path / "lab"
    assert main(["lab", "--out", str(out), "--no-progress", *(f"--set={s}" for s in MINIATURE)]) == 0
    printed = capsys.readouterr().out
    run = out / "direct"
    assert (out / "base" / "config.json").is_file()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-2", "step-4"]
    assert (run / "report" / "index.html").is_file()
    assert f"report: {run / 'report' / 'index.html'}" in printed
    assert "+ 20% replay of base-stage items" in printed

    rows = [json.loads(line) for line in (out / "data" / "countdown-direct.jsonl").read_text().splitlines()]
    replayed = [r for r in rows if r["source"].startswith("reasoning_gym/")]
    assert len(rows) == 60 + 15 and len(replayed) == 15

    with sqlite3.connect(run / "sftscope.db") as conn:
        steps = conn.execute("SELECT step, COUNT(*) FROM samples GROUP BY step ORDER BY step").fetchall()
        tasks = {r[0] for r in conn.execute("SELECT DISTINCT task FROM samples")}
    assert [s for s, _ in steps] == [0, 2, 4]
    assert {n for _, n in steps} == {3 * 5}  # countdown + 4 cross-domain families, 3 examples each
    assert "countdown3" in tasks and len(tasks) == 5

    summary = json.loads((out / "lab.json").read_text())
    (arm,) = summary["arms"]
    assert set(arm["accuracy"]["countdown3"]) == {"0", "2", "4"}
    assert "SFT data: Countdown direct" in (out / "lab.md").read_text()

    # Second run: every stage is reused, nothing is generated or trained again.
    mtime = (run / "checkpoints" / "step-4" / "model.safetensors").stat().st_mtime
    cfg = load_config(LabConfig, None, [*MINIATURE, f"out={out}"])
    logs: list[str] = []
    again = run_lab(cfg, progress=False, log=logs.append)
    assert again.seconds["base"] == again.seconds["train-direct"] == again.seconds["report-direct"] == 0.0
    assert any("train-direct: done already" in line for line in logs)
    assert (run / "checkpoints" / "step-4" / "model.safetensors").stat().st_mtime == mtime
    assert again.arms[0].accuracy == {
        t: {int(s): tuple(v) for s, v in by.items()} for t, by in arm["accuracy"].items()
    }

    # A changed eval setting reruns the sweep and the report only.
    cfg = load_config(LabConfig, None, [*MINIATURE, f"out={out}", "limit=4"])
    logs.clear()
    third = run_lab(cfg, progress=False, log=logs.append)
    assert third.seconds["train-direct"] == 0.0 and third.seconds["report-direct"] > 0
    assert all(n == 4 for by in third.arms[0].accuracy.values() for _, n in by.values())


def test_lab_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="arms"):
        LabConfig(arms=["search"])
    with pytest.raises(ValueError, match="replay"):
        LabConfig(replay=1.0)
    assert LabConfig(sft_steps=600, n_checkpoints=6).save_steps() == [19, 38, 75, 150, 300, 600]
    assert LabConfig().save_steps() == [62, 125, 250, 500, 1000, 2000]
