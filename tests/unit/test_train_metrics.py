"""Metrics log: JSONL (trimmed on resume, torn lines dropped) and the TensorBoard mirror."""

from __future__ import annotations

from sftscope.train.metrics import MetricsLog, read_metrics


def test_resume_trims_the_log_and_tensorboard_gets_scalars(tmp_path):
    log = MetricsLog(tmp_path, ["tensorboard"], enabled=True, resume_step=0, config={"lr": 1e-3})
    for step in range(1, 6):
        log.log({"step": step, "loss": 1.0 / step})
    log.close()
    with open(tmp_path / "logs" / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"step": 6, "lo')  # a kill mid-write
    assert list((tmp_path / "logs" / "tensorboard").glob("events.out.tfevents.*"))
    resumed = MetricsLog(tmp_path, [], enabled=True, resume_step=3, config={})
    resumed.log({"step": 4, "loss": 0.3})
    resumed.close()
    assert [m["step"] for m in read_metrics(tmp_path)] == [1, 2, 3, 4]
    assert read_metrics(tmp_path)[-1]["loss"] == 0.3
