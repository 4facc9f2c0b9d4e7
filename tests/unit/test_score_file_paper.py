"""`eval score --verifier TASK --protocol paper|strict` scores JSONL rows (Example data = the row, in the hub
schema) with the task's own protocol scorer, the same rules as `eval run`."""

from __future__ import annotations

import json

import pytest

from sftscope.eval.scorefile import score_file


def _score(tmp_path, task: str, protocol: str, rows: list[dict]) -> list[dict]:
    src, out = tmp_path / f"{task}.jsonl", tmp_path / f"{task}-{protocol}.out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    score_file(src, task, out, protocol=protocol)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_math_rows_differ_between_paper_and_strict(tmp_path):
    rows = [
        {"gold": "42", "completion": "<think>6*7 = \\boxed{42}"},
        {"gold": "7", "completion": "\\boxed{7}"},
    ]
    assert [r["correct"] for r in _score(tmp_path, "math500", "paper", rows)] == [True, True]
    assert [r["correct"] for r in _score(tmp_path, "math500", "strict", rows)] == [False, True]


def test_choice_rows(tmp_path):
    gpqa = _score(tmp_path, "gpqa_diamond", "paper", [{"gold": "A", "completion": "the answer is a bit odd"}])
    assert gpqa[0]["correct"] and gpqa[0]["extracted"] == "A"
    mmlu = _score(tmp_path, "mmlu_pro", "paper", [{"gold": "B", "completion": "The answer is (B)"}])
    assert mmlu[0]["correct"]


def test_code_and_instruction_rows_carry_their_hub_fields(tmp_path):
    tests = json.dumps([{"input": "2 3\n", "output": "5\n", "testtype": "stdin"}])
    lcb_row = {
        "question_id": "q",
        "public_test_cases": tests,
        "private_test_cases": tests,
        "metadata": "{}",
        "completion": "```python\na, b = map(int, input().split())\nprint(a + b)\n```",
    }
    assert _score(tmp_path, "livecodebench", "paper", [lcb_row])[0]["correct"]
    pytest.importorskip("if_verifiable", reason="IFEval checkers are the optional extra sftscope[ifeval]")
    ifeval_row = {
        "key": 1,
        "prompt": "No commas.",
        "instruction_id_list": ["punctuation:no_comma"],
        "kwargs": [{}],
        "completion": "<think>a, b</think>fine then",
    }
    (scored,) = _score(tmp_path, "ifeval", "paper", [ifeval_row])
    assert scored["correct"] and scored["details"]["inst_strict"] == 1.0 and "seed" in scored["details"]


def test_halueval_rows(tmp_path):
    rows = [{"gold": "yes", "completion": "<think>check</think>Yes."}, {"gold": "no", "completion": "Yes"}]
    assert [r["correct"] for r in _score(tmp_path, "halueval", "paper", rows)] == [True, False]
