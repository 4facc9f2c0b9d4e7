"""What a benchmark is: a `TaskSpec` (how to load it) with one or more named `TaskProtocol`s (how to prompt,
sample and score it), and its `Example`s.

A task module in `eval/tasks/` builds one `TaskSpec`; `eval/tasks/__init__.py` registers it. Everything that
generates or scores goes through the same few calls:

    spec.load(limit, data_path) -> [Example]          the benchmark's items, in a fixed order
    spec.protocol(name) -> TaskProtocol               "paper" (as the reference code did it) or "strict"
    protocol.prompt(example) -> Messages              chat turns, no system prompt
    eval.scoring.SampleScorer(spec, protocol, ...)    THE scoring path, for `eval run` and `eval rescore` alike

A protocol scores either row by row (`score(example, completion, ctx)`) or a batch at once (`score_batch`,
for judges and reward models that are called in batches). How row scoring runs in parallel is the typed
`scoring` field: inline, threads (scorers that wait on subprocesses, like the code sandbox) or processes
(Math-Verify, whose timeouts use signals and which can hang in C code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sftscope.records import DOMAINS, METRICS, Generator, Messages, RewardModel, SamplingParams, Verdict

PAPER_SAMPLING = SamplingParams(temperature=0.6, top_p=0.95, max_new_tokens=32768)
# The reference's lm-eval runs (IFEval, TruthfulQA, HaluEval, MMLU-Pro) keep top_p at 1.0.
LMEVAL_SAMPLING = SamplingParams(temperature=0.6, top_p=1.0, max_new_tokens=32768)
GREEDY = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=1024)
MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

ScoreMode = Literal["inline", "threads", "processes"]
# What `eval rescore` needs to rebuild an example: the stored gold alone ("gold": the Example gets the stored
# gold, and data={"prompt": the stored prompt text}), or the task's data reloaded ("examples").
RescoreFrom = Literal["gold", "examples"]
NEEDS = ("judge", "reward_model", "sandbox", "truthfulqa_judges")  # "sandbox": runs generated code


@dataclass(frozen=True)
class Example:
    """One benchmark item: a stable id, the gold answer as text, and whatever else prompting/scoring needs."""

    id: str
    gold: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreContext:
    """What scoring may use besides the example and the completion: judges, and the code-execution policy."""

    judge: Generator | None = None
    reward_model: RewardModel | None = None
    truthfulqa_judges: Any = None  # eval.truthjudge.TruthInfoJudges (TruthfulQA's truth and info judges)
    unsafe_code_exec: bool = False  # run generated code without a sandbox that holds (explicit opt-in only)
    threads: int = 2  # parallel scorers for `scoring="threads"` / `"processes"` (one per core here)
    timeout: float = 10.0  # seconds per row for `scoring="processes"`; an overrun scores as "timeout"


RowScorer = Callable[[Example, str, ScoreContext], Verdict]
BatchScorer = Callable[[list[Example], list[str], ScoreContext], list[Verdict]]
Loader = Callable[[int | None, str | None], list[Example]]


@dataclass(frozen=True)
class TaskProtocol:
    """One way to run a task: prompt, sampling, samples per example, extraction + scoring, and metric.

    `scorer_id` names the scoring rules (verifier and version) and is stored with every sample; `needs`
    lists run-time resources the scorer requires ("judge", "reward_model"), checked before any generation.
    """

    name: str
    prompt: Callable[[Example], Messages]
    sampling: SamplingParams
    n_samples: int = 1
    metric: str = "accuracy"
    score: RowScorer | None = None
    score_batch: BatchScorer | None = None
    scoring: ScoreMode = "inline"
    # scoring="processes": "module:function" each worker runs once before it takes rows, so imports and
    # first-use costs (Math-Verify's regexes) are not charged to the first row's timeout.
    worker_warmup: str | None = None
    needs: tuple[str, ...] = ()
    scorer_id: str = ""
    description: str = ""  # one line for `eval list`: what this protocol does (and any known deviation)

    def __post_init__(self) -> None:
        if (self.score is None) == (self.score_batch is None):
            raise ValueError(f"protocol {self.name}: give exactly one of score or score_batch")
        if self.metric not in METRICS:
            raise ValueError(f"protocol {self.name}: metric {self.metric!r} is not one of {METRICS}")
        if self.n_samples < 1:
            raise ValueError(f"protocol {self.name}: n_samples must be >= 1")
        if self.worker_warmup is not None and (self.scoring != "processes" or ":" not in self.worker_warmup):
            raise ValueError(
                f"protocol {self.name}: worker_warmup is 'module:function' for scoring='processes'"
            )
        unknown = [n for n in self.needs if n not in NEEDS]
        if unknown:
            raise ValueError(f"protocol {self.name}: unknown needs {unknown} (known: {NEEDS})")


@dataclass(frozen=True)
class TaskSpec:
    """A registered benchmark. `version` is bumped whenever the data, a prompt or a scorer changes, and is
    stored with every result; the first protocol is the task's default."""

    name: str
    domain: str
    version: str
    loader: Loader
    protocols: tuple[TaskProtocol, ...]
    source: str = ""
    size: int | None = None  # the benchmark's known size; a different count is warned about
    rescore_from: RescoreFrom = "examples"

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"task {self.name}: domain {self.domain!r} is not one of {DOMAINS}")
        if not self.protocols:
            raise ValueError(f"task {self.name}: needs at least one protocol")
        names = [p.name for p in self.protocols]
        if len(set(names)) != len(names):
            raise ValueError(f"task {self.name}: duplicate protocol names {names}")

    @property
    def default_protocol(self) -> TaskProtocol:
        return self.protocols[0]

    @property
    def protocol_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.protocols)

    def protocol(self, name: str | None = None) -> TaskProtocol:
        """The named protocol (None: the default); an unknown name is a ValueError naming the known ones."""
        if name is None:
            return self.default_protocol
        for protocol in self.protocols:
            if protocol.name == name:
                return protocol
        raise ValueError(
            f"task {self.name} has no protocol {name!r} (it has: {', '.join(self.protocol_names)})"
        )

    def load(self, limit: int | None = None, data_path: str | None = None) -> list[Example]:
        examples = self.loader(limit, data_path)
        return examples[:limit] if limit is not None else examples
