"""Data parallelism: which GPUs each worker sees, and a failing worker stops the run with its own message.
(The rows N workers store equal one engine's: tests/unit/test_sweep.py with forked workers and
tests/integration/test_eval_cli.py with spawned ones and a real model.)"""

from __future__ import annotations

import pytest

from sftscope.errors import InputError
from sftscope.eval import dataparallel, registry
from sftscope.eval.backends import base as backends
from sftscope.eval.config import BackendOptions, EvalConfig
from sftscope.eval.dataparallel import evaluate_data_parallel, worker_devices
from sftscope.eval.spec import Example, TaskProtocol, TaskSpec
from sftscope.records import CheckpointRef, SamplingParams, Verdict
from sftscope.store.db import Store


def cfg(backend="vllm", n=2, **opts) -> EvalConfig:
    return EvalConfig(backend=backend, backend_options=BackendOptions(data_parallel=n, **opts))


def test_each_worker_sees_its_own_gpus():
    assert worker_devices(cfg(n=2), visible="4,5") == ["4", "5"]
    assert worker_devices(cfg(n=2, tensor_parallel_size=2), visible="4,5,6,7") == ["4,5", "6,7"]
    assert worker_devices(cfg("hf", n=3, device="cuda"), visible="0,1,2,3") == ["0", "1", "2"]
    assert worker_devices(cfg("hf", n=2, device="cpu"), visible="0,1") == [None, None]
    with pytest.raises(InputError, match="needs 4 GPUs; 3 visible"):
        worker_devices(cfg(n=2, tensor_parallel_size=2), visible="0,1,2")
    with pytest.raises(InputError, match="pins one device"):
        worker_devices(cfg("hf", n=2, device="cuda:1"), visible="0,1")
    with pytest.raises(ValueError, match="hf and vllm backends"):
        cfg("openai")


class Refusing:
    name = "refusing"

    def generate(self, prompts, params, seeds=None):
        raise InputError("the server said no")

    def describe(self):
        return {"backend": self.name}


class Dying(Refusing):
    def generate(self, prompts, params, seeds=None):
        import os

        os._exit(9)  # killed: out of memory, a signal


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        (Refusing, r"data-parallel worker [01]: the server said no"),
        (Dying, r"worker [01] died \(exit code 9\)"),
    ],
)
def test_a_failing_worker_stops_the_run_with_its_message(backend, message, tmp_path, monkeypatch):
    task = TaskSpec(
        name="fake_dp",
        domain="in_domain",
        version="1",
        loader=lambda limit, path: [Example(str(i), "1") for i in range(6)],
        protocols=(
            TaskProtocol(
                "strict",
                lambda ex: [{"role": "user", "content": ex.id}],
                SamplingParams(temperature=0.0, max_new_tokens=4),
                score=lambda ex, text, ctx: Verdict(True),
            ),
        ),
    )
    monkeypatch.setitem(registry.TASKS, "fake_dp", task)
    monkeypatch.setattr(backends, "make_backend", lambda name, model, **opts: backend())
    monkeypatch.setattr(dataparallel, "START_METHOD", "fork")
    ref = CheckpointRef("r", 0, "m")
    with pytest.raises(InputError, match=message):
        evaluate_data_parallel("m", [task], tmp_path / "r.db", ref, cfg("hf", device="cpu"))
    with Store(tmp_path / "r.db") as store:
        assert store.samples() == []
