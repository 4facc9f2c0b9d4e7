"""MATH-500: 500 competition problems from the MATH test set (Lightman et al., "Let's Verify Step by Step").

Dataset: HuggingFaceH4/MATH-500, split `test` (columns: problem, solution, answer, subject, level, unique_id).
Paper: in-domain, avg@3 at temperature 0.6, top_p 0.95, up to 32,768 new tokens.
Protocols (`competition_math`): `paper` as the reference's `evaluation/math_eval/math_eval_budget.py`
(Math-Verify on the whole raw response); `strict` scores the answer after `</think>`.
Gold: the `answer` column, boxed. The reference reads its gold from the `solution` column instead (Math-Verify
parses the whole solution, whose last box is the `answer` column by the data set's construction).
"""

from __future__ import annotations

from sftscope.eval.datafiles import task_rows
from sftscope.eval.datasource import require
from sftscope.eval.spec import Example, TaskSpec
from sftscope.eval.tasks.competition_math import protocols

HUB_ID = "HuggingFaceH4/MATH-500"


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        return load_dataset(HUB_ID, split="test")

    rows = task_rows("math500", data_path, hub, f"it is {HUB_ID} on the Hugging Face hub")
    examples = []
    for i, row in enumerate(rows):
        require(row, ("problem", "answer", "unique_id"), data_path or HUB_ID, i)
        examples.append(
            Example(id=str(row["unique_id"]), gold=str(row["answer"]), data={"problem": row["problem"]})
        )
    return examples


TASK = TaskSpec(
    name="math500",
    domain="in_domain",
    version="2",
    loader=load,
    protocols=protocols(n_samples=3),
    source=HUB_ID,
    size=500,
    rescore_from="gold",
)
