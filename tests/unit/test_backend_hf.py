"""The transformers backend on a tiny random Qwen3 model (CPU): batching, greedy, seeds, EOS and length."""

from __future__ import annotations

import pytest

from eval_tiny_model import build_tiny_model
from sftscope.errors import InputError
from sftscope.eval.backends.base import make_backend
from sftscope.records import Generator, SamplingParams

pytestmark = pytest.mark.slow
PROMPTS = [
    [{"role": "user", "content": "What is 3 + 4?"}],
    [
        {
            "role": "user",
            "content": "Sort these words: apple, banana, cherry, and then some more words please.",
        }
    ],
    [{"role": "user", "content": "Hi"}],
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def backend(tiny):
    return make_backend("hf", tiny, batch_size=4)


def test_is_a_generator_and_greedy_is_batch_independent(backend, tiny):
    assert isinstance(backend, Generator)
    params = SamplingParams(temperature=0.0, max_new_tokens=8, n=2)
    out = backend.generate(PROMPTS, params)
    assert [len(c) for c in out] == [2, 2, 2]
    assert all(c[0] == c[1] for c in out), "greedy samples are identical"
    one_by_one = make_backend("hf", tiny, batch_size=1).generate(PROMPTS, params)
    assert [[c.text for c in cs] for cs in out] == [[c.text for c in cs] for cs in one_by_one]
    for cs in out:
        assert cs[0].n_tokens == 8 and cs[0].finish_reason == "length"


def test_sampling_is_seeded(backend):
    params = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=12, n=3, seed=7)
    first = backend.generate(PROMPTS[:2], params)
    assert backend.generate(PROMPTS[:2], params) == first
    assert len({c.text for c in first[0]}) > 1, "sampled completions differ from each other"
    other = backend.generate(
        PROMPTS[:2], SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=12, n=3, seed=8)
    )
    assert other != first


def test_stops_at_eos(tmp_path):
    eos_model = make_backend("hf", str(build_tiny_model(tmp_path / "eos", eos_first=True)))
    out = eos_model.generate(PROMPTS, SamplingParams(temperature=0.0, max_new_tokens=20))
    for (completion,) in out:
        assert completion.finish_reason == "stop" and completion.n_tokens == 1 and completion.text == ""


def test_describe_and_bad_inputs(backend, tmp_path):
    info = backend.describe()
    assert info["backend"] == "hf" and info["device"] == "cpu"
    with pytest.raises(InputError, match="not found"):
        make_backend("hf", str(tmp_path / "missing" / "model"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="cannot load"):
        make_backend("hf", str(empty))
    with pytest.raises(InputError, match="unknown backend"):
        make_backend("tgi", "x")
