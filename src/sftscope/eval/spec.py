"""What a benchmark is: a `TaskSpec` (how to load, prompt and score it) and its `Example`s.

A task module in `eval/tasks/` builds one `TaskSpec` and passes it to `registry.register()`. The runner only
talks to these three methods: `load`, `prompt` and `score`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sftscope.records import DOMAINS, SamplingParams, Verdict

PAPER_SAMPLING = SamplingParams(temperature=0.6, top_p=0.95, max_new_tokens=32768)
MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class Example:
    """One benchmark item: a stable id, the gold answer as text, and whatever else prompting/scoring needs."""

    id: str
    gold: str | None
    data: dict[str, Any] = field(default_factory=dict)


Loader = Callable[[int | None, str | None], list[Example]]


@dataclass(frozen=True)
class TaskSpec:
    """A registered benchmark.

    `loader(limit, data_path)` returns examples in a fixed order; `prompt_fn` builds chat messages (no system
    prompt); `score_fn(example, completion)` returns a Verdict. `version` is bumped whenever the data, the
    prompt or the scorer changes, and is stored with every result. `scores_from_gold` says the verdict needs
    only the stored gold string, so `eval rescore` can run without reloading the data set.
    """

    name: str
    domain: str
    version: str
    loader: Loader
    prompt_fn: Callable[[Example], list[dict[str, str]]]
    score_fn: Callable[[Example, str], Verdict]
    n_samples: int = 1
    sampling: SamplingParams = PAPER_SAMPLING
    metric: str = "avg@k"
    source: str = ""
    size: int | None = None
    scores_from_gold: bool = False
    verifier: str = ""  # the sftscope.verify registry name, for `eval score` and fast rescoring

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"task {self.name}: domain {self.domain!r} is not one of {DOMAINS}")
        if self.n_samples < 1:
            raise ValueError(f"task {self.name}: n_samples must be >= 1")

    def load(self, limit: int | None = None, data_path: str | None = None) -> list[Example]:
        examples = self.loader(limit, data_path)
        return examples[:limit] if limit is not None else examples

    def prompt(self, example: Example) -> list[dict[str, str]]:
        return self.prompt_fn(example)

    def score(self, example: Example, completion: str) -> Verdict:
        return self.score_fn(example, completion)


def verifier_score(name: str, gold: str | None, completion: str, **fields: Any) -> Verdict:
    """Score with a verifier from `sftscope.verify.registry` (imported late: some verifiers are heavy)."""
    from sftscope.verify.registry import get_verifier

    return get_verifier(name).score(gold, completion, **fields)
