"""The transformers backend: `model.generate` on CPU or one GPU, batched and length-sorted.

Prompts go through the tokenizer's chat template (generation prompt added, no system prompt). Batches are
formed after sorting prompts by token length, so padding stays small; padding is on the left. Temperature 0
means greedy (and the n copies of a greedy answer are one generation, repeated). Sampling is seeded with
`params.seed` at each `generate` call, so a re-run of the same batches reproduces its samples; the seed is
stored with every sample. A sequence stops at any EOS id of the model's generation config (or the
tokenizer's), and is marked "length" when it reaches `max_new_tokens` without one.
"""

from __future__ import annotations

import os
from typing import Any

from sftscope.errors import InputError
from sftscope.records import Completion, Messages, SamplingParams


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
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # our own progress bar is the one that matters
        if batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {batch_size}")
        self.model_name = os.path.expanduser(str(model))
        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
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
        }

    def encode(self, prompts: list[Messages]) -> list[list[int]]:
        texts = [
            self.tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts
        ]
        return [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]

    def generate(
        self, prompts: list[Messages], params: SamplingParams, seeds: list[list[int]] | None = None
    ) -> list[list[Completion]]:
        encoded = self.encode(prompts)
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]), reverse=True)
        copies = 1 if params.greedy else params.n  # sequences generated per prompt
        per_batch = max(1, self.batch_size // copies)
        results: list[list[Completion]] = [[] for _ in prompts]
        for start in range(0, len(order), per_batch):
            chunk = order[start : start + per_batch]
            outputs = self._generate_batch([encoded[i] for i in chunk], params, copies)
            for j, index in enumerate(chunk):
                group = outputs[j * copies : (j + 1) * copies]
                results[index] = group * params.n if params.greedy else group
        return results

    def _generate_batch(
        self, batch: list[list[int]], params: SamplingParams, copies: int
    ) -> list[Completion]:
        import torch

        width = max(len(ids) for ids in batch)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch], device=self.device)
        attention = torch.tensor(
            [[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=self.device
        )
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": pad,
            "eos_token_id": sorted(self.eos_ids),
        }
        if params.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            torch.manual_seed(params.seed)
            kwargs.update(
                do_sample=True,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=0,
                num_return_sequences=copies,
            )
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        completions = []
        for row in out[:, width:].tolist():
            stop = next((k for k, tok in enumerate(row) if tok in self.eos_ids), None)
            tokens = row if stop is None else row[:stop]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            n_tokens = len(row) if stop is None else stop + 1  # the EOS is a generated token
            completions.append(
                Completion(
                    text=text, n_tokens=n_tokens, finish_reason="stop" if stop is not None else "length"
                )
            )
        return completions
