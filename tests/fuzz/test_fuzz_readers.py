"""Fuzz the readers: any bytes, in any supported format, end in rows or a one-line InputError, quickly.

Budget: derandomized (the same examples on every run), a fixed number of examples and a per-example
deadline, so this runs in a few seconds per target in CI. The `@example`s are the seed corpus: the hostile
inputs found by hand (issue "Hardening"), kept so that they are always tried first.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sftscope.config import load_config
from sftscope.data.io import read_rows, to_row, write_rows
from sftscope.data.reader import read_records
from sftscope.errors import InputError

TIME_BOUND = 3.0  # seconds for one read of a file under 10 KB, with room for a loaded CI machine
FUZZ = settings(
    max_examples=120,
    deadline=timedelta(seconds=TIME_BOUND),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ROW = {"messages": [{"role": "user", "content": "q"}], "response": "r \\boxed{1}", "answer": "1"}
GOOD = json.dumps(ROW).encode()
SEEDS = [
    GOOD + b"\n" + b'{"response": "\xff"}\n',  # invalid UTF-8 on line 2
    json.dumps(ROW).encode("utf-16"),  # UTF-16 with a BOM
    b"[" * 100_000 + b"]" * 100_000,  # nested 100k deep
    GOOD[:-1] + b', "x": ' + b"9" * 5000 + b"}",  # over Python's 4,300-digit limit
    GOOD[:-1] + b', "x": 18446744073709551616}',  # over int64
    GOOD[:-1] + b', "x": 18446744073709551616, "y": }',  # over int64, then a syntax error
    GOOD[:-1] + b', "x": "\\ud800"}',  # a lone surrogate
    GOOD[:-1] + b', "answer": "2"}',  # a duplicate key
    GOOD[:-1] + b', "x": NaN, "y": -Infinity}',  # NaN and Infinity (read; never written as JSON)
    GOOD[:-1] + b', "numbers": [1, 2], "target": "three"}',
    b"[" + GOOD + b", " + GOOD + b"]",  # a JSON array (a .json file; an error in .jsonl)
    GOOD + b"\n" + GOOD + b"\n",  # JSON Lines (also as .json)
    b"\x00\x00\x00",
    b"PAR1\x00\x00PAR1",
    b'a,b\n1,"x"y\n',
]


def _read(data: bytes, suffix: str, reader=read_records, names_file: bool = True):
    """Rows or an InputError, within the time bound; anything else (a traceback) fails the test."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"rows{suffix}"
        path.write_bytes(data)
        start = time.perf_counter()
        try:
            result = reader(path)
        except InputError as exc:
            message = str(exc)
            assert message and "\n" not in message, message
            assert str(path) in message or not names_file, message
            result = None
        assert time.perf_counter() - start < TIME_BOUND
    return result


def _corpus(test):
    """Every seed as JSON Lines and as a .json file (the test's other argument)."""
    for seed in SEEDS:
        for suffix in (".jsonl", ".json"):
            test = example(data=seed, suffix=suffix)(test)
    return test


@FUZZ
@given(data=st.binary(max_size=4000), suffix=st.sampled_from([".jsonl", ".json", ".csv", ".parquet"]))
@_corpus
def test_any_bytes_end_in_records_or_an_input_error(data, suffix):
    records = _read(data, suffix)
    assert records is None or all(isinstance(r, dict) for r in records)


def _json_values(max_leaves: int = 20):
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=20)
    )
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=max_leaves,
    )


JSON_VALUES = _json_values(max_leaves=10)


@st.composite
def _jsonl_text(draw) -> bytes:
    """JSON Lines built from rows with canonical and random fields, with sprinkled damage."""
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        row = dict(ROW)
        for key in draw(st.lists(st.sampled_from(["messages", "response", "answer", "weight", "id", "x"]))):
            row[key] = draw(JSON_VALUES)
        text = json.dumps(row)  # Python writes NaN/Infinity and huge ints as is
        if draw(st.booleans()):
            at = draw(st.integers(0, len(text)))
            text = (
                text[:at]
                + draw(st.sampled_from(['"', "}", "\\ud83d", ', "id": 1', "\\u0000", "\n"]))
                + text[at:]
            )
        lines.append(text)
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


@settings(FUZZ, max_examples=50)  # each example writes and reads back three files
@given(data=_jsonl_text(), suffix=st.sampled_from([".jsonl", ".json"]))
@_corpus
def test_sft_rows_read_and_write_back_or_fail_cleanly(data, suffix):
    rows = _read(data, suffix, read_rows)
    if rows is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("out.jsonl", "out.json", "out.parquet"):
            try:
                path = write_rows(rows, Path(tmp) / name)
            except InputError as exc:
                assert "\n" not in str(exc) and name in str(exc)
                continue
            back = read_rows(path)  # what we write, we can read
            assert [r.response for r in back] == [r.response for r in rows]


@FUZZ
@given(
    record=st.dictionaries(
        st.sampled_from(
            [
                "message",
                "messages",
                "response",
                "answer",
                "weight",
                "advantage",
                "logprob",
                "entropies",
                "id",
                "source",
                "extra",
            ]
        ),
        _json_values(8),
        max_size=8,
    )
)
def test_to_row_builds_a_row_or_names_the_field(record):
    try:
        row = to_row(record, "f.jsonl", 3)
    except InputError as exc:
        assert str(exc).startswith("f.jsonl: row 3") and "\n" not in str(exc)
        return
    assert isinstance(row.response, str) and math.isfinite(row.weight) and row.messages


CONFIG_SEEDS = [
    "epochs: 2\n".encode("utf-16"),
    b"epochs: 2\nepochs: 3\n",
    b"name: \xff\n",
    b"x: " + b"[" * 600 + b"]" * 600,
    b"optim: {lr: 1, lr: 2}\n",
    b"- a\n- b\n",
]


@FUZZ
@given(data=st.binary(max_size=400) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_config_files_end_in_a_config_or_an_input_error(data):
    from dataclasses import dataclass

    @dataclass
    class Tiny:
        epochs: int = 1
        name: str = "x"

    def load(path):
        return load_config(Tiny, path)

    _read(data, ".yaml", load, names_file=False)  # a wrong key is named by its key, not the file


for _seed in CONFIG_SEEDS:
    test_config_files_end_in_a_config_or_an_input_error = example(_seed)(
        test_config_files_end_in_a_config_or_an_input_error
    )


@FUZZ
@given(value=st.text(max_size=40))
@example("betas=[0.9")
@example("optim={a: 1, a: 2}")
def test_set_overrides_end_in_a_config_or_an_input_error(value):
    from dataclasses import dataclass

    @dataclass
    class Tiny:
        epochs: int = 1
        name: str = "x"

    try:
        load_config(Tiny, None, [value])
    except InputError as exc:
        assert "\n" not in str(exc)
