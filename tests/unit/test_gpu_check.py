"""benchmarks/gpu_check.py and train_throughput.py on a machine without CUDA: the plan, the skips, a smoke run."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu_check():
    return load("gpu_check")


def test_dry_run_lists_every_section_in_order_with_sizes(gpu_check, monkeypatch, capsys):
    monkeypatch.setattr(gpu_check.bench, "trl_missing", lambda: "ModuleNotFoundError: No module named 'trl'")
    monkeypatch.setattr(gpu_check, "vllm_missing", lambda: None)
    assert gpu_check.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Qwen3-1.7B shape (1.72 B parameters, vocab 151,936), rows of 8,192 and 16,384 tokens" in out
    sections = [
        "1. tests/gpu",
        "2. ours",
        "bf16-pure",
        "3. TRL",
        "4. one FSDP2",
        "5. vLLM",
        "targets: MFU >= 40%",
    ]
    positions = [out.index(s) for s in sections]
    assert positions == sorted(positions)
    assert "3. TRL SFTTrainer (bf16 weights) on the same rows: would skip: ModuleNotFoundError" in out
    assert "micro model: ready" in out


def test_without_cuda_the_check_refuses_and_names_the_dry_run(gpu_check, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert gpu_check.main([]) == 2
    assert "--dry-run" in capsys.readouterr().err


def test_trl_baseline_is_skipped_with_its_import_error_before_any_gpu_work(monkeypatch):
    """Regression: --mode gpu crashed at the TRL step on an image without TRL or datasets."""
    bench = load("train_throughput")
    monkeypatch.setitem(sys.modules, "trl", None)  # import trl raises ImportError
    reason = bench.trl_missing()
    assert reason and reason.startswith(("ImportError", "ModuleNotFoundError"))
    args = argparse.Namespace(no_trl=False, steps=2, warmup=1)
    result = bench.gpu_setup("trl", "bf16-pure", 8192, args, config=None, tokenizer=None)
    assert result == {"setup": "trl bf16-pure Qwen3-1.7B shape, 1 x 8,192 tokens/step", "skipped": reason}


def test_results_are_printed_as_they_come(capsys):
    bench = load("train_throughput")
    out: list[dict] = []
    bench.report({"setup": "ours x", "tokens_per_s": 1234.0, "peak_gb": 2.5, "mfu": 0.41}, out)
    assert capsys.readouterr().out == "ours x: 1,234 tokens/s, peak 2.50 GiB, MFU 41.0%\n" and len(out) == 1


@pytest.mark.slow
def test_smoke_runs_every_section_on_cpu(gpu_check, capsys):
    if torch.cuda.is_available():
        pytest.skip("on a GPU machine, run make gpu-check instead")
    assert gpu_check.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    lines = [
        "1. tests/gpu: skipped (no CUDA)",
        "ours bf16 micro Qwen3",
        "plan ",
        "ours bf16-pure micro Qwen3",
    ]
    lines += [
        "4. FSDP2, 1 CPU process (gloo)",
        "trainer: fsdp True, world 1, precision bf16, device cpu",  # through the trainer, not fully_shard here
        "tied embeddings after fully_shard: one tensor",
        "5. vLLM smoke",
    ]
    positions = [out.index(line) for line in lines]
    assert positions == sorted(positions)
    if gpu_check.bench.trl_missing() is None:
        assert "trl bf16-pure micro Qwen3" in out and "ours bf16 / TRL:" in out
    assert "PASS FSDP2 step runs with finite losses" in out and "PASS FSDP2 through the trainer" in out
