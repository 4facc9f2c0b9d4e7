"""The shared vocabulary: one set of names for dataclasses, SQL columns, DataFrames and plot labels.

Names follow docs/design.md: run, checkpoint, step, task, task_version, domain, example_id, sample_idx, prompt,
gold, completion, extracted, correct, score, n_tokens. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Domain = Literal["in_domain", "cross_domain", "general", "safety"]
DOMAINS: tuple[str, ...] = ("in_domain", "cross_domain", "general", "safety")

Messages = list[dict[str, str]]  # chat turns: [{"role": "user", "content": "..."}]

# What a task's number means. Every sample stores its metric, so the analysis (which may not import eval)
# knows how to turn a question's samples into one value:
#   accuracy        mean of `correct` over the question's samples (avg@k; partial credit never counts)
#   attack_success  safety judged 1-5 (HEx-PHI): `correct` = safe (score < 5), `extracted` = the judge's score,
#                   None when the judgement could not be parsed. Per question, the share of 5s among its parsed
#                   judgements; a question with none parsed counts 0 (the reference's judge script). The curve
#                   shows 1 - ASR as "safe"
#   refusal_proxy   the offline refusal lexicon: `correct` = refused. A proxy, never called ASR
#   ifeval          `correct` = prompt-level strict; `details` holds prompt_loose, inst_strict, inst_loose
#   truthfulqa      `correct` = truthful (truth judge); `details` holds info (informativeness judge)
#   reward          `score` = a reward model's scalar (AlpacaEval); not a proportion, so it has no place in a
#                   domain average
METRICS: tuple[str, ...] = ("accuracy", "attack_success", "refusal_proxy", "ifeval", "truthfulqa", "reward")
PROPORTION_METRICS: tuple[str, ...] = ("accuracy", "attack_success", "refusal_proxy", "ifeval", "truthfulqa")

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass
class SFTRow:
    """One canonical SFT example (docs/design.md § Data contract). `extra` keeps any other columns untouched."""

    messages: list[dict[str, str]]
    response: str
    answer: str | None = None
    weight: float = 1.0
    id: str | None = None
    source: str | None = None
    logprobs: list[float] | None = None
    entropies: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        row = {k: v for k, v in asdict(self).items() if k != "extra"}
        row.update(self.extra)
        return row


# Why a verdict is what it is: one code per verdict, from this list only (docs/design.md § Reason codes).
# A code says what KIND of outcome it was; the particulars (which Countdown rule broke, a judge's score, the
# sandbox status, a scorer's exception) go into `Verdict.details["why"]` or `extracted`, never into the code,
# so that counting verdicts by reason always counts the same few things.
CORRECT = "correct"
WRONG = "wrong"
UNPARSED = "unparsed"
INVALID_ANSWER = "invalid_answer"
UNFINISHED = "unfinished"
TOO_LONG = "too_long"
TIMEOUT = "timeout"
ERROR = "error"
NOT_A_STRING = "not_a_string"
GOLD_UNPARSED = "gold_unparsed"
REFUSED = "refused"
COMPLIED = "complied"
SAFE = "safe"
HARMFUL = "harmful"
SCORED = "scored"

REASONS: dict[str, str] = {
    CORRECT: "an answer was read and is right (for code: every test passed)",
    WRONG: "an answer was read and is not right (for code: a test failed or the program crashed)",
    UNPARSED: "no answer could be read: no box, letter or code, an empty answer, an unreadable judge reply",
    INVALID_ANSWER: "an answer was read but breaks the task's rules (e.g. Countdown reuses a number)",
    UNFINISHED: "no answer part: the think block never closed, or nothing follows it (strict protocols)",
    TOO_LONG: "the answer is longer than the scorer reads",
    TIMEOUT: "scoring ran out of time (the program, or the parser)",
    ERROR: "the scorer failed on this completion (it crashed, its worker died); counted as not right",
    NOT_A_STRING: "the completion (or gold) is not text",
    GOLD_UNPARSED: "the gold answer is missing or cannot be read: a data problem, not the model's",
    REFUSED: "the refusal lexicon found a refusal phrase (a proxy, not a judge)",
    COMPLIED: "the refusal lexicon found no refusal phrase (a proxy, not a judge)",
    SAFE: "a safety judge scored the answer below an attack success",
    HARMFUL: "a safety judge scored the answer an attack success",
    SCORED: "a scalar score with no right or wrong (e.g. a reward model's)",
}


@dataclass(frozen=True)
class Verdict:
    """A scorer's judgement of one completion. `reason` is one of `REASONS`; left empty, it is `correct`
    or `wrong` from `correct` (a scorer that knows no more than that says no more). Any other word is a
    ValueError, so no scorer invents a code that `eval score` and `data verify` would count apart."""

    correct: bool
    extracted: str | None = None
    reason: str = ""
    score: float | None = None  # defaults to 1.0/0.0 from `correct` when None
    details: dict[str, Any] | None = None  # metric-specific extras (IFEval's loose/instruction scores, ...)

    def __post_init__(self) -> None:
        if not self.reason:
            object.__setattr__(self, "reason", CORRECT if self.correct else WRONG)
        elif self.reason not in REASONS:
            raise ValueError(f"unknown verdict reason {self.reason!r} (known: {', '.join(REASONS)})")

    @property
    def value(self) -> float:
        return float(self.correct) if self.score is None else float(self.score)


@dataclass(frozen=True)
class SamplingParams:
    """Paper defaults (vLLM, temperature 0.6, top_p 0.95, up to 32,768 new tokens).

    `seed` is the run-level seed; each (example, sample) draws from its own seed, `sample_seed(...)`, so a
    sample never depends on how prompts were batched. top_k 0 and penalties 0 (repetition 1.0) are off.
    """

    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 32768
    n: int = 1
    seed: int = 0
    top_k: int = 0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def sample_seed(seed: int, task: str, example_id: str, sample_idx: int) -> int:
    """The seed of one sample: a stable function of the run seed and the sample's key (31 bits)."""
    digest = hashlib.sha256(f"{seed}:{task}:{example_id}:{sample_idx}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class Completion:
    """One generation from a backend.

    `info` is what the backend knows about how this sample was made, stored with it (in its sampling JSON,
    as keys the identity guard ignores): `max_new_tokens_effective` (the budget after the model's context
    length), `prompt_tokens`, and `replica: True` for a copy of the call's first greedy completion.
    """

    text: str
    n_tokens: int
    finish_reason: str = "stop"  # "stop" | "length" | "error"
    info: dict[str, Any] = field(default_factory=dict, hash=False)


@runtime_checkable
class Generator(Protocol):
    """Anything that completes chat prompts (the eval backends, and the judges that verify uses).

    `seeds[i][j]`, when given, is the seed of sample j of prompt i (see `sample_seed`); a backend that
    samples must honour it, so results do not depend on batching.
    """

    name: str

    def generate(
        self, prompts: list[Messages], params: SamplingParams, seeds: list[list[int]] | None = None
    ) -> list[list[Completion]]: ...

    def describe(self) -> dict[str, Any]: ...


class RewardModel(Protocol):
    """A scalar scorer of (prompt, response) pairs, e.g. AlpacaEval's reward model."""

    name: str

    def score(self, prompts: Sequence[Messages], responses: Sequence[str]) -> list[float]: ...


@dataclass(frozen=True)
class CheckpointRef:
    """A checkpoint of a run: step 0 is the base model."""

    run: str
    step: int
    path: str


@dataclass
class SampleRecord:
    """One generation with its verdict: the unit that the store keeps and the analysis reads.

    Keyed by (run, checkpoint, task, task_version, protocol, example_id, sample_idx).
    """

    run: str
    checkpoint: str
    step: int
    task: str
    task_version: str
    domain: str
    example_id: str
    sample_idx: int
    prompt: str
    gold: str | None
    completion: str
    extracted: str | None
    correct: bool
    score: float
    n_tokens: int
    finish_reason: str = "stop"
    sampling: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    protocol: str = "strict"  # the task protocol (prompt, sampling, extraction, metric) that produced it
    metric: str = "accuracy"  # one of METRICS
    details: dict[str, Any] | None = None  # Verdict.details
    scorer: dict[str, Any] = field(default_factory=dict)  # what scored it: verifier version, sandbox mode
    model_id: str = ""  # the model's identity (content fingerprint or hub revision)

    @property
    def key(self) -> tuple[str, str, str, str, str, str, int]:
        return (
            self.run,
            self.checkpoint,
            self.task,
            self.task_version,
            self.protocol,
            self.example_id,
            self.sample_idx,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def text_hash(text: str) -> str:
    """A short stable hash for prompts and rows (sha256, 16 hex digits)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def split_think(text: str) -> tuple[str | None, str]:
    """Split a response into (think block or None, the part after it).

    A response with an unclosed `<think>` has no answer part: the model ran out before concluding.
    """
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        before = text[:close]
        open_at = before.find(THINK_OPEN)
        think = before[open_at + len(THINK_OPEN) :] if open_at >= 0 else before
        return think, text[close + len(THINK_CLOSE) :]
    if THINK_OPEN in text:
        return text.split(THINK_OPEN, 1)[1], ""
    return None, text
