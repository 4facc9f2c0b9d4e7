"""The transformers backend: `model.generate` on CPU or one GPU, batched and length-sorted.

Prompts go through the tokenizer's chat template (`backends.base.encode_chat`). One row of a batch is one
sample; rows are sorted by prompt length, so padding stays small, and padded on the left. Each row samples
with its own seed (`rowsampler.RowSampler`), so a sample is the same whatever batch it lands in; temperature
0 is greedy, and n greedy samples are one generation copied. A row stops at any EOS id of the model's
generation config (or the tokenizer's), or at its budget, min(max_new_tokens, max_model_len - prompt
tokens), where max_model_len defaults to the model's `max_position_embeddings` (vLLM's default too); it
is then marked "length". The model's own generation config (its default temperature, penalties...) is not
used: the sampling settings are the task protocol's, as in the vLLM backend.
"""

from __future__ import annotations

import gc
import os
import re
from typing import Any

from sftscope.errors import InputError
from sftscope.eval.backends.base import encode_chat, generation_budget, replicate_greedy, request_seeds
from sftscope.records import Completion, Messages, SamplingParams

DTYPES = {
    "float32": "float32",
    "float": "float32",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
}
# What a model's generation_config may set that would change tokens behind RowSampler's back (transformers
# fills every generate() setting left unset from it); vLLM ignores these too when given SamplingParams.
UNSET = dict.fromkeys(
    (
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "typical_p",
        "repetition_penalty",
        "no_repeat_ngram_size",
        "min_new_tokens",
        "bad_words_ids",
        "suppress_tokens",
        "begin_suppress_tokens",
        "sequence_bias",
    )
)


class HFBackend:
    name = "hf"

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 32,
        device: str | None = None,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        max_model_len: int | None = None,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # our own progress bar is the one that matters
        if batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {batch_size}")
        self.model_name = os.path.expanduser(str(model))
        self.batch_size = batch_size
        self.device = check_device(device)
        torch_dtype = check_dtype(dtype, self.device)
        # A hub id is "name" or "org/name"; anything else that does not exist is a mistyped local path.
        looks_local = self.model_name.startswith(("/", ".", "~")) or self.model_name.count("/") > 1
        if looks_local and not os.path.exists(self.model_name):
            raise InputError(
                f"{self.model_name}: model directory not found (pass a local model dir or a hub id)"
            )
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                self.model_name, trust_remote_code=trust_remote_code
            )
            self.model = AutoModelForCausalLM.from_pretrained(
                self.model_name, dtype=torch_dtype, trust_remote_code=trust_remote_code
            )
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0][:300]
            raise InputError(
                f"{self.model_name}: cannot load the model ({first}); pass a local model directory, or a hub id "
                "that is downloaded already or reachable"
            ) from None
        if not getattr(self.tokenizer, "chat_template", None):
            raise InputError(
                f"{self.model_name}: the tokenizer has no chat template (prompts are chat-templated)"
            )
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.to(self.device).eval()
        self.eos_ids = self._eos_ids()
        self.max_model_len = max_model_len or getattr(self.model.config, "max_position_embeddings", None)
        self.torch = torch

    def _eos_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        found = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
        if self.tokenizer.eos_token_id is not None:
            found.add(self.tokenizer.eos_token_id)
        return found

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_name,
            "device": self.device,
            "batch_size": self.batch_size,
            "dtype": str(self.model.dtype),
            "max_model_len": self.max_model_len,
        }

    def close(self) -> None:
        """Drop the model and free its memory (the sweep loads the next checkpoint after this)."""
        if getattr(self, "model", None) is None:
            return
        self.model = None
        gc.collect()
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()

    def encode(self, prompts: list[Messages]) -> list[list[int]]:
        return [encode_chat(self.tokenizer, p) for p in prompts]

    def generate(
        self, prompts: list[Messages], params: SamplingParams, seeds: list[list[int]] | None = None
    ) -> list[list[Completion]]:
        if self.model is None:
            raise RuntimeError("this backend was closed")
        encoded = self.encode(prompts)
        budgets = [generation_budget(params.max_new_tokens, self.max_model_len, len(ids)) for ids in encoded]
        seeds = request_seeds(prompts, params, seeds)
        copies = 1 if params.greedy else params.n  # sequences generated per prompt
        rows = sorted(
            ((i, j) for i in range(len(prompts)) for j in range(copies)), key=lambda r: -len(encoded[r[0]])
        )
        done: dict[tuple[int, int], Completion] = {}
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            outputs = self._generate_rows(
                [encoded[i] for i, _ in chunk],
                [budgets[i] for i, _ in chunk],
                [seeds[i][j] for i, j in chunk],
                params,
            )
            done.update(zip(chunk, outputs))
        if params.greedy:
            return [replicate_greedy(done[(i, 0)], params.n) for i in range(len(prompts))]
        return [[done[(i, j)] for j in range(params.n)] for i in range(len(prompts))]

    def _generate_rows(
        self, batch: list[list[int]], budgets: list[int], seeds: list[int], params: SamplingParams
    ) -> list[Completion]:
        from transformers import LogitsProcessorList, StoppingCriteriaList

        from sftscope.eval.backends.rowsampler import RowBudget, RowSampler

        torch = self.torch
        width = max(len(ids) for ids in batch)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch], device=self.device)
        attention = torch.tensor(
            [[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=self.device
        )
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=max(budgets),
                do_sample=False,  # RowSampler has chosen each row's token; the argmax takes it
                pad_token_id=pad,
                eos_token_id=sorted(self.eos_ids),
                **UNSET,
                logits_processor=LogitsProcessorList([RowSampler(params, seeds, attention.cpu())]),
                stopping_criteria=StoppingCriteriaList([RowBudget(budgets, width)]),
            )
        completions = []
        for row, budget, ids in zip(out[:, width:].tolist(), budgets, batch):
            row = row[:budget]  # what follows a row's budget is padding
            stop = next((k for k, tok in enumerate(row) if tok in self.eos_ids), None)
            tokens = row if stop is None else row[:stop]
            completions.append(
                Completion(
                    text=self.tokenizer.decode(tokens, skip_special_tokens=True),
                    n_tokens=len(row) if stop is None else stop + 1,  # the EOS is a generated token
                    finish_reason="stop" if stop is not None else "length",
                    info={"max_new_tokens_effective": budget, "prompt_tokens": len(ids)},
                )
            )
        return completions


def check_device(device: str | None) -> str:
    """The torch device to run on: the one asked for, if this machine has it (default: cuda, else cpu)."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    match = re.fullmatch(r"(cpu|cuda|mps|xpu)(?::(\d+))?", device.strip())
    if match is None:
        raise InputError(f"--device {device!r}: not a device (use cpu, cuda, cuda:N, mps or xpu)")
    kind, index = match.group(1), match.group(2)
    if kind == "cpu":
        return "cpu"
    available = {
        "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "mps": int(torch.backends.mps.is_available()),
        "xpu": torch.xpu.device_count() if hasattr(torch, "xpu") and torch.xpu.is_available() else 0,
    }[kind]
    if available == 0:
        raise InputError(f"--device {device}: this machine has no {kind} device (use --device cpu)")
    if index is not None and int(index) >= available:
        raise InputError(f"--device {device}: this machine has {available} {kind} device(s), numbered from 0")
    return device.strip()


def check_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if dtype not in DTYPES:
        raise InputError(f"--dtype {dtype!r}: use auto, float32, float16 or bfloat16")
    return getattr(torch, DTYPES[dtype])
