"""A stand-in for the `vllm` package, for contract tests of our vLLM backend on machines without a GPU.

It has the signatures of vLLM 0.33.0 (read from the wheel's vllm/entrypoints/llm.py, vllm/sampling_params.py,
vllm/outputs.py, vllm/exceptions.py, vllm/distributed/parallel_state.py) and raises where vLLM raises:
- `SamplingParams` takes keyword fields only by their real names, and its checks are vLLM's: temperature
  finite and in [0, 2], top_p in (0, 1], top_k >= -1, penalties in range, max_tokens >= 1, and
  **n must be 1 when temperature is 0** (greedy) -- a `VLLMValidationError`, which is not a ValueError;
- `LLM.generate` refuses a prompt of max_model_len tokens or more, and a list of sampling params whose
  length differs from the prompts';
- like vLLM V1, a request whose max_tokens reaches past max_model_len is cut there silently ("length").

Generation is a deterministic function of (prompt ids, seed), so a test can tell batch-independent seeding
from batch-dependent seeding; a request without a seed draws from a shared RNG, as an unseeded vLLM would.
Install it with `install(monkeypatch)`, which puts it into `sys.modules`.
"""

from __future__ import annotations

import math
import random
import sys
import types
import zlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

EOS = 0
VOCAB = 500
_SAMPLING_EPS = 1e-5
_UNSEEDED = random.Random(12345)


class VLLMError(Exception):
    pass


class VLLMClientError(VLLMError):
    pass


class VLLMValidationError(VLLMClientError):
    def __init__(self, message: str, *, parameter: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.value = value


class SamplingParams:
    """The fields and checks of vllm.SamplingParams that matter here; any other keyword is a TypeError."""

    FIELDS: ClassVar[dict[str, Any]] = {
        "n": 1,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "repetition_penalty": 1.0,
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": 0,
        "min_p": 0.0,
        "seed": None,
        "stop": None,
        "stop_token_ids": None,
        "ignore_eos": False,
        "max_tokens": 16,
        "min_tokens": 0,
        "logprobs": None,
        "prompt_logprobs": None,
        "detokenize": True,
        "skip_special_tokens": True,
        "spaces_between_special_tokens": True,
        "include_stop_str_in_output": False,
    }

    def __init__(self, **kwargs: Any):
        unknown = set(kwargs) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"Unexpected keyword argument '{sorted(unknown)[0]}'")
        for name, default in self.FIELDS.items():
            setattr(self, name, kwargs.get(name, default))
        if 0 < self.temperature < 1e-2:
            self.temperature = 1e-2
        if self.seed == -1:
            self.seed = None
        self._verify_args()
        if self.temperature < _SAMPLING_EPS:
            self.top_p, self.top_k, self.min_p = 1.0, 0, 0.0
            if self.n > 1:
                raise VLLMValidationError(f"n must be 1 when using greedy sampling, got {self.n}.")

    def _verify_args(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise VLLMValidationError(f"n must be at least 1, got {self.n}.")
        if not -2.0 <= self.presence_penalty <= 2.0:
            raise VLLMValidationError(f"presence_penalty must be in [-2, 2], got {self.presence_penalty}.")
        if not -2.0 <= self.frequency_penalty <= 2.0:
            raise VLLMValidationError(f"frequency_penalty must be in [-2, 2], got {self.frequency_penalty}.")
        if not math.isfinite(self.repetition_penalty) or self.repetition_penalty <= 0.0:
            raise VLLMValidationError(
                f"repetition_penalty must be greater than zero, got {self.repetition_penalty}."
            )
        if not math.isfinite(self.temperature) or self.temperature < 0.0:
            raise VLLMValidationError(f"temperature must be non-negative, got {self.temperature}.")
        if self.temperature > 2.0:
            raise VLLMValidationError(f"temperature must be in [0, 2], got {self.temperature}.")
        if not 0.0 < self.top_p <= 1.0:
            raise VLLMValidationError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.top_k < -1:
            raise VLLMValidationError(f"top_k must be 0 (disable), or at least 1, got {self.top_k}.")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise VLLMValidationError(f"max_tokens must be at least 1, got {self.max_tokens}.")


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: Any
    routed_experts: Any = None
    finish_reason: str | None = None
    stop_reason: int | str | None = None


class RequestOutput:
    def __init__(
        self,
        request_id: str,
        prompt: str | None,
        prompt_token_ids: list[int] | None,
        prompt_logprobs: Any,
        outputs: list[CompletionOutput],
        finished: bool,
        metrics: Any = None,
        lora_request: Any = None,
        encoder_prompt: str | None = None,
        encoder_prompt_token_ids: list[int] | None = None,
        num_cached_tokens: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.request_id, self.prompt, self.prompt_token_ids = request_id, prompt, prompt_token_ids
        self.outputs, self.finished, self.num_cached_tokens = outputs, finished, num_cached_tokens


class Tokenizer:
    """Word-level: a word's id is a stable hash of it; the chat template tags each turn."""

    eos_token_id = EOS

    def apply_chat_template(
        self, conversation, tools=None, *, add_generation_prompt=False, tokenize=True, **kw
    ):
        text = "".join(f"<{m['role']}> {m['content']} " for m in conversation)
        text += "<assistant> " if add_generation_prompt else ""
        return self.encode(text, add_special_tokens=False) if tokenize else text

    def encode(
        self, text: str, truncation=None, max_length=None, add_special_tokens: bool = True
    ) -> list[int]:
        return [1 + zlib.crc32(w.encode()) % (VOCAB - 1) for w in text.split()]

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return " ".join(f"w{i}" for i in ids)


@dataclass
class ModelConfig:
    max_model_len: int
    runner_type: str = "generate"


@dataclass
class EngineCore:
    shutdowns: int = 0

    def shutdown(self, timeout: float | None = None) -> None:
        self.shutdowns += 1


@dataclass
class LLMEngine:
    model_config: ModelConfig
    engine_core: EngineCore = field(default_factory=EngineCore)


ENGINE_ARGS = {"max_model_len", "enable_prefix_caching", "max_num_seqs", "max_num_batched_tokens"}
ENGINE_ARGS |= {"disable_log_stats", "data_parallel_size", "distributed_executor_backend", "kv_cache_dtype"}


class LLM:
    model_lengths: ClassVar[dict[str, int]] = {}  # model -> its context length (default 4096)

    def __init__(
        self,
        model: str,
        *,
        runner: str = "auto",
        tokenizer: str | None = None,
        trust_remote_code: bool = False,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        quantization: str | None = None,
        revision: str | None = None,
        seed: int = 0,
        gpu_memory_utilization: float = 0.92,
        enforce_eager: bool = False,
        **kwargs: Any,
    ) -> None:
        unknown = set(kwargs) - ENGINE_ARGS
        if unknown:
            raise TypeError(
                f"EngineArgs.__init__() got an unexpected keyword argument '{sorted(unknown)[0]}'"
            )
        if int(kwargs.get("data_parallel_size", 1)) > 1:
            raise ValueError("LLM(data_parallel_size=...) is not supported for single-process usage")
        if not 0 < gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
        self.model = model
        self.kwargs = {"tensor_parallel_size": tensor_parallel_size, "dtype": dtype, **kwargs}
        length = kwargs.get("max_model_len") or self.model_lengths.get(model, 4096)
        self.model_config = ModelConfig(max_model_len=length)
        self.llm_engine = LLMEngine(self.model_config)
        self.requests: list[tuple[list[int], SamplingParams]] = []  # every request, for the tests to inspect

    def get_tokenizer(self) -> Tokenizer:
        return Tokenizer()

    def generate(
        self,
        prompts: Any,
        sampling_params: SamplingParams | list[SamplingParams] | None = None,
        *,
        use_tqdm: bool = True,
        lora_request: Any = None,
        priority: Any = None,
        tokenization_kwargs: dict[str, Any] | None = None,
        mm_processor_kwargs: dict[str, Any] | None = None,
    ) -> list[RequestOutput]:
        prompts = prompts if isinstance(prompts, list) else [prompts]
        if sampling_params is None:
            sampling_params = SamplingParams()
        if isinstance(sampling_params, list):
            if len(sampling_params) != len(prompts):
                raise VLLMValidationError(
                    f"The lengths of prompts ({len(prompts)}) and params ({len(sampling_params)}) must be the same."
                )
        else:
            sampling_params = [sampling_params] * len(prompts)
        outputs = []
        for k, (prompt, params) in enumerate(zip(prompts, sampling_params)):
            ids = prompt["prompt_token_ids"] if isinstance(prompt, dict) else Tokenizer().encode(prompt)
            if len(ids) >= self.model_config.max_model_len:
                raise VLLMValidationError(
                    f"The decoder prompt (length {len(ids)}) is longer than the maximum model length of "
                    f"{self.model_config.max_model_len}."
                )
            self.requests.append((list(ids), params))
            completions = [self._complete(ids, params, i) for i in range(params.n)]
            outputs.append(RequestOutput(str(k), None, list(ids), None, completions, True))
        return outputs

    def _complete(self, ids: list[int], params: SamplingParams, index: int) -> CompletionOutput:
        greedy = params.temperature < _SAMPLING_EPS
        rng = random.Random(f"{ids}") if greedy else _UNSEEDED if params.seed is None else None
        rng = rng or random.Random(f"{params.seed}:{ids}:{index}")
        limit = min(params.max_tokens or 1 << 30, self.model_config.max_model_len - len(ids))
        tokens: list[int] = []
        while len(tokens) < limit:
            tokens.append(EOS if rng.random() < 0.05 else rng.randrange(1, VOCAB))
            if tokens[-1] == EOS:
                return CompletionOutput(
                    index, Tokenizer().decode(tokens[:-1]), tokens, None, None, finish_reason="stop"
                )
        return CompletionOutput(index, Tokenizer().decode(tokens), tokens, None, None, finish_reason="length")


def install(monkeypatch) -> types.ModuleType:
    """Put this fake into sys.modules as `vllm` (with vllm.exceptions and vllm.distributed.parallel_state)."""
    LLM.model_lengths = {}
    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams, vllm.RequestOutput = LLM, SamplingParams, RequestOutput
    vllm.CompletionOutput = CompletionOutput
    exceptions = types.ModuleType("vllm.exceptions")
    exceptions.VLLMError, exceptions.VLLMValidationError = VLLMError, VLLMValidationError
    distributed = types.ModuleType("vllm.distributed")
    parallel_state = types.ModuleType("vllm.distributed.parallel_state")
    parallel_state.calls = []
    parallel_state.destroy_model_parallel = lambda: parallel_state.calls.append("destroy_model_parallel")
    parallel_state.destroy_distributed_environment = lambda: parallel_state.calls.append(
        "destroy_distributed_environment"
    )
    vllm.exceptions, vllm.distributed, distributed.parallel_state = exceptions, distributed, parallel_state
    for name, module in (
        ("vllm", vllm),
        ("vllm.exceptions", exceptions),
        ("vllm.distributed", distributed),
        ("vllm.distributed.parallel_state", parallel_state),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    return vllm
