"""Fuzz `sftscope data verify` end to end: every file ends in kept + rejected rows (exit 0) or one `error:`
line (exit 2), within a time bound, and the input is never modified.

Derandomized with a fixed number of examples; the `@example`s are the seed corpus of hostile Countdown and
math rows found by hand (a `target` of "three", NaN and inf, numbers that are not integers, NaN in an extra
column, an answer that is a number).
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sftscope.cli.main import main
from sftscope.data.io import read_rows

TIME_BOUND = 20.0  # seconds: includes starting a Math-Verify worker for the math rows of one file
VERIFY_FUZZ = settings(
    max_examples=25,
    deadline=timedelta(seconds=TIME_BOUND),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

NUMBERS = st.lists(st.integers(1, 12), min_size=2, max_size=4) | st.sampled_from(
    [[3, float("nan")], [3.0, 5.0], "3,5", [], [True, 2], None]
)
TARGETS = st.integers(-3, 40) | st.sampled_from(
    ["three", "8", " 8 ", "²", "+-5", "٨", float("nan"), float("inf"), 8.0, 8.5, True, None, 2**40]
)
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)


@st.composite
def rows(draw) -> list[dict]:
    out = []
    for i in range(draw(st.integers(1, 4))):
        expression = draw(st.sampled_from(["3+5", "5-3", "3*5", "(3+5)", "x", ""]))
        row = {
            "messages": [{"role": "user", "content": f"Problem {i}"}],
            "response": f"<think>{draw(TEXT)}</think> \\boxed{{{expression}}}",
        }
        if draw(st.booleans()):
            row["numbers"], row["target"] = draw(NUMBERS), draw(TARGETS)
        else:
            row["answer"] = draw(st.none() | TEXT | st.sampled_from(["8", "15", 8, 2.5]))
        if draw(st.booleans()):
            row["extra"] = draw(st.sampled_from([1, "x", float("nan"), [1, None], {"a": 1}]))
        out.append(row)
    return out


CD = {"messages": [{"role": "user", "content": "q"}], "response": "\\boxed{3+5}", "numbers": [3, 5]}


@pytest.mark.slow  # starts Math-Verify workers: ~10-20 s for the whole target
@VERIFY_FUZZ
@given(records=rows())
@example(records=[{**CD, "target": "three"}])
@example(records=[{**CD, "target": float("nan")}])
@example(records=[{**CD, "target": float("inf")}])
@example(records=[{**CD, "target": 8, "numbers": [3, float("nan")]}])
@example(records=[{**CD, "target": 8, "score": float("nan")}])
@example(records=[{**CD, "target": 8}, {**CD, "target": "8"}, {**CD, "target": 8.0}])
@example(records=[{"messages": CD["messages"], "response": "\\boxed{8}", "answer": 8}])
def test_data_verify_ends_in_rows_or_one_error_line(records, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        src, out, rejected = Path(tmp) / "in.jsonl", Path(tmp) / "kept.jsonl", Path(tmp) / "rej.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in records))  # Python writes NaN as NaN
        before = src.read_bytes()
        argv = ["data", "verify", str(src), "--out", str(out), "--rejected", str(rejected)]
        start = time.perf_counter()
        code = main([*argv, "--workers", "1", "--timeout", "2"])
        elapsed = time.perf_counter() - start
        captured = capsys.readouterr()
        assert src.read_bytes() == before
        assert elapsed < TIME_BOUND
        if code == 2:
            err = captured.err.strip().splitlines()
            assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in captured.err, err
            assert not out.exists()
        else:
            assert code == 0
            kept = len(read_rows(out)) if out.stat().st_size else 0
            dropped = len(read_rows(rejected)) if rejected.stat().st_size else 0
            assert kept + dropped == len(records)
            assert json.loads(captured.out[captured.out.index("{") :])["rows"] == len(records)
