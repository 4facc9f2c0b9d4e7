"""The generation interface every backend implements, and `make_backend` to build one by name.

A backend takes chat prompts (lists of {role, content}) and `SamplingParams`, and returns `params.n`
completions per prompt, each with its text, its number of generated tokens and why it stopped ("stop" at
EOS, "length" at `max_new_tokens`). Backends are chosen by name so that the CLI and the sweep never import
torch or vllm unless asked to.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from sftscope.errors import InputError
from sftscope.records import Completion, SamplingParams

Messages = list[dict[str, str]]
BACKENDS = ("hf", "vllm", "openai")


@runtime_checkable
class Generator(Protocol):
    """prompts + params in, `params.n` completions per prompt out (same order as the prompts)."""

    name: str

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]: ...

    def describe(self) -> dict[str, Any]:
        """What to store with a run: backend name, model, and the options that change outputs."""
        ...


def make_backend(name: str, model: str, **opts: Any) -> Generator:
    """Build a backend: `hf` (transformers, CPU or GPU), `vllm` (optional extra), `openai` (HTTP server)."""
    if name == "hf":
        from sftscope.eval.backends.hf import HFBackend

        return HFBackend(model, **opts)
    if name == "vllm":
        from sftscope.eval.backends.vllm import VLLMBackend

        return VLLMBackend(model, **opts)
    if name == "openai":
        from sftscope.eval.backends.openai import OpenAIBackend

        return OpenAIBackend(model, **opts)
    raise InputError(f"unknown backend {name!r} (choose one of: {', '.join(BACKENDS)})")
