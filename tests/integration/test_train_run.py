"""End to end on a ~40k-parameter model: checkpoints, logs, resume equality and the bad-input errors."""

from __future__ import annotations

import json

import pytest
import torch

from sftscope.cli.main import main
from sftscope.config import load_config
from sftscope.data.countdown import generate_rows
from sftscope.data.io import write_rows
from sftscope.errors import InputError
from sftscope.train.config import SFTConfig
from sftscope.train.lab_model import build_model, build_tokenizer
from sftscope.train.metrics import read_metrics
from sftscope.train.trainer import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    rows = generate_rows(24, seed=0, style="direct")
    tokenizer = build_tokenizer([r.messages[0]["content"] + r.response for r in rows] * 3)
    model = build_model("micro", tokenizer)
    model.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    write_rows(rows, root / "rows.jsonl")
    config = root / "tiny.yaml"
    config.write_text(
        f"model: {root / 'base'}\ndata: {root / 'rows.jsonl'}\nmax_length: 256\nepochs: 2\nbatch_size: 6\n"
        "micro_batch_size: 2\nlr: 5.0e-3\nwarmup_ratio: 0.1\nsave_steps: [2, 4]\nstate_every: 2\n",
        encoding="utf-8",
    )
    return root, config


def test_cli_train_writes_checkpoints_logs_and_refuses_to_overwrite(lab, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root, config = lab
    run = root / "run"
    assert main(["train", str(config), "--out", str(run), "--no-progress"]) == 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-2", "step-4", "step-8"]
    meta = json.loads((run / "checkpoints" / "step-8" / "sftscope.json").read_text())
    assert meta["step"] == 8 and meta["epoch"] == 2.0 and meta["tokens_seen"] > 0
    model = AutoModelForCausalLM.from_pretrained(run / "checkpoints" / "step-4")
    assert AutoTokenizer.from_pretrained(run / "checkpoints" / "step-4").chat_template
    assert model.config.model_type == "qwen3"
    losses = [m["loss"] for m in read_metrics(run) if "loss" in m]
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert load_config(SFTConfig, run / "config.yaml").model == str(root / "base")
    assert (run / "state" / "trainer.json").exists()
    capsys.readouterr()
    assert main(["train", str(config), "--out", str(run), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (
        main(["train", str(config), "--out", str(run), "--no-progress", "--set", "lr=1e-3", "--resume"]) == 2
    )
    assert "different config (lr changed)" in capsys.readouterr().err


def test_resume_after_a_kill_matches_an_uninterrupted_run(lab):
    root, config = lab
    cfg = load_config(SFTConfig, config, ["shuffle=true", "state_every=3", "save_steps=[8]"])
    full = train(cfg, root / "full", progress=False)
    killed = train(cfg, root / "killed", progress=False, stop_after=5)  # last state: step 3
    assert killed.last_step == 5
    resumed = train(cfg, root / "killed", resume=True, progress=False)
    assert resumed.last_step == 8
    assert torch.allclose(torch.tensor(resumed.losses), torch.tensor(full.losses), rtol=1e-5, atol=1e-6)
    steps = [m["step"] for m in read_metrics(root / "killed") if "loss" in m]
    assert steps == list(range(1, 9))  # the log reads as one run: steps 4-5 are not doubled
    from safetensors.torch import load_file

    w_full = load_file(root / "full" / "checkpoints" / "step-8" / "model.safetensors")
    w_res = load_file(root / "killed" / "checkpoints" / "step-8" / "model.safetensors")
    assert all(torch.allclose(w_full[k], w_res[k], atol=1e-6) for k in w_full)


def test_bad_inputs_are_clear_errors(lab, tmp_path, capsys):
    _, config = lab
    cases = [
        (["--set", f"model={tmp_path / 'nope'}"], "model path not found"),
        (["--set", "save_steps=[100]"], "past the last step 8"),
        (["--set", "max_length=5", "--set", "overlong=drop"], "longer than max_length=5"),
    ]
    for extra, message in cases:
        assert main(["train", str(config), "--out", str(tmp_path / "r"), "--no-progress", *extra]) == 2
        assert message in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert main(["train", str(config), "--out", str(tmp_path / "e"), "--set", f"data={empty}"]) == 2
    assert "empty" in capsys.readouterr().err
    cfg = load_config(SFTConfig, config, ["max_steps=2", "save_steps=[2]"])
    train(cfg, tmp_path / "c", progress=False)
    (tmp_path / "c" / "state" / "trainer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="corrupt"):
        train(cfg, tmp_path / "c", resume=True, progress=False)
