"""AIME 2025: the 30 problems of AIME 2025 I and II (not in the paper's table; added to our paper suite).

Dataset: opencompass/AIME2025, configs `AIME2025-I` and `AIME2025-II`, split `test` (columns: question,
answer). A local copy (--data-path) may use `question` or `problem` and an optional `id`; a folder must hold
the two configs' files (names ending in `2025-I` and `2025-II`), read in that order.
Paper: in-domain like AIME24, avg@10 at temperature 0.6, top_p 0.95, up to 32,768 new tokens.
Protocols (`competition_math`): `paper` as the reference's `evaluation/math_eval/math_eval_budget.py`
(Math-Verify on the whole raw response; the reference ran it on AIME24 only); `strict` scores the answer
after `</think>`.
"""

from __future__ import annotations

from sftscope.errors import row_error
from sftscope.eval.datafiles import FileRule, task_rows
from sftscope.eval.spec import Example, TaskSpec
from sftscope.eval.tasks.competition_math import protocols

HUB_ID = "opencompass/AIME2025"
CONFIGS = ("AIME2025-I", "AIME2025-II")
FILES = FileRule(
    ("*2025-i.*|*2025-i/*", "*2025-ii.*|*2025-ii/*"), "the AIME2025-I and AIME2025-II files", shards=True
)


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        for config in CONFIGS:
            for i, row in enumerate(load_dataset(HUB_ID, config, split="test")):
                yield {"id": f"{config}-{i + 1}", **row}

    how = f"it is {HUB_ID} (configs {', '.join(CONFIGS)}) on the hub"
    rows = task_rows("aime25", data_path, hub, how, FILES)
    examples = []
    for i, row in enumerate(rows):
        text = row.get("question", row.get("problem"))
        if text is None or "answer" not in row:
            raise row_error(
                data_path or HUB_ID, i, "question", "missing", "rows need question (or problem) and answer"
            )
        examples.append(Example(id=str(row.get("id", i)), gold=str(row["answer"]), data={"problem": text}))
    return examples


TASK = TaskSpec(
    name="aime25",
    domain="in_domain",
    version="2",
    loader=load,
    protocols=protocols(n_samples=10),
    source=HUB_ID,
    size=30,
    rescore_from="gold",
)
