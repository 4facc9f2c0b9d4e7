"""End to end on a ~40k-parameter model: checkpoints, logs, resume equality, markers and the bad inputs."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from sftscope.cli.main import main
from sftscope.config import load_config
from sftscope.data.countdown import generate_rows
from sftscope.data.io import write_rows
from sftscope.errors import InputError
from sftscope.rundir import RunDir
from sftscope.train.config import SFTConfig
from sftscope.train.lab_model import build_model, build_tokenizer
from sftscope.train.metrics import read_metrics
from sftscope.train.trainer import TrainInputs, train

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
        "micro_batch_size: 2\nlr: 5.0e-3\nwarmup_ratio: 0.25\nsave_steps: [2, 4]\nstate_every: 2\n",
        encoding="utf-8",
    )
    return root, config


def test_cli_train_writes_checkpoints_logs_markers_and_refuses_to_overwrite(lab, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root, config = lab
    run = RunDir(root / "run")
    assert main(["train", str(config), "--out", str(run), "--no-progress"]) == 0
    assert run.checkpoint_steps() == [2, 4, 8]
    meta = json.loads(run.checkpoint_meta(run.checkpoint(8)).read_text())
    assert meta["step"] == 8 and meta["epoch"] == 2.0 and meta["tokens_seen"] > 0
    model = AutoModelForCausalLM.from_pretrained(run.checkpoint(4))
    assert AutoTokenizer.from_pretrained(run.checkpoint(4)).chat_template
    assert model.config.model_type == "qwen3" and model.lm_head.weight is model.model.embed_tokens.weight
    logged = [m for m in read_metrics(run.path) if "loss" in m]
    assert len(logged) == 8 and logged[-1]["loss"] < logged[0]["loss"]
    assert [m["lr"] for m in logged[:3]] == pytest.approx([0.0, 2.5e-3, 5e-3])  # verl warmup: 2 steps from 0
    assert load_config(SFTConfig, run.config_path).model == str(root / "base")
    assert run.is_ours() and run.finished()
    assert json.loads(run.finished_path.read_text())["checkpoints"] == [2, 4, 8]
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
    killed = train(cfg, root / "killed", progress=False, inputs=TrainInputs(stop_after=5))  # state: step 3
    run = RunDir(root / "killed")
    assert killed.last_step == 5 and not killed.finished and not run.finished()
    run.mark_finished({"step": 5})  # a stale marker (a copy of a finished run, say) must not survive
    assert not any(p.suffix == ".pkl" for p in run.state_dir.iterdir())  # resumable state is never pickled
    half = train(cfg, run.path, resume=True, progress=False, inputs=TrainInputs(stop_after=6))
    assert half.last_step == 6 and not run.finished()
    resumed = train(cfg, run.path, resume=True, progress=False)
    assert resumed.last_step == 8 and resumed.finished and run.finished()
    assert torch.allclose(torch.tensor(resumed.losses), torch.tensor(full.losses), rtol=1e-5, atol=1e-6)
    steps = [m["step"] for m in read_metrics(run.path) if "loss" in m]
    assert steps == list(range(1, 9))  # the log reads as one run: steps 4-6 are not doubled
    from safetensors.torch import load_file

    w_full = load_file(RunDir(root / "full").checkpoint(8) / "model.safetensors")
    w_res = load_file(run.checkpoint(8) / "model.safetensors")
    assert "lm_head.weight" not in w_full  # tied: the checkpoint carries one tensor
    assert all(torch.allclose(w_full[k], w_res[k], atol=1e-6) for k in w_full)


class _Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_tampered_state_never_runs_code(lab, tmp_path):
    _, config = lab
    cfg = load_config(SFTConfig, config, ["max_steps=3", "save_steps=[3]", "state_every=1"])
    run = RunDir(tmp_path / "r")
    train(cfg, run.path, progress=False, inputs=TrainInputs(stop_after=2))
    ran = tmp_path / "code-ran"
    (run.state_dir / "custom_checkpoint_0.pkl").write_bytes(pickle.dumps(_Payload(str(ran))))
    for name in ("optimizer.bin", "pytorch_model.bin", "random_states_0.pkl"):
        torch.save({"x": _Payload(str(ran))}, run.state_dir / name)  # what accelerate used to unpickle
    assert train(cfg, run.path, resume=True, progress=False).last_step == 3  # those files are never read
    assert not ran.exists()
    shard = RunDir.state_shard(run.state_dir, 0, 1)
    shard.write_bytes(pickle.dumps(_Payload(str(ran))))  # the real state file, replaced by a pickle
    with pytest.raises(InputError, match="cannot read the resumable state"):
        train(cfg, run.path, resume=True, progress=False)
    assert not ran.exists()


@pytest.mark.parametrize(
    "step,message",
    [(True, "got True"), (99, "got 99"), (-1, "got -1"), ("2", "got '2'")],
)
def test_a_state_step_that_is_not_a_step_number_is_an_error(lab, tmp_path, step, message):
    _, config = lab
    cfg = load_config(SFTConfig, config, ["max_steps=3", "save_steps=[3]", "state_every=1"])
    run = RunDir(tmp_path / "r")
    train(cfg, run.path, progress=False, inputs=TrainInputs(stop_after=2))
    path = RunDir.trainer_state(run.state_dir)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "step": step}))
    with pytest.raises(InputError, match=f"trainer.json: field 'step'.*{message}"):
        train(cfg, run.path, resume=True, progress=False)


def test_overwrite_deletes_only_our_run_dirs_and_never_its_own_inputs(lab, tmp_path, capsys):
    root, config = lab
    base = ["train", str(config), "--no-progress", "--set", "max_steps=1", "--set", "save_steps=[1]"]
    mine = tmp_path / "mine"
    assert main([*base, "--out", str(mine)]) == 0
    assert main([*base, "--out", str(mine), "--overwrite"]) == 0  # ours: replaced
    assert RunDir(mine).is_ours()

    home = tmp_path / "home"  # not a run dir: a user's folder
    (home / "notes").mkdir(parents=True)
    (home / "notes" / "thesis.tex").write_text("precious")
    older = tmp_path / "older"  # an sftscope run from before the marker existed
    (older / "checkpoints" / "step-1").mkdir(parents=True)
    (older / "config.yaml").write_text("lr: 1.0e-3\n")
    capsys.readouterr()
    assert main([*base, "--out", str(home), "--overwrite"]) == 2
    assert "not a run dir made by sftscope train" in capsys.readouterr().err
    assert main([*base, "--out", str(older), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "older sftscope" in err and "delete it by hand" in err
    assert (home / "notes" / "thesis.tex").read_text() == "precious" and (older / "config.yaml").exists()

    # The model (and data) a run loads may not live inside the dir --overwrite would delete, even ours.
    assert main([*base, "--out", str(root), "--overwrite"]) == 2
    assert "lies inside" in capsys.readouterr().err and (root / "base" / "config.json").exists()


def test_bad_inputs_are_clear_errors(lab, tmp_path, capsys):
    _, config = lab
    cases = [
        (["--set", f"model={tmp_path / 'nope'}"], "model path not found"),
        (["--set", "save_steps=[100]"], "past the last step 8"),
        (["--set", "max_length=5", "--set", "overlong=drop"], "longer than max_length=5"),
        (["--set", "lr=1e300"], "lr must be a finite number"),
        (["--set", "lr=.inf"], "lr must be a finite number"),
        (["--set", "weight_decay=.nan"], "weight_decay must be a finite number"),
        (["--set", "eps=1e300"], "eps must be a finite number"),
        (["--set", "num_threads=100000"], "num_threads must be in [0, 1024]"),
        (["--set", "attn_implementation=bogus"], "attn_implementation 'bogus' is unknown"),
        (["--set", "attn_implementation=flash_attention_2"], "needs the flash_attn package"),
        (["--set", "report_to=[wandb]"], "needs the wandb package"),
    ]
    for extra, message in cases:
        out = tmp_path / "r"
        assert main(["train", str(config), "--out", str(out), "--no-progress", *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
        assert not out.exists(), extra  # every one of them is caught before the run dir is made
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert main(["train", str(config), "--out", str(tmp_path / "e"), "--set", f"data={empty}"]) == 2
    assert "empty" in capsys.readouterr().err
    cfg = load_config(SFTConfig, config, ["max_steps=2", "save_steps=[2]"])
    train(cfg, tmp_path / "c", progress=False)
    RunDir.trainer_state(RunDir(tmp_path / "c").state_dir).write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="corrupt"):
        train(cfg, tmp_path / "c", resume=True, progress=False)


def test_a_run_of_nonfinite_losses_stops_with_a_clear_error(lab, tmp_path, capsys):
    _, config = lab
    out = tmp_path / "nan"
    args = ["--set", "lr=1e30", "--set", "warmup_ratio=0", "--set", "max_nonfinite_steps=2"]
    assert main(["train", str(config), "--out", str(out), "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert (
        "the loss or the gradient norm was not finite for 2 steps in a row" in err and "Traceback" not in err
    )
    logged = [m for m in read_metrics(out) if m["step"] > 0]
    assert [m["step"] for m in logged] == [1, 2, 3] and all(m["skipped_update"] for m in logged[1:])
    assert not RunDir(out).finished()
