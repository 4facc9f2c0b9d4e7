"""AIME 2024: the 30 problems of AIME 2024 I and II.

Dataset: HuggingFaceH4/aime_2024, split `train` (columns: id, problem, solution, answer, url, year).
Paper: in-domain, avg@10 at temperature 0.6, top_p 0.95, up to 32,768 new tokens.
Protocols (`competition_math`): `paper` as the reference's `evaluation/math_eval/math_eval_budget.py`
(Math-Verify on the whole raw response); `strict` scores the answer after `</think>`.
Gold: the `answer` column (an integer 0-999), boxed. The reference read a local "converted_aime_dataset"
(columns `problem`, `solution`) that was not released; which 30 rows and which gold column it held is unknown.
"""

from __future__ import annotations

from sftscope.eval.datafiles import task_rows
from sftscope.eval.datasource import require
from sftscope.eval.spec import Example, TaskSpec
from sftscope.eval.tasks.competition_math import protocols

HUB_ID = "HuggingFaceH4/aime_2024"


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        return load_dataset(HUB_ID, split="train")

    rows = task_rows("aime24", data_path, hub, f"it is {HUB_ID} on the Hugging Face hub")
    examples = []
    for i, row in enumerate(rows):
        require(row, ("id", "problem", "answer"), data_path or HUB_ID, i)
        examples.append(Example(id=str(row["id"]), gold=str(row["answer"]), data={"problem": row["problem"]}))
    return examples


TASK = TaskSpec(
    name="aime24",
    domain="in_domain",
    version="2",
    loader=load,
    protocols=protocols(n_samples=10),
    source=HUB_ID,
    size=30,
    rescore_from="gold",
)
