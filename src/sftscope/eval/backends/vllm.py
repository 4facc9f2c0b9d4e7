"""The vLLM backend (optional extra: `pip install 'sftscope[vllm]'`), imported only when chosen.

Prompts are rendered and tokenized as in the transformers backend (`backends.base.encode_chat`) and given to
`LLM.generate` as token ids, so both backends see the same tokens and know each prompt's length. Every
sample is its own request (n=1) with its own seed (`seeds[i][j]`), so a sample never depends on what else
is in the batch; vLLM's prefix cache computes a prompt shared by several samples once. Temperature 0 is
greedy: vLLM refuses n > 1 there, and the n samples are one generation copied (and marked as copies). Each
request's `max_tokens` is min(max_new_tokens, max_model_len - prompt tokens), the engine's own context
length (vLLM would otherwise stop there silently), and is stored with the sample.

`close()` shuts the engine down (its engine-core process and its distributed state) and frees GPU memory,
as vLLM documents for releasing an `LLM`; the sweep calls it before loading the next checkpoint.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

from sftscope.errors import InputError
from sftscope.eval.backends.base import (
    encode_chat,
    finish_reason,
    generation_budget,
    replicate_greedy,
    request_seeds,
)
from sftscope.records import Completion, Messages, SamplingParams


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        **extra: Any,
    ):
        try:
            from vllm import LLM
        except ImportError:
            raise InputError(
                "the vllm backend needs vLLM: pip install 'sftscope[vllm]' (GPU machines)"
            ) from None
        self.model_name = model
        self.options = {
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "dtype": dtype,
            "trust_remote_code": trust_remote_code,
            **extra,
        }
        try:
            self.llm = LLM(model=model, **{k: v for k, v in self.options.items() if v is not None})
        except (OSError, ValueError, TypeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise InputError(f"{model}: vLLM cannot load the model ({first})") from None
        self.tokenizer = self.llm.get_tokenizer()

    @property
    def max_model_len(self) -> int:
        """The engine's context length (vLLM may have fitted it to the memory it found)."""
        return int(self.llm.model_config.max_model_len)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model_name, **self.options}

    def generate(
        self, prompts: list[Messages], params: SamplingParams, seeds: list[list[int]] | None = None
    ) -> list[list[Completion]]:
        if self.llm is None:
            raise RuntimeError("this backend was closed")
        encoded = [encode_chat(self.tokenizer, p) for p in prompts]
        budgets = [generation_budget(params.max_new_tokens, self.max_model_len, len(ids)) for ids in encoded]
        seeds = request_seeds(prompts, params, seeds)
        copies = 1 if params.greedy else params.n
        keys = [(i, j) for i in range(len(prompts)) for j in range(copies)]
        requests = [{"prompt_token_ids": encoded[i]} for i, _ in keys]
        sampling = [self._sampling(params, budgets[i], seeds[i][j]) for i, j in keys]
        outputs = self.llm.generate(requests, sampling, use_tqdm=False)
        done: dict[tuple[int, int], Completion] = {}
        for (i, j), request in zip(keys, outputs):
            (out,) = request.outputs
            done[(i, j)] = Completion(
                text=out.text,
                n_tokens=len(out.token_ids),
                finish_reason=finish_reason(out.finish_reason),
                info={"max_new_tokens_effective": budgets[i], "prompt_tokens": len(encoded[i])},
            )
        if params.greedy:
            return [replicate_greedy(done[(i, 0)], params.n) for i in range(len(prompts))]
        return [[done[(i, j)] for j in range(params.n)] for i in range(len(prompts))]

    def _sampling(self, params: SamplingParams, max_tokens: int, seed: int) -> Any:
        """One request's vLLM SamplingParams; a setting vLLM refuses is a one-line InputError."""
        from vllm import SamplingParams as VLLMSamplingParams

        refused: tuple[type[BaseException], ...] = (ValueError, TypeError)
        try:
            from vllm.exceptions import VLLMValidationError  # not a ValueError

            refused = (*refused, VLLMValidationError)
        except ImportError:  # older vLLM raised ValueError
            pass
        try:
            return VLLMSamplingParams(
                n=1,
                temperature=params.temperature,
                top_p=1.0 if params.greedy else params.top_p,
                top_k=params.top_k,
                presence_penalty=params.presence_penalty,
                frequency_penalty=params.frequency_penalty,
                repetition_penalty=params.repetition_penalty,
                max_tokens=max_tokens,
                seed=seed,
            )
        except refused as exc:
            raise InputError(f"vLLM refuses these sampling settings: {exc}") from None

    def close(self) -> None:
        """Shut the engine down and free its memory; safe to call twice."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is None:
            return
        engine_core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None and callable(getattr(engine_core, "shutdown", None)):
            engine_core.shutdown()  # stops the engine-core process, which holds the weights and KV cache
        del llm, engine_core
        self.tokenizer = None
        from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

        destroy_model_parallel()
        destroy_distributed_environment()
        gc.collect()
        torch = sys.modules.get("torch")  # vLLM imported it; when nothing did, no CUDA memory is held here
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
