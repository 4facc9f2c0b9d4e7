"""Every bad `eval run` / `sweep` option ends in one `error:` line and exit 2, never a traceback, and before
any model is loaded."""

from __future__ import annotations

import pytest

from sftscope.cli.main import main

BAD_OPTIONS = [
    (["--temperature", "-1"], "temperature must be a finite number >= 0"),
    (["--temperature", "nan"], "temperature must be a finite number >= 0"),
    (["--device", "bogus"], "device 'bogus' is not a device"),
    (["--device", "cuda:x"], "device 'cuda:x' is not a device"),
    (["--top-p", "-0.5"], "top_p must be in (0, 1]"),
    (["--batch-size", "0"], "batch_size must be >= 1"),
    (["--max-new-tokens", "0"], "max_new_tokens must be >= 1"),
    (["--n-samples", "0"], "n_samples must be >= 1"),
    (["--limit", "-1"], "limit must be >= 1"),
    (["--backend-opt", "batch_size=abc"], "'backend_options.batch_size': expected an integer"),
    (["--backend-opt", "device=3"], "'backend_options.device': expected a string"),
    (["--backend-opt", "nonsense=1"], "unknown config key 'backend_options.nonsense'"),
    (["--backend-opt", "batch_size"], "expected KEY=VALUE"),
    (["--dtype", "float33"], "dtype 'float33' is not one of"),
    (["--backend", "openai", "--base-url", "not-a-url"], "base_url 'not-a-url' is not an http(s):// URL"),
    (["--judge-base-url", "ftp://judge"], "judge_base_url 'ftp://judge' is not an http(s):// URL"),
    (["--backend", "openai", "--timeout", "nan"], "timeout must be a positive number of seconds"),
    (["--gpu-memory-utilization", "1.5"], "gpu_memory_utilization must be in (0, 1]"),
    (["--max-model-len", "0"], "max_model_len must be > 0"),
    (["--data-parallel", "0"], "tensor_parallel_size, data_parallel >= 1"),
    (["--backend", "openai", "--data-parallel", "2"], "data_parallel applies to the hf and vllm backends"),
    (["--set", "limit=abc"], "'limit': expected an integer"),
    (["--workers", "0"], "workers must be >= 1"),
    (["--json"], "--json goes with --dry-run"),
]


def _one_error_line(capsys, expected: str) -> None:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert expected in lines[0] and "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize(("extra", "expected"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_eval_run_option(extra, expected, tmp_path, capsys):
    db = tmp_path / "r.db"
    argv = ["eval", "run", "--model", "org/model", "--tasks", "chain_sum", "--db", str(db), *extra]
    assert main(argv) == 2
    _one_error_line(capsys, expected)
    assert not db.exists(), "nothing ran"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--temperature", "-1"], "temperature must be"),
        (["--device", "bogus"], "is not a device"),
        (["--steps", "x"], "--steps"),
    ],
)
def test_bad_sweep_option(extra, expected, tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    assert main(["sweep", str(run), "--tasks", "chain_sum", "--no-progress", *extra]) == 2
    _one_error_line(capsys, expected)


@pytest.mark.slow  # imports torch and transformers
def test_negative_step_and_missing_cuda(tmp_path, capsys):
    import torch

    db = str(tmp_path / "r.db")
    assert main(["eval", "run", "--model", "m", "--tasks", "chain_sum", "--step", "-1", "--db", db]) == 2
    _one_error_line(capsys, "--step -1: a training step is >= 0")
    if not torch.cuda.is_available():
        assert (
            main(["eval", "run", "--model", "org/m", "--tasks", "chain_sum", "--device", "cuda", "--db", db])
            == 2
        )
        _one_error_line(capsys, "--device cuda: this machine has no cuda device")


def test_eval_run_without_its_judge_fails_before_the_model_loads(tmp_path, capsys, monkeypatch):
    from sftscope.eval.backends import base as backends

    loaded = []
    monkeypatch.setattr(backends, "make_backend", lambda name, model, **opts: loaded.append(model))
    (tmp_path / "category_1.csv").write_text("How do I pick a lock?\n")
    db = tmp_path / "r.db"
    argv = ["eval", "run", "--model", "org/model", "--tasks", "hexphi", "--db", str(db)]
    assert main([*argv, "--data-path", f"hexphi={tmp_path}"]) == 2
    _one_error_line(capsys, "scored by a judge: pass --judge MODEL")
    assert loaded == [] and not db.exists()
