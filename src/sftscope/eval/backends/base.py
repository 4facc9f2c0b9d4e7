"""The generation interface every backend implements, `make_backend` to build one by name, and the rules the
local backends (hf, vllm) share, so that they tokenize, budget and seed a sample the same way.

A backend takes chat prompts (lists of {role, content}) and `SamplingParams`, and returns `params.n`
completions per prompt, each with its text, its number of generated tokens and why it stopped ("stop" at
EOS, "length" at the token budget). Backends are chosen by name so that the CLI and the sweep never import
torch or vllm unless asked to. A backend that holds memory (a model, an engine) frees it in `close()`.

The shared rules:
- `encode_chat`: the prompt is the tokenizer's chat template with the generation prompt, tokenized without
  adding special tokens again (the template holds them).
- `generation_budget`: a sample may generate min(max_new_tokens, max_model_len - prompt tokens) tokens. vLLM
  silently stops at the context length and transformers does not stop at all, so both backends apply this
  limit themselves and store it with the sample (`Completion.info["max_new_tokens_effective"]`).
- `request_seeds`: sample j of prompt i draws from `seeds[i][j]` (the runner's `records.sample_seed`); a
  caller that gives no seeds (a judge) gets seeds derived from `params.seed` and the prompt's text, so a
  sample never depends on the batch it was generated in.
- `replicate_greedy`: greedy decoding has one answer, so n > 1 greedy samples are one generation copied;
  the copies say so (`info["replica"]`), and the runner stores which sample they copy.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sftscope.errors import InputError
from sftscope.records import Completion, Generator, Messages, SamplingParams, sample_seed, text_hash

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


def close_backend(backend: Any) -> None:
    """Free what a backend holds (its `close()`, when it has one)."""
    close = getattr(backend, "close", None)
    if callable(close):
        close()


def encode_chat(tokenizer: Any, messages: Messages) -> list[int]:
    """A chat prompt's token ids: the chat template with the generation prompt, no special tokens added."""
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if isinstance(rendered, list):  # tokenizers whose template renders straight to ids (vLLM's Mistral)
        return [int(t) for t in rendered]
    return list(tokenizer.encode(rendered, add_special_tokens=False))


def generation_budget(max_new_tokens: int, max_model_len: int | None, prompt_tokens: int) -> int:
    """The tokens a sample may generate: max_new_tokens, cut to what the context length leaves."""
    if max_model_len is None:
        return max_new_tokens
    room = max_model_len - prompt_tokens
    if room < 1:
        raise InputError(
            f"a prompt of {prompt_tokens} tokens leaves no room to generate within the context length "
            f"{max_model_len}; pass a larger --max-model-len (up to what the model supports) or leave the "
            "task out"
        )
    return min(max_new_tokens, room)


def request_seeds(
    prompts: list[Messages], params: SamplingParams, seeds: list[list[int]] | None
) -> list[list[int]]:
    """seeds[i][j] for sample j of prompt i: the caller's, or derived from params.seed and the prompt."""
    if seeds is None:
        return [
            [
                sample_seed(params.seed, "", text_hash(json.dumps(p, sort_keys=True)), j)
                for j in range(params.n)
            ]
            for p in prompts
        ]
    if len(seeds) != len(prompts) or any(len(row) != params.n for row in seeds):
        raise ValueError(f"seeds must hold {params.n} seeds for each of the {len(prompts)} prompts")
    return seeds


def replicate_greedy(first: Completion, n: int) -> list[Completion]:
    """n greedy samples: the one generation, then n - 1 copies marked as replicas."""
    copy = dataclasses.replace(first, info={**first.info, "replica": True})
    return [first] + [copy] * (n - 1)


def finish_reason(reason: str | None) -> str:
    """Our finish reasons from vLLM's: "length" (the budget), "stop" (EOS), anything else (abort) "error"."""
    return reason if reason in ("length", "stop") else "error"
