"""AIME 2025: the 30 problems of AIME 2025 I and II (not in the paper's table; added to our paper suite).

Dataset: opencompass/AIME2025, configs `AIME2025-I` and `AIME2025-II`, split `test` (columns: question,
answer). A local copy (--data-path) may use `question` or `problem` and an optional `id`.
Paper: in-domain like AIME24, avg@10 at temperature 0.6, top_p 0.95, up to 32,768 new tokens.
Answer format: an integer 0-999 in `\\boxed{}`; Math-Verify on the response after `</think>`.
"""

from __future__ import annotations

from sftscope.errors import row_error
from sftscope.eval.datasource import hub_rows
from sftscope.eval.spec import MATH_INSTRUCTION, PAPER_SAMPLING, Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import Verdict
from sftscope.verify.math import verify_math

HUB_ID = "opencompass/AIME2025"
CONFIGS = ("AIME2025-I", "AIME2025-II")


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        for config in CONFIGS:
            for i, row in enumerate(load_dataset(HUB_ID, config, split="test")):
                yield {"id": f"{config}-{i + 1}", **row}

    rows = hub_rows("aime25", data_path, hub, f"it is {HUB_ID} (configs {', '.join(CONFIGS)}) on the hub")
    examples = []
    for i, row in enumerate(rows):
        text = row.get("question", row.get("problem"))
        if text is None or "answer" not in row:
            raise row_error(
                data_path or HUB_ID, i, "question", "missing", "rows need question (or problem) and answer"
            )
        examples.append(Example(id=str(row.get("id", i)), gold=str(row["answer"]), data={"problem": text}))
    return examples


def prompt(example: Example) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{example.data['problem']}\n{MATH_INSTRUCTION}"}]


def score(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return verify_math(example.gold or "", completion, strip_think=True)


TASK = TaskSpec(
    name="aime25",
    domain="in_domain",
    version="1",
    loader=load,
    protocols=(
        TaskProtocol(
            name="strict",
            prompt=prompt,
            score=score,
            sampling=PAPER_SAMPLING,
            n_samples=10,
            metric="accuracy",
            scoring="processes",
            scorer_id="math-verify after </think> (strict)",
        ),
    ),
    source=HUB_ID,
    size=30,
    rescore_from="gold",
)
