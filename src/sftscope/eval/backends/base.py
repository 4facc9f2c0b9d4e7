"""The generation interface every backend implements, and `make_backend` to build one by name.

A backend takes chat prompts (lists of {role, content}) and `SamplingParams`, and returns `params.n`
completions per prompt, each with its text, its number of generated tokens and why it stopped ("stop" at
EOS, "length" at `max_new_tokens`). Backends are chosen by name so that the CLI and the sweep never import
torch or vllm unless asked to.
"""

from __future__ import annotations

from typing import Any

from sftscope.errors import InputError
from sftscope.records import Generator

BACKENDS = ("hf", "vllm", "openai")


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
