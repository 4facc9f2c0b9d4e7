"""The OpenAI-compatible HTTP backend: chat completions from any vLLM / SGLang / OpenAI-style server.

One request per sample (`n=1`), so each completion has its own token count and finish reason; requests
run concurrently on a thread pool. A failed request (connection refused, timeout, HTTP 429 or 5xx) is
retried with exponential backoff; after the last try the whole call fails with an InputError that names the
server, so a sweep stops with a clear message instead of storing empty answers. A server that returns the
think part separately (`reasoning_content`) gets it put back as `<think>...</think>` before the answer.
Only the standard library is used (urllib), no `openai` package.
"""

from __future__ import annotations

import os
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sftscope.errors import InputError
from sftscope.eval.backends.base import request_seeds
from sftscope.eval.backends.http import post_json
from sftscope.records import THINK_CLOSE, THINK_OPEN, Completion, Messages, SamplingParams


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 600.0,
        retries: int = 4,
        backoff: float = 1.0,
    ):
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "http://127.0.0.1:8000/v1").rstrip(
            "/"
        )
        check_url(self.base_url)
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        if concurrency < 1 or retries < 1:
            raise InputError("openai backend: concurrency and retries must be >= 1")
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "base_url": self.base_url}

    def generate(
        self, prompts: list[Messages], params: SamplingParams, seeds: list[list[int]] | None = None
    ) -> list[list[Completion]]:
        jobs = [(i, k) for i in range(len(prompts)) for k in range(params.n)]
        seeds = request_seeds(prompts, params, seeds)  # a seeded server then draws each sample's own noise
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            done = list(
                pool.map(lambda job: self._complete(prompts[job[0]], params, seeds[job[0]][job[1]]), jobs)
            )
        results: list[list[Completion]] = [[] for _ in prompts]
        for (i, _), completion in zip(jobs, done):
            results[i].append(completion)
        return results

    def _complete(self, messages: Messages, params: SamplingParams, seed: int) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "n": 1,
            "seed": seed,
        }
        if not params.greedy:
            body["top_p"] = params.top_p
        reply = self._post("/chat/completions", body)
        try:
            choice = reply["choices"][0]
            message = choice["message"]
            text = message.get("content") or ""
            reasoning = message.get("reasoning_content") or message.get("reasoning")
            if reasoning:
                text = f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{text}"
            usage = reply.get("usage") or {}
            n_tokens = int(usage.get("completion_tokens", 0))
            finish = "length" if choice.get("finish_reason") == "length" else "stop"
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise InputError(
                f"{self.base_url}: unexpected chat completion reply ({exc!r}): {str(reply)[:200]}"
            ) from None
        return Completion(text=text, n_tokens=n_tokens, finish_reason=finish)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return post_json(
            self.base_url + path,
            body,
            api_key=self.api_key,
            timeout=self.timeout,
            retries=self.retries,
            backoff=self.backoff,
        )


def check_url(url: str) -> None:
    """A server URL we can send to: http(s), a host, a numeric port (else a one-line InputError)."""
    try:
        parts = urllib.parse.urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
    except ValueError:
        ok = False
    if not ok:
        raise InputError(
            f"openai backend: server URL {url!r} is not an http(s):// URL with a host and a numeric port "
            "(--base-url, or $OPENAI_BASE_URL), e.g. http://127.0.0.1:8000/v1"
        )
