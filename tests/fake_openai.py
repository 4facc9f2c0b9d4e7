"""One local OpenAI-compatible HTTP server for the tests (127.0.0.1, an ephemeral port, a daemon thread).

A test gives it `answer(path, body) -> (status, reply)`: the reply is a dict sent as JSON, or bytes sent as
they are (an error page). Every request is kept in `requests` as (path, body), in arrival order. The helpers
below build the two reply shapes our clients read: chat completions and plain completions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str, dict[str, Any]], tuple[int, "dict[str, Any] | bytes"]]


class FakeOpenAIServer:
    def __init__(self, answer: Answer):
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()  # one request answered at a time, so `answer` may keep state
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests.append((self.path, body))
                    status, reply = answer(self.path, body)
                data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [body for _, body in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def chat_reply(content: str, finish_reason: str = "stop", tokens: int = 7) -> dict[str, Any]:
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": content},
        "finish_reason": finish_reason,
    }
    return {"choices": [choice], "usage": {"completion_tokens": tokens}}


def completion_reply(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "text": text, "finish_reason": "stop"}]}
