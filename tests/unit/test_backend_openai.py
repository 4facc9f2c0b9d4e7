"""The OpenAI-compatible backend against a real local HTTP server (127.0.0.1, ephemeral port) that serves
/v1/chat/completions with the hf backend on a tiny model; plus retries and the unreachable-server error."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from eval_tiny_model import build_tiny_model
from sftscope.errors import InputError
from sftscope.eval.backends.base import make_backend
from sftscope.records import SamplingParams

pytestmark = pytest.mark.slow


class ChatServer:
    """Serves chat completions from a Generator; `fail_first` requests get HTTP 503 first."""

    def __init__(self, generator, fail_first: int = 0):
        self.generator, self.fail_first, self.requests = generator, fail_first, []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests.append((self.path, body))
                    fail = len(outer.requests) <= outer.fail_first
                    if not fail:
                        params = SamplingParams(
                            temperature=body["temperature"],
                            top_p=body.get("top_p", 1.0),
                            max_new_tokens=body["max_tokens"],
                            n=body["n"],
                            seed=body["seed"],
                        )
                        (completion,) = outer.generator.generate([body["messages"]], params)[0]
                if fail:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"busy")
                    return
                reply = {
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": completion.text},
                            "finish_reason": completion.finish_reason,
                        }
                    ],
                    "usage": {"completion_tokens": completion.n_tokens},
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    return make_backend("hf", str(build_tiny_model(tmp_path_factory.mktemp("tiny"))), batch_size=4)


PROMPTS = [[{"role": "user", "content": f"What is {i} + {i}?"}] for i in range(5)]


def test_matches_the_local_backend(hf):
    server = ChatServer(hf)
    try:
        client = make_backend("openai", "tiny", base_url=server.url, concurrency=3)
        params = SamplingParams(temperature=0.0, max_new_tokens=6, n=2)
        out = client.generate(PROMPTS, params)
        assert [[(c.text, c.n_tokens, c.finish_reason) for c in cs] for cs in out] == [
            [(c.text, c.n_tokens, c.finish_reason) for c in cs] for cs in hf.generate(PROMPTS, params)
        ]
        assert len(server.requests) == 10 and all(p == "/v1/chat/completions" for p, _ in server.requests)
        assert len({b["seed"] for _, b in server.requests}) == 10  # each sample its own seed
    finally:
        server.close()


def test_retries_with_backoff_then_succeeds(hf):
    server = ChatServer(hf, fail_first=2)
    try:
        client = make_backend("openai", "tiny", base_url=server.url, concurrency=1, retries=3, backoff=0.01)
        out = client.generate(PROMPTS[:1], SamplingParams(temperature=0.0, max_new_tokens=4))
        assert out[0][0].n_tokens == 4 and len(server.requests) == 3
    finally:
        server.close()


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

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = make_backend("openai", "m", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1")
        (completion,) = client.generate(PROMPTS[:1], SamplingParams())[0]
        assert completion.text == "<think>2+2</think>\\boxed{4}" and completion.n_tokens == 9
    finally:
        server.shutdown()
        server.server_close()
