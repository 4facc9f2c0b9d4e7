"""`data verify` and `eval score --verifier countdown` accept and refuse the same Countdown rows: both read
`numbers` and `target` with `verify.countdown`'s helpers, and `data verify` names the file, row and field."""

from __future__ import annotations

import json

import pytest

from sftscope.cli.main import main

PROMPT = [{"role": "user", "content": "Use 3 and 5 to make 8."}]
GOOD = {"numbers": [3, 5], "target": 8}
BAD = [
    {"target": "-5"},
    {"target": -5},
    {"target": 0},
    {"target": 10**12 + 1},
    {"target": 8.5},
    {"target": "three"},
    {"target": "+8"},
    {"numbers": [3.0, 5.0]},
    {"numbers": ["3", "5"]},
    {"numbers": [True, 5]},
    {"numbers": "3,5"},
]
ACCEPTED = [{}, {"target": "8"}, {"target": " 8 "}, {"target": 8.0}]


def _data_verify(tmp_path, capsys, change: dict) -> tuple[int, str]:
    path = tmp_path / "cd.jsonl"
    row = {"messages": PROMPT, "response": "\\boxed{3+5}", **GOOD, **change}
    path.write_text(json.dumps(row) + "\n")
    code = main(["data", "verify", str(path), "--out", str(tmp_path / "kept.jsonl"), "--workers", "1"])
    return code, capsys.readouterr().err


def _eval_score(tmp_path, capsys, change: dict) -> tuple[int, str]:
    path = tmp_path / "rows.jsonl"
    row = {"gold": "8", "completion": "\\boxed{3+5}", **GOOD, **change}
    path.write_text(json.dumps(row) + "\n")
    code = main(["eval", "score", str(path), "--verifier", "countdown", "--out", str(tmp_path / "out.jsonl")])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("change", BAD, ids=repr)
def test_both_paths_refuse_the_same_bad_countdown_rows(tmp_path, capsys, change):
    field = next(iter(change))
    code, err = _data_verify(tmp_path, capsys, change)
    assert code == 2 and f"row 0: field '{field}'" in err and "cd.jsonl" in err, err
    code, err = _eval_score(tmp_path, capsys, change)
    assert code == 2 and f"'{field}'" in err, err


@pytest.mark.parametrize("change", ACCEPTED, ids=repr)
def test_both_paths_accept_the_same_good_countdown_rows(tmp_path, capsys, change):
    assert _data_verify(tmp_path, capsys, change)[0] == 0
    assert _eval_score(tmp_path, capsys, change)[0] == 0
    assert json.loads((tmp_path / "out.jsonl").read_text())["correct"] is True
