"""Readers/writers on fixtures with the exact schema of the released Math-CoT-20k parquet."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sftscope.data.io import check_writable, parse_column_map, read_rows, write_rows
from sftscope.errors import InputError
from sftscope.records import SFTRow


def mathcot_records(n: int = 3) -> list[dict]:
    """Math-CoT-20k's columns: message (list of {role, content}), response, answer, advantage."""
    return [
        {
            "message": [
                {
                    "role": "user",
                    "content": f"What is {i} + {i}? Please reason step by step, and put "
                    "your final answer within \\boxed{}.",
                }
            ],
            "response": f"<think>\nI need {i} + {i}. Wait, let me check: {i} + {i} = {2 * i}.\n</think>\n"
            f"Adding gives {2 * i}.\n\n\\boxed{{{2 * i}}}",
            "answer": str(2 * i),
            "advantage": 1.0,
        }
        for i in range(n)
    ]


def write_mathcot(path, n: int = 3):
    pq.write_table(pa.Table.from_pylist(mathcot_records(n)), path)
    return path


def test_reads_paper_schema_parquet(tmp_path):
    rows = read_rows(write_mathcot(tmp_path / "train.parquet"))
    assert len(rows) == 3
    assert rows[1].messages[0]["role"] == "user" and rows[1].answer == "2" and rows[1].weight == 1.0
    assert rows[1].response.startswith("<think>") and rows[1].extra == {}


def test_paper_logprob_entropy_columns_and_length_check(tmp_path):
    record = {**mathcot_records(1)[0], "logprob": [-0.1, -0.2], "entropy": [0.5, 0.4], "advantage": 0.5}
    path = tmp_path / "pool.jsonl"
    path.write_text(json.dumps(record) + "\n")
    row = read_rows(path)[0]
    assert row.logprobs == [-0.1, -0.2] and row.entropies == [0.5, 0.4] and row.weight == 0.5
    path.write_text(json.dumps({**record, "entropy": [0.5]}) + "\n")
    with pytest.raises(InputError, match=r"row 0: field 'logprobs'"):
        read_rows(path)


def test_round_trip_keeps_extras_in_both_formats(tmp_path):
    rows = [
        SFTRow(
            [{"role": "user", "content": "q"}],
            "r",
            "1",
            2.0,
            "a",
            "s",
            None,
            None,
            {"numbers": [1, 2], "target": 3, "search": {"nodes": 4, "backtracks": 1}},
        ),
        SFTRow([{"role": "user", "content": "q2"}], "r2", None, extra={"numbers": [5], "target": 5}),
    ]
    for name in ("out.parquet", "out.jsonl"):
        back = read_rows(write_rows(rows, tmp_path / name))
        assert back[0].extra["numbers"] == [1, 2] and back[0].extra["search"]["backtracks"] == 1
        assert back[0].weight == 2.0 and back[1].answer is None and back[1].extra["target"] == 5


def test_column_map(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(
        json.dumps({"prompt": [{"role": "user", "content": "q"}], "completion": "c", "gold": 4}) + "\n"
    )
    with pytest.raises(InputError, match="field 'messages': missing column"):
        read_rows(path)
    row = read_rows(
        path, column_map=parse_column_map(["prompt=messages", "completion=response", "gold=answer"])
    )[0]
    assert row.response == "c" and row.answer == "4"
    with pytest.raises(InputError):
        parse_column_map(["nonsense"])


def test_datasets_paths_work_offline(tmp_path):
    datasets = pytest.importorskip("datasets")
    repo = tmp_path / "repo" / "data"
    repo.mkdir(parents=True)
    write_mathcot(repo / "train-00000-of-00001.parquet", n=4)
    # the hub-id code path (datasets.load_dataset) on a local dir with a hub-like layout
    rows = read_rows(f"hf:{tmp_path / 'repo'}")
    assert len(rows) == 4 and rows[3].answer == "6"
    # a plain directory of parquet shards is read without datasets
    assert [r.answer for r in read_rows(tmp_path / "repo")] == [r.answer for r in rows]
    # a save_to_disk directory
    loaded = datasets.load_dataset(
        "parquet", data_files=str(repo / "train-00000-of-00001.parquet"), split="train"
    )
    loaded.save_to_disk(str(tmp_path / "saved"))
    assert len(read_rows(tmp_path / "saved")) == 4


def _row(**extra) -> SFTRow:
    return SFTRow([{"role": "user", "content": "q"}], "r", "1", extra=extra)


def test_nan_in_an_extra_column_is_never_written_as_invalid_json(tmp_path):
    rows = [_row(score=0.5), _row(score=float("nan"))]
    for name in ("out.jsonl", "out.json"):
        with pytest.raises(
            InputError, match=r"row 1: field 'score': NaN or Infinity cannot be written as JSON"
        ):
            write_rows(rows, tmp_path / name)
        assert not (tmp_path / name).exists()
    back = read_rows(write_rows(rows, tmp_path / "out.parquet"))  # Parquet keeps NaN
    assert back[1].extra["score"] != back[1].extra["score"]
    with pytest.raises(InputError, match=r"row 1: field 'nested\[0\].x': NaN"):
        check_writable([_row(), _row(nested=[{"x": float("-inf")}])], tmp_path / "o.jsonl")
    check_writable(rows, tmp_path / "o.parquet")


def test_integer_beyond_int64_is_an_error_not_a_traceback(tmp_path):
    rows = [_row(big=1), _row(big=2**64)]
    for name in ("out.parquet", "out.jsonl"):  # Parquet cannot hold it; the reader would refuse it in JSON
        with pytest.raises(InputError, match=r"row 1: field 'big': an integer beyond 64 bits"):
            write_rows(rows, tmp_path / name)
        with pytest.raises(InputError, match=r"row 1: field 'big'"):
            check_writable(rows, tmp_path / name)
        assert not (tmp_path / name).exists()


def test_write_rows_builds_each_record_once(tmp_path, monkeypatch):
    calls = []
    to_dict = SFTRow.to_dict
    monkeypatch.setattr(SFTRow, "to_dict", lambda self: calls.append(self) or to_dict(self))
    rows = [_row(big=1), _row(big=2)]
    for name in ("out.parquet", "out.jsonl", "out.json"):
        calls.clear()
        write_rows(rows, tmp_path / name)
        assert len(calls) == len(rows), name  # the Parquet check reads the records the writer built


def test_json_output_is_a_json_array(tmp_path):
    rows = [_row(n=1), _row(n=2)]
    path = write_rows(rows, tmp_path / "out.json")
    assert [r["extra"] if "extra" in r else r["n"] for r in json.loads(path.read_text())] == [1, 2]
    assert [r.extra["n"] for r in read_rows(path)] == [1, 2]


def test_non_finite_answer_and_bad_messages_string_name_the_row(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(
        json.dumps({"messages": [{"role": "user", "content": "q"}], "response": "r", "answer": None}) + "\n"
    )
    path.write_text(path.read_text().replace("null", "NaN"))
    with pytest.raises(InputError, match=r"row 0: field 'answer': nan is not an answer"):
        read_rows(path)
    path.write_text(json.dumps({"messages": '[{"role": "user", "role": "x"}]', "response": "r"}) + "\n")
    with pytest.raises(InputError, match=r"row 0: field 'messages': item 0: key 'role' appears twice"):
        read_rows(path)


def test_unknown_output_type_is_refused_before_writing(tmp_path):
    with pytest.raises(InputError, match=r"unknown output type '\.txt'"):
        write_rows([_row()], tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()


def test_an_empty_object_in_an_extra_column_is_written_to_parquet_as_json_text(tmp_path):
    """Parquet has no type for a struct without fields; such a column is kept as JSON text, never a crash."""
    import json

    from sftscope.data.io import read_rows, write_rows

    src = tmp_path / "rows.jsonl"
    row = {
        "messages": [{"role": "user", "content": "q"}],
        "response": "r",
        "x": {},
        "y": [{}],
        "z": {"a": {}},
    }
    src.write_text(json.dumps(row) + "\n")
    out = write_rows(read_rows(src), tmp_path / "rows.parquet")
    assert read_rows(out)[0].extra == {"x": "{}", "y": "[{}]", "z": '{"a": {}}'}
