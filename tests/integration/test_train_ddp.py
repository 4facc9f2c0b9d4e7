"""Two CPU processes (gloo, torchrun, DDP) train the same steps as one process with the same global batch,
under the paper's `reference` loss reduction: the same gradient whatever the real split."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sftscope.data.countdown import generate_rows
from sftscope.data.io import write_rows
from sftscope.rundir import RunDir
from sftscope.train.lab_model import build_model, build_tokenizer
from sftscope.train.metrics import read_metrics

pytestmark = pytest.mark.slow


def _sftscope(args: list[str], nproc: int, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    if nproc == 1:
        cmd = [sys.executable, "-m", "sftscope.cli.main", *args]
    else:
        torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
        cmd = [torchrun, "--standalone", f"--nproc_per_node={nproc}", "-m", "sftscope.cli.main", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_two_processes_match_one_process(tmp_path):
    rows = generate_rows(16, seed=1, style="direct")
    tokenizer = build_tokenizer([r.messages[0]["content"] + r.response for r in rows] * 3)
    build_model("micro", tokenizer).save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    write_rows(rows, tmp_path / "rows.jsonl")
    config = tmp_path / "ddp.yaml"
    # Global batch 8: one process runs 4 micro-batches of 2, two processes run 2 each. The emulated
    # reference layout is different again: 4 virtual ranks of 2 rows, each in 2 micro-batches of 1 row, so
    # a row's loss scale never matches the real micro-batch it runs in.
    config.write_text(
        f"model: {tmp_path / 'base'}\ndata: {tmp_path / 'rows.jsonl'}\nmax_length: 256\nmax_steps: 3\n"
        "batch_size: 8\nmicro_batch_size: 2\nlr: 5.0e-3\nsave_steps: [3]\nsave_final: false\n"
        "loss_reduction: reference\nreference_world_size: 4\nreference_micro_batch: 1\n",
        encoding="utf-8",
    )
    losses, norms = {}, {}
    for nproc in (1, 2):
        run = tmp_path / f"run{nproc}"
        done = _sftscope(["train", str(config), "--out", str(run), "--no-progress"], nproc, tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        metrics = read_metrics(run)
        assert metrics[0]["world"] == nproc  # really distributed, not two copies of a single-process run
        losses[nproc] = torch.tensor([m["loss"] for m in metrics if "loss" in m])
        norms[nproc] = torch.tensor([m["grad_norm"] for m in metrics if "loss" in m])
        assert RunDir(run).checkpoint_steps() == [3] and RunDir(run).finished() and RunDir(run).is_ours()
    assert len(losses[1]) == 3
    assert torch.allclose(losses[1], losses[2], rtol=1e-4, atol=1e-5), (losses[1], losses[2])
    assert torch.allclose(norms[1], norms[2], rtol=1e-4, atol=1e-6), (norms[1], norms[2])  # same gradient
