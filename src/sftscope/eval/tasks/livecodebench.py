"""LiveCodeBench v2: 511 contest problems (LeetCode, AtCoder, Codeforces) released May 2023 - May 2024.

Dataset: livecodebench/code_generation_lite, `release_v2` = its files test.jsonl + test2.jsonl (columns:
question_title, question_content, platform, question_id, contest_id, contest_date, starter_code,
difficulty, public_test_cases, private_test_cases, metadata). The hub repo ships a loading script that
datasets >= 4 no longer runs, so we read its JSONL files through the `hf://` file system instead. A local
folder must hold test.jsonl and test2.jsonl; later releases (test3.jsonl, ...) in it are never read.
Paper: cross-domain, avg@3 at temperature 0.6, top_p 0.95, up to 32,768 new tokens.

Protocols:
- `paper`, as the reference's evalchemy LiveCodeBench (`evaluation/evalchemy/eval/chat_benchmarks/
  LiveCodeBench/eval_instruct.py` and `livecodebench_utils.py` in Nebularaid2000/rethink_sft_generalization):
  its prompt (an expert-programmer preamble, the problem text, then the stdin or the function-body format
  instruction, run together without separators; no starter code); the last ```python block of the raw
  output; graded on the PRIVATE tests only with the reference's own function lookup and stdout comparison
  (`verify.evalchemy_lcb`).
- `strict`: the official LCB prompt (starter code for functional problems); the last fenced block after
  `</think>` must pass every public and private test, 6 s per test (`verify.code`).
"""

from __future__ import annotations

import functools
from typing import Any

from sftscope.eval.datafiles import FileRule, task_rows
from sftscope.eval.datasource import require
from sftscope.eval.spec import PAPER_SAMPLING, Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import Verdict
from sftscope.verify.code import decode_tests, lcb_tests, score_lcb
from sftscope.verify.evalchemy_lcb import lcb_problem, score_lcb_reference

HUB_ID = "livecodebench/code_generation_lite"
RELEASE_FILES = ("test.jsonl", "test2.jsonl")  # release_v2
FILES = FileRule(
    ("test.jsonl|*/test.jsonl", "test2.jsonl|*/test2.jsonl"),
    "the release_v2 files test.jsonl and test2.jsonl",
)
TEST_TIMEOUT_S = 6.0
TEST_FIELDS = ("public_test_cases", "private_test_cases")
# Decoded test sets kept for the samples that follow. A problem's samples are scored together (threads
# interleave a few problems), so a small cache decodes each problem once per pass without holding a whole
# release's decoded tests in memory.
DECODED_FIELDS = 32
PAPER_PREAMBLE = (
    "You are an expert Python programmer. You will be given a question (problem specification) and will "
    "generate a correct Python program that matches the specification and passes all tests."
)
PAPER_STDIN = (
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test on the "
    "sample inputs). Enclose your code within delimiters as follows: ```python\n# YOUR CODE HERE\n```. "
    "Ensure that when the python program runs, it reads the inputs, runs the algorithm and writes output to "
    "STDOUT."
)
PAPER_FUNCTIONAL = (
    "Do not directly test on the sample inputs. Enclose your code within delimiters as follows: "
    "```python\n# YOUR CODE HERE\n```. Return the function body without invoking it at the final solution."
)
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

    how = f"it is {HUB_ID} ({' + '.join(RELEASE_FILES)}) on the hub"
    rows = task_rows("livecodebench", data_path, hub, how, FILES)
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
        decoded = with_decoded_tests(problem)
        lcb_tests(decoded)  # a corrupt row (tests or metadata) fails here, at load time, not per sample
        public = decoded["public_test_cases"]
        data = {
            "question": row["question_content"],
            "starter_code": row["starter_code"] or "",
            "problem": problem,
            # The reference's prompt choice: a stdin problem is one with any public stdin test.
            "is_stdin": any(test.get("testtype") == "stdin" for test in public),
        }
        examples.append(Example(id=problem["question_id"], gold=None, data=data))
    return examples


@functools.lru_cache(maxsize=DECODED_FIELDS)
def _decoded(raw: str, field: str) -> list[dict[str, str]]:
    # Keyed by the raw text itself, not the question id: rows of `eval score` may reuse ids. A str caches
    # its hash, so a hit costs no rescan of the (often megabytes of) encoded tests.
    return decode_tests(raw, where=field)


def with_decoded_tests(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with its encoded test fields decoded (the hub's base64+zlib+pickle: the costly part of scoring
    a sample). Lists and empty or missing fields are left for the scorers, which check them as before."""
    decoded = dict(row)
    for field in TEST_FIELDS:
        raw = row.get(field)
        if isinstance(raw, str) and raw:
            decoded[field] = _decoded(raw, field)
    return decoded


def paper_prompt(example: Example) -> list[dict[str, str]]:
    fmt = PAPER_STDIN if example.data["is_stdin"] else PAPER_FUNCTIONAL
    return [{"role": "user", "content": PAPER_PREAMBLE + example.data["question"] + fmt}]


def strict_prompt(example: Example) -> list[dict[str, str]]:
    starter = example.data["starter_code"].strip()
    fmt = WITH_STARTER.format(starter=starter) if starter else WITHOUT_STARTER
    return [
        {
            "role": "user",
            "content": f"### Question:\n{example.data['question']}\n\n### Format: {fmt}\n\n### Answer: (use the provided format with backticks)",
        }
    ]


def score_paper(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    # A loaded example keeps the hub columns under "problem"; a row of `eval score` holds them itself.
    row = with_decoded_tests(example.data.get("problem", example.data))
    return score_lcb_reference(lcb_problem(row), completion, allow_unsafe=ctx.unsafe_code_exec)


def score_strict(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    problem = with_decoded_tests(example.data.get("problem", example.data))
    return score_lcb(problem, completion, per_test_s=TEST_TIMEOUT_S, allow_unsafe=ctx.unsafe_code_exec)


TASK = TaskSpec(
    name="livecodebench",
    domain="cross_domain",
    version="2",
    loader=load,
    protocols=(
        TaskProtocol(
            name="paper",
            prompt=paper_prompt,
            score=score_paper,
            sampling=PAPER_SAMPLING,
            n_samples=3,
            metric="accuracy",
            scoring="threads",
            needs=("sandbox",),
            scorer_id="evalchemy LCB: private tests, own function lookup, stripped stdout (reference) v1",
            description="as the reference: its prompt, private tests only, its harness rules, in our sandbox",
        ),
        TaskProtocol(
            name="strict",
            prompt=strict_prompt,
            score=score_strict,
            sampling=PAPER_SAMPLING,
            n_samples=3,
            metric="accuracy",
            scoring="threads",
            needs=("sandbox",),
            scorer_id="code sandbox: public + private tests",
            description="official LCB prompt and grading (public + private tests, line-wise stdout)",
        ),
    ),
    source=f"{HUB_ID} (release_v2)",
    size=511,
)
