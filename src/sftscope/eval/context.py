"""Build the `ScoreContext` of a run from its options: the judge backend, the reward model, TruthfulQA's
judges, and the code-execution policy.

A judge is any backend (an OpenAI-compatible server by default: the paper's judges are GPT-4.1-class
models reached over HTTP); it is built once per run and shared by every task that needs it. The reward model
(AlpacaEval) is a Hugging Face sequence-classification model loaded in this process; TruthfulQA's two judges
are completion models behind OpenAI-compatible servers (`eval.truthjudge`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sftscope.errors import InputError
from sftscope.eval.spec import ScoreContext


@dataclass(frozen=True)
class JudgeOptions:
    model: str | None = None  # None: no judge
    backend: str = "openai"
    base_url: str | None = None


@dataclass(frozen=True)
class RewardOptions:
    model: str | None = None  # None: no reward model
    device: str | None = None  # default: cuda if available, else cpu
    dtype: str = "auto"  # auto: bf16 on GPU (as the reference), fp32 on CPU


@dataclass(frozen=True)
class TruthfulQAJudgeOptions:
    truth: str | None = None  # the truth judge's model name on its server
    truth_base_url: str | None = None
    info: str | None = None  # the informativeness judge's
    info_base_url: str | None = None


def build_context(
    judge: JudgeOptions | None = None,
    *,
    unsafe_code_exec: bool = False,
    threads: int = 2,
    timeout: float = 10.0,
    reward: RewardOptions | None = None,
    truthfulqa: TruthfulQAJudgeOptions | None = None,
) -> ScoreContext:
    generator = None
    if judge is not None and judge.model:
        from sftscope.eval.backends.base import make_backend

        opts = {"base_url": judge.base_url} if judge.backend == "openai" else {}
        generator = make_backend(judge.backend, judge.model, **opts)
    reward_model = None
    if reward is not None and reward.model:
        from sftscope.eval.reward import HFRewardModel

        reward_model = HFRewardModel(reward.model, device=reward.device, dtype=reward.dtype)
    return ScoreContext(
        judge=generator,
        reward_model=reward_model,
        truthfulqa_judges=truthfulqa_judges(truthfulqa),
        unsafe_code_exec=unsafe_code_exec,  # SFTSCOPE_SANDBOX=unsafe is read by the sandbox itself
        threads=threads,
        timeout=timeout,
    )


def truthfulqa_judges(options: TruthfulQAJudgeOptions | None):
    """TruthfulQA's judges, both or neither (one alone cannot score the task)."""
    if options is None or not (options.truth or options.info):
        return None
    if not (options.truth and options.info):
        raise InputError("TruthfulQA needs both judges: pass --truth-judge MODEL and --info-judge MODEL")
    from sftscope.eval.truthjudge import CompletionJudge, TruthInfoJudges

    return TruthInfoJudges(
        CompletionJudge(options.truth, options.truth_base_url, suffix="True:"),
        CompletionJudge(options.info, options.info_base_url, suffix="Helpful:"),
    )
