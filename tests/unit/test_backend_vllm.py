"""The vLLM backend: imported lazily; its generation test runs only where vllm (and a GPU) exist."""

from __future__ import annotations

import importlib.util

import pytest

from sftscope.errors import InputError
from sftscope.eval.backends.base import make_backend
from sftscope.records import SamplingParams

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed")
def test_missing_vllm_is_a_clear_error():
    with pytest.raises(InputError, match="pip install 'sftscope\\[vllm\\]'"):
        make_backend("vllm", "some/model")


@pytest.mark.skipif(not HAS_VLLM, reason="vllm is not installed (optional extra)")
@pytest.mark.gpu
def test_vllm_generates(tmp_path):
    from eval_tiny_model import build_tiny_model

    backend = make_backend("vllm", str(build_tiny_model(tmp_path / "tiny")), gpu_memory_utilization=0.2)
    out = backend.generate(
        [[{"role": "user", "content": "hi"}]], SamplingParams(temperature=0.0, max_new_tokens=5, n=2)
    )
    assert len(out[0]) == 2 and out[0][0].n_tokens <= 5
