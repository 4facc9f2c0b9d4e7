"""LiveCodeBench v2: 511 contest problems (LeetCode, AtCoder, Codeforces) released May 2023 - May 2024.

Dataset: livecodebench/code_generation_lite, `release_v2` = its files test.jsonl + test2.jsonl (columns:
question_title, question_content, platform, question_id, contest_id, contest_date, starter_code,
difficulty, public_test_cases, private_test_cases, metadata). The hub repo ships a loading script that
datasets >= 4 no longer runs, so we read its JSONL files through the `hf://` file system instead.
Paper: cross-domain, avg@3 at temperature 0.6, top_p 0.95.
Answer format: the last ```python block must pass every public and private test, 6 s per test. Tests are
stdin/stdout programs, or calls of `metadata.func_name` on a LeetCode-style `class Solution`.
"""

from __future__ import annotations

from sftscope.eval.datasource import hub_rows, require
from sftscope.eval.spec import PAPER_SAMPLING, Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import Verdict
from sftscope.verify.code import lcb_tests, score_lcb

HUB_ID = "livecodebench/code_generation_lite"
RELEASE_FILES = ("test.jsonl", "test2.jsonl")  # release_v2
TEST_TIMEOUT_S = 6.0
WITH_STARTER = (
    "You will use the following starter code to write the solution to the problem and enclose your code "
    "within delimiters.\n```python\n{starter}\n```"
)
WITHOUT_STARTER = (
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test on the "
    "sample inputs). Enclose your code within delimiters as follows. Ensure that when the python program runs, "
    "it reads the inputs, runs the algorithm and writes output to STDOUT.\n```python\n# YOUR CODE HERE\n```"
)


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        files = [f"hf://datasets/{HUB_ID}/{name}" for name in RELEASE_FILES]
        return load_dataset("json", data_files=files, split="train")

    rows = hub_rows(
        "livecodebench", data_path, hub, f"it is {HUB_ID} ({' + '.join(RELEASE_FILES)}) on the hub"
    )
    where = data_path or HUB_ID
    examples = []
    for i, row in enumerate(rows):
        require(row, ("question_id", "question_content", "starter_code", "public_test_cases"), where, i)
        problem = {
            "question_id": str(row["question_id"]),
            "public_test_cases": row["public_test_cases"],
            "private_test_cases": row.get("private_test_cases") or "[]",
            "metadata": row.get("metadata") or "{}",
        }
        lcb_tests(problem)  # decode once now, so a corrupt row fails at load time, not per sample
        data = {
            "question": row["question_content"],
            "starter_code": row["starter_code"] or "",
            "problem": problem,
        }
        examples.append(Example(id=problem["question_id"], gold=None, data=data))
    return examples


def prompt(example: Example) -> list[dict[str, str]]:
    starter = example.data["starter_code"].strip()
    fmt = WITH_STARTER.format(starter=starter) if starter else WITHOUT_STARTER
    return [
        {
            "role": "user",
            "content": f"### Question:\n{example.data['question']}\n\n### Format: {fmt}\n\n### Answer: (use the provided format with backticks)",
        }
    ]


def score(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return score_lcb(
        example.data["problem"], completion, per_test_s=TEST_TIMEOUT_S, allow_unsafe=ctx.unsafe_code_exec
    )


TASK = TaskSpec(
    name="livecodebench",
    domain="cross_domain",
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
            scoring="threads",
            needs=("sandbox",),
            scorer_id="code sandbox: public + private tests",
        ),
    ),
    source=f"{HUB_ID} (release_v2)",
    size=511,
)
