"""FSDP2 on CPU: two gloo processes train the lab config like one process, resume exactly, and save a
checkpoint with one tied embedding; accelerate launch and accelerate's own FSDP2 loading keep it tied."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest
import torch

from sftscope.cli.main import main
from sftscope.data.countdown import generate_rows
from sftscope.data.io import write_rows
from sftscope.rundir import RunDir
from sftscope.train.config import SFTConfig
from sftscope.train.distributed import fsdp_requested
from sftscope.train.lab_model import build_model, build_tokenizer
from sftscope.train.loss import LossModel
from sftscope.train.metrics import read_metrics

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LAB_CONFIG = ROOT / "configs" / "sft" / "lab_countdown.yaml"
# Global batch 8: one process runs 4 micro-batches of 2 rows, two processes 2 each.
SETTINGS = [
    "max_steps=4",
    "save_steps=[2,4]",
    "state_every=2",
    "batch_size=8",
    "micro_batch_size=2",
    "max_length=256",
    "num_threads=1",
    "log_every=1",
]
# Under torchrun: an uninterrupted FSDP run through the CLI, and one killed after step 2, then resumed.
# The driver owns the process group, so the trainer can run three times in one launch.
DRIVER = """
import sys
import torch.distributed as dist
from sftscope.cli.main import main
from sftscope.config import load_config
from sftscope.train.config import SFTConfig
from sftscope.train.trainer import TrainInputs, train

config, out, *settings = sys.argv[1:]
dist.init_process_group("gloo")
args = ["train", config, "--no-progress", *[x for s in settings for x in ("--set", s)]]
assert main([*args, "--out", f"{out}/full"]) == 0
train(load_config(SFTConfig, config, settings), f"{out}/killed", progress=False, inputs=TrainInputs(stop_after=2))
assert main([*args, "--out", f"{out}/killed", "--resume"]) == 0
dist.destroy_process_group()
"""


def _env() -> dict[str, str]:
    src = str(ROOT / "src")
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": path}


def _launcher(name: str) -> str:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or name


def _curve(run: Path) -> tuple[torch.Tensor, torch.Tensor]:
    logged = [m for m in read_metrics(run) if "loss" in m]
    return torch.tensor([m["loss"] for m in logged]), torch.tensor([m["grad_norm"] for m in logged])


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A tied-embedding micro model, Countdown rows, and the one-process run of the lab config."""
    root = tmp_path_factory.mktemp("fsdp")
    rows = generate_rows(16, seed=1, style="direct")
    tokenizer = build_tokenizer([r.messages[0]["content"] + r.response for r in rows] * 3)
    model = build_model("micro", tokenizer)
    assert model.config.tie_word_embeddings
    model.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    write_rows(rows, root / "rows.jsonl")
    settings = [f"model={root / 'base'}", f"data={root / 'rows.jsonl'}", *SETTINGS]
    one = root / "one"
    assert main(["train", str(LAB_CONFIG), "--out", str(one), "--no-progress", *_sets(settings)]) == 0
    return root, settings, _curve(one)


def _sets(settings: list[str]) -> list[str]:
    return [x for s in settings for x in ("--set", s)]


def test_fsdp_on_two_processes_matches_one_process_resumes_exactly_and_saves_one_tied_tensor(lab):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    root, settings, (loss_1, norm_1) = lab
    driver = root / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    cmd = [_launcher("torchrun"), "--standalone", "--nproc_per_node=2", str(driver), str(LAB_CONFIG)]
    done = subprocess.run(
        [*cmd, str(root / "two"), "fsdp=true", *settings],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    full, killed = RunDir(root / "two" / "full"), RunDir(root / "two" / "killed")
    first = read_metrics(full.path)[0]
    assert (first["world"], first["fsdp"]) == (2, True)  # really sharded over two processes
    loss_2, norm_2 = _curve(full.path)
    assert len(loss_1) == 4
    assert torch.allclose(loss_1, loss_2, rtol=1e-5, atol=1e-6), (loss_1, loss_2)
    assert torch.allclose(norm_1, norm_2, rtol=1e-4, atol=1e-6), (norm_1, norm_2)
    assert {p.name for p in killed.state_dir.iterdir()} >= {
        "rank-0-of-2.safetensors",
        "rank-1-of-2.safetensors",
    }
    loss_r, norm_r = _curve(killed.path)
    assert torch.equal(loss_r, loss_2) and torch.equal(norm_r, norm_2)  # exact resume
    assert full.finished() and killed.finished()

    weights = load_file(full.checkpoint(4) / "model.safetensors")
    assert "lm_head.weight" not in weights  # the config says tied: no stale second copy
    assert all(
        torch.equal(weights[k], w) for k, w in load_file(killed.checkpoint(4) / "model.safetensors").items()
    )
    one = load_file(root / "one" / "checkpoints" / "step-4" / "model.safetensors")
    assert all(torch.allclose(one[k], weights[k], atol=1e-5) for k in one)
    model = AutoModelForCausalLM.from_pretrained(full.checkpoint(4))
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert torch.equal(model.model.embed_tokens.weight, weights["model.embed_tokens.weight"])


def test_accelerate_launch_with_the_shipped_fsdp2_config_runs_the_same_fsdp2_path(lab):
    root, settings, (loss_1, _) = lab
    config = ROOT / "configs" / "accelerate" / "fsdp2_1node.yaml"
    run = root / "accelerate"
    cmd = [_launcher("accelerate"), "launch", "--config_file", str(config), "--num_processes", "2"]
    cmd += ["-m", "sftscope.cli.main", "train", str(LAB_CONFIG), "--out", str(run), "--no-progress"]
    done = subprocess.run([*cmd, *_sets(settings)], env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    first = read_metrics(run)[0]
    assert (first["world"], first["fsdp"]) == (2, True)
    assert torch.allclose(_curve(run)[0], loss_1, rtol=1e-5, atol=1e-6)


def test_a_tied_model_keeps_one_tensor_under_accelerates_fsdp2_meta_device_loading(monkeypatch):
    """accelerate cannot run FSDP on CPU through Accelerator, so its own fsdp2_prepare_model (the code an
    `accelerate launch` FSDP run prepares the model with) is called directly, with cpu_ram_efficient_loading,
    on a one-process gloo group and a stand-in for the Accelerator object it reads."""
    import torch.distributed as dist
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.fsdp_utils import fsdp2_prepare_model

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert fsdp_requested(SFTConfig())  # an accelerate FSDP launch selects our FSDP2 path too

    class _Tok:
        eos_token_id, pad_token_id = 1, 0

        def __len__(self) -> int:
            return 64

    class Bare(torch.nn.Module):  # the loss wrapper as it was: no tie_weights()
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

    store = tempfile.mkdtemp()
    dist.init_process_group("gloo", init_method=f"file://{store}/pg", rank=0, world_size=1)
    try:
        tied = {}
        for name, wrap in (("ours", LossModel), ("bare", Bare)):
            model = build_model("micro", _Tok(), seed=0)
            before = model.model.embed_tokens.weight.detach().clone()
            plugin = FullyShardedDataParallelPlugin(
                fsdp_version=2,
                cpu_ram_efficient_loading=True,
                auto_wrap_policy="transformer_based_wrap",
                transformer_cls_names_to_wrap=["Qwen3DecoderLayer"],
            )
            accelerator = types.SimpleNamespace(
                state=types.SimpleNamespace(fsdp_plugin=plugin),
                torch_device_mesh=None,
                parallelism_config=None,
                mixed_precision="no",
                is_main_process=True,
                device=torch.device("cpu"),
            )
            fsdp2_prepare_model(accelerator, wrap(model))
            tied[name] = model.lm_head.weight is model.model.embed_tokens.weight
            if name == "ours":
                assert torch.equal(model.model.embed_tokens.weight.full_tensor(), before)
        assert tied == {"ours": True, "bare": False}
    finally:
        dist.destroy_process_group()
        shutil.rmtree(store, ignore_errors=True)
