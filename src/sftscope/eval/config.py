"""`EvalConfig`: every knob of an evaluation, shared by `eval run` and `sweep`; `SweepConfig` adds the sweep's.

Resolution is the package's one way (sftscope.config): these defaults, then `--config FILE.yaml`, then the
command-line flags (each flag is a `--set`-style override of one key). The resolved config is stored with the
run in the results DB. Sampling overrides are typed fields that end up in `SamplingParams`; None keeps each
task protocol's own value.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sftscope.eval.spec import ScoreContext

SECRET_WORDS = ("key", "token", "secret", "password")
DTYPES = ("auto", "float32", "float16", "bfloat16", "float", "half")  # the names both hf and vLLM take
DEVICE = re.compile(r"(cpu|cuda|mps|xpu)(:\d+)?")


@dataclass
class BackendOptions:
    """Options of the generation backends; each applies to the backends named in its comment."""

    batch_size: int = 64  # all: prompts x samples per generate call; a kill loses at most one call
    device: str | None = None  # hf: torch device (default: cuda if available, else cpu)
    dtype: str = "auto"  # hf, vllm: weights dtype (auto: bf16 on GPU, fp32 on CPU)
    trust_remote_code: bool = False  # hf, vllm: models that ship their own code
    base_url: str | None = None  # openai: server URL, e.g. http://127.0.0.1:8000/v1
    api_key: str | None = None  # openai: never stored with results (default: $OPENAI_API_KEY)
    concurrency: int = 8  # openai: parallel requests
    retries: int = 4  # openai: tries per request, with exponential backoff
    timeout: float = 600.0  # openai: seconds per request
    tensor_parallel_size: int = 1  # vllm: GPUs per engine
    gpu_memory_utilization: float = 0.9  # vllm
    max_model_len: int | None = None  # hf, vllm: context length (default: the model's); caps each budget
    data_parallel: int = 1  # hf, vllm: engines in as many processes, each on its own GPU(s), one store

    def __post_init__(self) -> None:
        checks = [
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.concurrency >= 1 and self.retries >= 1, "concurrency and retries must be >= 1"),
            (
                self.timeout > 0 and math.isfinite(self.timeout),
                "timeout must be a positive number of seconds",
            ),
            (
                self.tensor_parallel_size >= 1 and self.data_parallel >= 1,
                "tensor_parallel_size, data_parallel >= 1",
            ),
            (0 < self.gpu_memory_utilization <= 1, "gpu_memory_utilization must be in (0, 1]"),
            (self.max_model_len is None or self.max_model_len > 0, "max_model_len must be > 0"),
            (self.dtype in DTYPES, f"dtype {self.dtype!r} is not one of {', '.join(DTYPES)}"),
            (
                self.device is None or DEVICE.fullmatch(self.device) is not None,
                f"device {self.device!r} is not a device (cpu, cuda, cuda:N, mps, xpu)",
            ),
            (_is_url(self.base_url), f"base_url {self.base_url!r} is not an http(s):// URL"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def for_backend(self, backend: str) -> dict[str, Any]:
        """The keyword arguments that backend's constructor takes."""
        if backend == "hf":
            keys = ("batch_size", "device", "dtype", "trust_remote_code", "max_model_len")
        elif backend == "openai":
            keys = ("base_url", "api_key", "concurrency", "retries", "timeout")
        else:
            keys = (
                "dtype",
                "trust_remote_code",
                "tensor_parallel_size",
                "gpu_memory_utilization",
                "max_model_len",
            )
        values = {k: getattr(self, k) for k in keys}
        return {k: v for k, v in values.items() if v is not None}


@dataclass
class EvalConfig:
    """What to evaluate and how. Field comments say what None means."""

    suite: str = (
        "lab"  # suite names and/or task names, comma-separated (paper, general, safety, lab, offline)
    )
    backend: Literal["hf", "vllm", "openai"] = "hf"
    backend_options: BackendOptions = field(default_factory=BackendOptions)
    protocol: str | None = None  # None: each task's default (paper for the paper and safety suites)
    limit: int | None = None  # first N examples of each task (MMLU-Pro: a stable random subset)
    n_samples: int | None = None  # None: each protocol's own (avg@3, avg@10, ...)
    temperature: float | None = None  # None: each protocol's own; 0 = greedy
    top_p: float | None = None
    max_new_tokens: int | None = None
    seed: int | None = None  # run-level sampling seed; each sample derives its own from it
    task_sampling: dict[str, dict[str, Any]] = field(default_factory=dict)  # per task: {max_new_tokens: 160}
    data_paths: dict[str, str] = field(default_factory=dict)  # task -> local copy of its data
    judge: str | None = None  # judge model for judge-scored protocols (HEx-PHI paper protocol)
    judge_backend: Literal["hf", "vllm", "openai"] = "openai"
    judge_base_url: str | None = None
    reward_model: str | None = None  # AlpacaEval's paper metric: a HF sequence-classification model
    reward_model_device: str | None = None  # default: cuda if available, else cpu
    reward_model_dtype: str = "auto"  # auto: bf16 on GPU (as the reference), fp32 on CPU
    truth_judge: str | None = None  # TruthfulQA: the truth judge, served at /v1/completions
    truth_judge_base_url: str | None = None
    info_judge: str | None = None  # TruthfulQA: the informativeness judge
    info_judge_base_url: str | None = None
    workers: int = 2  # parallel scorers (processes for Math-Verify, threads for the code sandbox)
    score_timeout: float = 10.0  # seconds per row for process-scored tasks; an overrun scores "timeout"
    unsafe_code_exec: bool = False  # run generated code where no sandbox holds (also SFTSCOPE_SANDBOX=unsafe)
    db: str | None = None  # results DB (eval run: results.db; sweep: RUN_DIR/sftscope.db)
    run: str | None = None  # run name in the DB (default: the model's or run dir's name)

    def __post_init__(self) -> None:
        positive = [
            ("limit", self.limit),
            ("n_samples", self.n_samples),
            ("max_new_tokens", self.max_new_tokens),
        ]
        for name, value in positive:
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.temperature is not None and not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.workers < 1 or not (self.score_timeout > 0 and math.isfinite(self.score_timeout)):
            raise ValueError("workers must be >= 1 and score_timeout a positive number of seconds")
        if not _is_url(self.judge_base_url):
            raise ValueError(f"judge_base_url {self.judge_base_url!r} is not an http(s):// URL")
        if self.backend_options.data_parallel > 1 and self.backend == "openai":
            raise ValueError(
                "data_parallel applies to the hf and vllm backends (a server: raise concurrency)"
            )

    def sampling_overrides(self, task: str) -> dict[str, Any]:
        """Overrides of a task protocol's SamplingParams: these fields, then `task_sampling[task]`."""
        values = {"temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens}
        values["seed"] = self.seed
        merged = {k: v for k, v in values.items() if v is not None}
        return {**merged, **self.task_sampling.get(task, {})}

    def score_context(self) -> ScoreContext:
        from sftscope.eval.context import JudgeOptions, RewardOptions, TruthfulQAJudgeOptions, build_context

        judge = JudgeOptions(self.judge, self.judge_backend, self.judge_base_url) if self.judge else None
        reward = RewardOptions(self.reward_model, self.reward_model_device, self.reward_model_dtype)
        truthfulqa = TruthfulQAJudgeOptions(
            self.truth_judge, self.truth_judge_base_url, self.info_judge, self.info_judge_base_url
        )
        return build_context(
            judge,
            unsafe_code_exec=self.unsafe_code_exec,
            threads=self.workers,
            timeout=self.score_timeout,
            reward=reward,
            truthfulqa=truthfulqa,
        )

    def stored(self) -> dict[str, Any]:
        """The config as stored with results: credentials never are."""
        return _without_secrets(asdict(self))


@dataclass
class SweepConfig:
    """A sweep: which run and checkpoints, plus the evaluation applied to each (`eval`)."""

    target: str = ""  # a run dir or a hub repo id owner/name
    eval: EvalConfig = field(default_factory=EvalConfig)
    steps: str | None = None  # e.g. "0,40,last"; None = every checkpoint
    base: str | None = None  # base model (step 0); default: the run's config `model`
    watch: bool = False  # keep polling for new checkpoints while training runs
    poll_seconds: float = 30.0
    idle_timeout: float = 1800.0  # stop watching after this long without a new checkpoint

    def __post_init__(self) -> None:
        if not self.target:
            raise ValueError("target: give a run directory or a hub repo id owner/name")
        if not (self.poll_seconds > 0 and self.idle_timeout >= 0):
            raise ValueError("poll_seconds must be > 0 and idle_timeout >= 0")

    def stored(self) -> dict[str, Any]:
        return _without_secrets(asdict(self))


def _is_url(value: str | None) -> bool:
    return value is None or re.match(r"https?://[^/\s]+", value) is not None


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_secrets(v)
            for k, v in value.items()
            if not any(w in str(k).lower() for w in SECRET_WORDS)
        }
    return value
