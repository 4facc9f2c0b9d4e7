"""The vLLM backend (optional extra: `pip install 'sftscope[vllm]'`), imported only when chosen.

`LLM.chat` applies the model's chat template; one request carries `n` samples. Greedy when temperature is 0.
Each completion's token count and finish reason ("stop" or "length") come from vLLM itself.
"""

from __future__ import annotations

from typing import Any

from sftscope.errors import InputError
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
            **extra,
        }
        self.llm = LLM(model=model, **{k: v for k, v in self.options.items() if v is not None})

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model_name, **self.options}

    def generate(
        self, prompts: list[Messages], params: SamplingParams, seeds: list[list[int]] | None = None
    ) -> list[list[Completion]]:
        from vllm import SamplingParams as VSamplingParams

        sampling = VSamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=1.0 if params.greedy else params.top_p,
            max_tokens=params.max_new_tokens,
            seed=params.seed,
        )
        outputs = self.llm.chat(prompts, sampling, use_tqdm=False)
        return [
            [
                Completion(
                    text=o.text,
                    n_tokens=len(o.token_ids),
                    finish_reason="length" if o.finish_reason == "length" else "stop",
                )
                for o in request.outputs
            ]
            for request in outputs
        ]
