"""RunDir: the one owner of the run-directory layout (names, run name, config, markers)."""

from __future__ import annotations

import pytest

from sftscope.errors import InputError
from sftscope.rundir import RunDir, checkpoint_name, checkpoint_step


def test_layout_and_names(tmp_path):
    run = RunDir(tmp_path / "my-run")
    assert run.name == "my-run" and not run.exists() and run.is_empty()
    assert run.checkpoint(40) == tmp_path / "my-run" / "checkpoints" / "step-40"
    assert checkpoint_name(40) == "step-40" and checkpoint_step("step-40") == 40
    assert checkpoint_step("step40") is None and checkpoint_step("checkpoint-40") is None
    assert (
        run.checkpoint_tmp(40).name.startswith(".") and run.checkpoint_tmp(40).parent == run.checkpoints_dir
    )
    assert {run.db_path.parent, run.report_dir.parent, run.metrics_path.parent.parent} == {run.path}


def test_checkpoint_steps_only_complete_ones(tmp_path):
    run = RunDir(tmp_path)
    for step, complete in ((10, True), (20, False), (5, True)):
        run.checkpoint(step).mkdir(parents=True)
        if complete:
            RunDir.checkpoint_meta(run.checkpoint(step)).write_text("{}")
    run.checkpoint_tmp(30).mkdir()
    assert run.checkpoint_steps() == [5, 10]


def test_markers(tmp_path):
    run = RunDir(tmp_path)
    assert not run.is_ours() and not run.finished()
    run.mark_ours()
    assert run.is_ours()
    run.finished_path.write_text("{not json")  # still being written
    assert not run.finished()
    run.mark_finished({"step": 30})
    assert run.finished()
    run.clear_finished()
    assert not run.finished()
    (tmp_path / "DONE").write_text("")  # another trainer's marker
    assert run.finished()


def test_config_and_base_model(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "r")
    assert run.read_config() == {} and run.base_model() is None
    run.path.mkdir()
    (tmp_path / "base").mkdir()
    run.config_path.write_text("model: base\nlr: 1.0e-5\n")
    assert run.read_config()["lr"] == 1e-5
    monkeypatch.chdir(run.path)  # no "base" here: found next to the run dir, as train saw it from there
    assert run.base_model() == str(tmp_path / "base")
    run.config_path.write_text("model: Qwen/Qwen3-1.7B\n")
    assert run.base_model() == "Qwen/Qwen3-1.7B"
    run.config_path.write_text("model: [1, 2]\n")
    with pytest.raises(InputError, match="key 'model'"):
        run.base_model()
    run.config_path.write_text("model: [unclosed\n")
    with pytest.raises(InputError, match="invalid YAML"):
        run.read_config()
    run.config_path.write_text("- a list\n")
    with pytest.raises(InputError, match="mapping"):
        run.read_config()
