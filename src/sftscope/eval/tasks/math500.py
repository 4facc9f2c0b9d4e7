"""MATH-500: 500 competition problems from the MATH test set (Lightman et al., "Let's Verify Step by Step").

Dataset: HuggingFaceH4/MATH-500, split `test` (columns: problem, solution, answer, subject, level, unique_id).
Paper: in-domain, avg@3 at temperature 0.6, top_p 0.95, up to 32,768 new tokens.
Answer format: LaTeX in `\\boxed{}`; scored with Math-Verify on the response after `</think>` against the
gold answer (boxed before parsing).
"""

from __future__ import annotations

from sftscope.eval.datasource import hub_rows, require
from sftscope.eval.spec import MATH_INSTRUCTION, PAPER_SAMPLING, Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import Verdict
from sftscope.verify.math import verify_math

HUB_ID = "HuggingFaceH4/MATH-500"


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        return load_dataset(HUB_ID, split="test")

    rows = hub_rows("math500", data_path, hub, f"it is {HUB_ID} on the Hugging Face hub")
    examples = []
    for i, row in enumerate(rows):
        require(row, ("problem", "answer", "unique_id"), data_path or HUB_ID, i)
        examples.append(
            Example(id=str(row["unique_id"]), gold=str(row["answer"]), data={"problem": row["problem"]})
        )
    return examples


def prompt(example: Example) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{example.data['problem']}\n{MATH_INSTRUCTION}"}]


def score(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return verify_math(example.gold or "", completion, strip_think=True)


TASK = TaskSpec(
    name="math500",
    domain="in_domain",
    version="1",
    loader=load,
    protocols=(
        TaskProtocol(
            name="strict",
            prompt=prompt,
            score=score,
            sampling=PAPER_SAMPLING,
            n_samples=3,
            metric="accuracy",
            scoring="processes",
            scorer_id="math-verify after </think> (strict)",
        ),
    ),
    source=HUB_ID,
    size=500,
    rescore_from="gold",
)
