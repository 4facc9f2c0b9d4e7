"""The OpenAI-compatible backend against a real local HTTP server (127.0.0.1, ephemeral port) that serves
/v1/chat/completions with the hf backend on a tiny model; plus retries and the unreachable-server error."""

from __future__ import annotations

import socket

import pytest

from eval_tiny_model import build_tiny_model
from fake_openai import FakeOpenAIServer, chat_reply
from sftscope.errors import InputError
from sftscope.eval.backends.base import make_backend
from sftscope.records import SamplingParams

pytestmark = pytest.mark.slow


def chat_server(generator, fail_first: int = 0) -> FakeOpenAIServer:
    """Serves chat completions from a Generator; the first `fail_first` requests get HTTP 503."""

    def answer(path, body):
        if len(server.requests) <= fail_first:
            return 503, b"busy"
        params = SamplingParams(
            temperature=body["temperature"],
            top_p=body.get("top_p", 1.0),
            max_new_tokens=body["max_tokens"],
            n=body["n"],
            seed=body["seed"],
        )
        (completion,) = generator.generate([body["messages"]], params)[0]
        return 200, chat_reply(completion.text, completion.finish_reason, completion.n_tokens)

    server = FakeOpenAIServer(answer)
    return server  # `answer` reads server.requests, so it names the server after it is built


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    return make_backend("hf", str(build_tiny_model(tmp_path_factory.mktemp("tiny"))), batch_size=4)


PROMPTS = [[{"role": "user", "content": f"What is {i} + {i}?"}] for i in range(5)]


def test_matches_the_local_backend(hf):
    with chat_server(hf) as server:
        client = make_backend("openai", "tiny", base_url=server.url, concurrency=3)
        params = SamplingParams(temperature=0.0, max_new_tokens=6, n=2)
        out = client.generate(PROMPTS, params)
        assert [[(c.text, c.n_tokens, c.finish_reason) for c in cs] for cs in out] == [
            [(c.text, c.n_tokens, c.finish_reason) for c in cs] for cs in hf.generate(PROMPTS, params)
        ]
        assert len(server.requests) == 10 and all(p == "/v1/chat/completions" for p, _ in server.requests)
        assert len({b["seed"] for _, b in server.requests}) == 10  # each sample its own seed


def test_retries_with_backoff_then_succeeds(hf):
    with chat_server(hf, fail_first=2) as server:
        client = make_backend("openai", "tiny", base_url=server.url, concurrency=1, retries=3, backoff=0.01)
        out = client.generate(PROMPTS[:1], SamplingParams(temperature=0.0, max_new_tokens=4))
        assert out[0][0].n_tokens == 4 and len(server.requests) == 3


def test_unreachable_server_is_a_clear_error():
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_backend(
        "openai", "tiny", base_url=f"http://127.0.0.1:{port}/v1", retries=3, backoff=0.01, timeout=2
    )
    with pytest.raises(InputError, match=r"unreachable after 3 tries.*--base-url"):
        client.generate(PROMPTS[:1], SamplingParams(temperature=0.0, max_new_tokens=4))


def test_a_server_url_that_is_not_http_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "localhost:8000")
    with pytest.raises(InputError, match=r"'localhost:8000' is not an http\(s\):// URL"):
        make_backend("openai", "tiny")
    for bad in ("http://127.0.0.1:80x/v1", "http://127.0.0.1:99999/v1", "http:///v1", "http://[::1/v1"):
        with pytest.raises(InputError, match="with a host and a numeric port"):
            make_backend("openai", "tiny", base_url=bad)


def test_reasoning_content_becomes_a_think_block():
    reply = {
        "choices": [
            {"message": {"content": "\\boxed{4}", "reasoning_content": "2+2"}, "finish_reason": "stop"}
        ],
        "usage": {"completion_tokens": 9},
    }

    with FakeOpenAIServer(lambda path, body: (200, reply)) as server:
        client = make_backend("openai", "m", base_url=server.url)
        (completion,) = client.generate(PROMPTS[:1], SamplingParams())[0]
    assert completion.text == "<think>2+2</think>\\boxed{4}" and completion.n_tokens == 9
