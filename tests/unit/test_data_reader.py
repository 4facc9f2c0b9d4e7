"""The one reader (`sftscope.data.reader`): formats, shard folders, and a one-line InputError for every
malformed input, for SFT rows and benchmark files alike."""

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sftscope.data import reader
from sftscope.data.io import read_rows
from sftscope.data.reader import read_records
from sftscope.errors import InputError
from sftscope.eval import datasource

ROW = {"messages": [{"role": "user", "content": "q"}], "response": "r \\boxed{1}", "answer": "1"}


def line(record: dict) -> str:
    return json.dumps(record) + "\n"


# name -> (file name, bytes, substrings the one-line error must hold)
BAD_FILES = {
    "invalid_utf8": (
        "a.jsonl",
        line(ROW).encode() + b'{"response": "\xff"}\n',
        ["line 2, column 15", "UTF-8"],
    ),
    "utf16": ("a.jsonl", line(ROW).encode("utf-16"), ["UTF-16 text, not UTF-8"]),
    "deep": ("a.jsonl", ("[" * 100_000 + "]" * 100_000 + "\n").encode(), ["line 1", "nested too deeply"]),
    "over_4300_digits": (
        "a.jsonl",
        line(ROW).replace('"1"}', "1" * 5000 + "}").encode(),
        ["line 1", "field 'answer'", "5000 digits", "64 bits"],
    ),
    "over_int64": (
        "a.jsonl",
        line({**ROW, "numbers": [1, 2**64]}).encode(),
        ["field 'numbers[1]'", "18446744073709551616", "64 bits"],
    ),
    "over_int64_then_bad_syntax": (
        "a.jsonl",
        line({**ROW, "x": 2**64}).replace("}", ', "y": }').encode(),
        ["line 1", "invalid JSON"],
    ),
    "lone_surrogate": (
        "a.jsonl",
        (line(ROW) + line({**ROW, "response": "@"}).replace('"@"', '"x\\udc80"')).encode(),
        ["line 2", "field 'response'", "surrogate"],
    ),
    "duplicate_key": (
        "a.jsonl",
        b'{"messages": [{"role": "user", "content": "q", "role": "x"}], "response": "r"}\n',
        ["line 1", "field 'messages[0]'", "key 'role' appears twice"],
    ),
    "duplicate_key_in_array": (
        "a.json",
        b'[{"response": "r"}, {"response": "r", "response": "s"}]',
        ["item 1", "key 'response' appears twice"],
    ),
    "bad_json_line": ("a.jsonl", (line(ROW) + "{not json\n").encode(), ["line 2", "invalid JSON"]),
    "jsonl_saved_as_json": (
        "a.json",
        (line(ROW) + line(ROW) + "{oops\n").encode(),
        ["line 3", "invalid JSON", "this .json file was read as JSON Lines"],
    ),
    "json_object_not_rows": ("a.json", json.dumps(ROW, indent=2).encode(), ["holds an object, not rows"]),
    "json_array_of_numbers": ("a.json", b"[1, 2]", ["item 0", "expected an object per row, got a number"]),
    "array_in_jsonl": ("a.jsonl", (json.dumps([ROW]) + "\n").encode(), ["line 1", "belongs in a .json file"]),
    "csv_duplicate_header": ("a.csv", b"a,b,a\n1,2,3\n", ["line 1", "column 'a' appears twice"]),
    "csv_extra_fields": ("a.csv", b"a,b\n1,2\n1,2,3\n", ["line 3", "3 fields but the header has 2"]),
    "csv_bad_quotes": ("a.csv", b'a,b\n1,"x"y\n', ["line 2", "not valid CSV"]),
    "unknown_suffix": ("a.txt", b"hello", ["unknown file type '.txt'"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_malformed_files_are_one_line_errors(tmp_path, case):
    name, data, needles = BAD_FILES[case]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        read_records(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    assert all(n in message for n in needles), message


def test_parquet_with_a_repeated_column_is_an_error(tmp_path):
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table([pa.array([1]), pa.array([2])], names=["x", "x"]), path)
    with pytest.raises(InputError, match="column 'x' appears twice"):
        read_records(path)


def test_fifo_is_named_and_never_opened(tmp_path):
    fifo = tmp_path / "rows.jsonl"
    os.mkfifo(fifo)  # opening it for reading would block forever without a writer
    with pytest.raises(InputError, match=r"rows\.jsonl: is a named pipe \(FIFO\)"):
        read_records(fifo)
    folder = tmp_path / "shards"
    folder.mkdir()
    os.mkfifo(folder / "train.jsonl")
    with pytest.raises(InputError, match="named pipe"):
        read_records(folder)


def test_symlink_loop_and_broken_link_are_named(tmp_path):
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(loop)
    with pytest.raises(InputError, match="symlink loop"):
        read_records(loop)
    broken = tmp_path / "broken.jsonl"
    broken.symlink_to(tmp_path / "gone.jsonl")
    with pytest.raises(InputError, match="broken symlink"):
        read_records(broken)
    folder = tmp_path / "shards"
    folder.mkdir()
    (folder / "train.jsonl").symlink_to(folder / "train.jsonl")
    with pytest.raises(InputError, match="symlink loop"):
        read_records(folder)


def test_missing_path_and_file_as_parent(tmp_path):
    with pytest.raises(InputError, match="data file not found"):
        read_records(tmp_path / "nope.jsonl")
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file, not a directory"):
        read_records(tmp_path / "f" / "x.jsonl")


def test_json_array_and_jsonl_saved_as_json_are_both_read(tmp_path):
    array = tmp_path / "a.json"
    array.write_text(json.dumps([ROW, {**ROW, "answer": "2"}], indent=2))
    lines = tmp_path / "b.json"
    lines.write_text(line(ROW) + line({**ROW, "answer": "2"}))
    single = tmp_path / "c.json"
    single.write_text(json.dumps(ROW))
    assert [r["answer"] for r in read_records(array)] == ["1", "2"]
    assert [r["answer"] for r in read_records(lines)] == ["1", "2"]
    assert read_records(single) == [ROW]


def test_text_that_python_json_and_splitlines_mishandle_is_kept(tmp_path):
    path = tmp_path / "a.jsonl"
    record = {**ROW, "response": "a\u2028b\x85c \U0001f600", "score": float("nan")}
    # a BOM, a valid surrogate pair escape, a line separator inside a string, NaN (Python writes it)
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(record).encode() + b"\n\n")
    (back,) = read_records(path)
    assert back["response"] == "a\u2028b\x85c \U0001f600" and back["score"] != back["score"]


def test_long_csv_fields_and_headerless_csv(tmp_path):
    path = tmp_path / "a.csv"
    long = "x" * 300_000  # over csv's default 128 KiB field limit
    path.write_text(f'messages,response\nq,"{long}"\nq2\n')
    rows = read_records(path)
    assert len(rows[0]["response"]) == 300_000 and rows[1] == {"messages": "q2", "response": None}
    assert read_records(path, csv_header=False)[0] == {"text": "messages"}


def _shards(tmp_path):
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    (root / ".cache" / "huggingface").mkdir(parents=True)
    (root / "data" / "train-00000-of-00002.jsonl").write_text(line({**ROW, "answer": "a"}))
    (root / "data" / "train-00001-of-00002.jsonl").write_text(line({**ROW, "answer": "b"}))
    (root / "data" / "test-00000-of-00001.jsonl").write_text(line({**ROW, "answer": "t"}))
    (root / "data" / "pretrain.jsonl").write_text(line({**ROW, "answer": "p"}))
    (root / ".cache" / "huggingface" / "train.jsonl").write_text("not json\n")
    (root / "data" / ".train.jsonl.lock").write_text("")
    (root / "data" / ".hidden.jsonl").write_text("not json\n")
    (root / "dataset_infos.json").write_text('{"default": {}}')
    return root


def test_shard_folder_skips_hidden_and_matches_split_words_exactly(tmp_path):
    root = _shards(tmp_path)
    assert [r["answer"] for r in read_records(root, split="train")] == ["a", "b"]
    assert [r["answer"] for r in read_records(root, split="test")] == ["t"]
    assert [r["answer"] for r in read_records(root)] == [
        "p",
        "t",
        "a",
        "b",
    ]  # no split: every file, path order
    with pytest.raises(InputError, match=r"no files for split 'validation' \(its files name test, train\)"):
        read_records(root, split="validation")


def test_folder_without_split_names_is_read_whole(tmp_path):
    (tmp_path / "part-1.jsonl").write_text(line({**ROW, "answer": "1"}))
    (tmp_path / "part-2.parquet").write_bytes(b"")
    pq.write_table(pa.Table.from_pylist([{**ROW, "answer": "2"}]), tmp_path / "part-2.parquet")
    assert [r.answer for r in read_rows(tmp_path, split="train")] == ["1", "2"]


def test_save_to_disk_dict_picks_the_split(tmp_path):
    datasets = pytest.importorskip("datasets")
    saved = tmp_path / "saved"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([ROW]),
            "test": datasets.Dataset.from_list([{**ROW, "answer": "t"}]),
        }
    ).save_to_disk(str(saved))
    assert read_records(saved, split="test")[0]["answer"] == "t"
    with pytest.raises(InputError, match=r"no split 'dev' \(has train, test\)"):
        read_records(saved, split="dev")


def test_benchmark_files_go_through_the_same_reader(tmp_path, monkeypatch):
    calls = []
    real = reader.read_records
    monkeypatch.setattr(reader, "read_records", lambda *a, **k: calls.append(k) or real(*a, **k))
    root = _shards(tmp_path)
    rows = datasource.read_records(root)
    assert len(rows) == 4 and calls == [{"split": None, "csv_header": True, "hub": False}]
    assert datasource.read_jsonl is reader.read_jsonl
    with pytest.raises(InputError, match="data file not found"):
        datasource.read_records("owner/not-a-local-path")  # a --data-path never goes to the hub


def test_hub_ids_only_go_to_the_hub_when_they_cannot_be_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = []
    monkeypatch.setattr(reader, "read_hub", lambda repo, split="train": seen.append((repo, split)) or [ROW])
    assert read_records("owner/name", split="test") == [ROW] and seen == [("owner/name", "test")]
    assert read_records("hf:./local") == [ROW] and seen[-1] == ("./local", "train")
    (tmp_path / "owner").mkdir()
    for local in ("owner/name", "data/x.jsonl", "./x", "a/b/c"):
        with pytest.raises(InputError, match="data file not found"):
            read_records(local)
    assert len(seen) == 2
