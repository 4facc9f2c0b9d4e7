"""A `--data-path` folder resolves to the task's own files (never a mix of splits or configs), or stops with an
error naming what it found."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sftscope.errors import InputError
from sftscope.eval.tasks import TASKS

GPQA_COLUMNS = ("Record ID", "Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2")


def _gpqa_csv(path, prefix: str, n: int) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*GPQA_COLUMNS, "Incorrect Answer 3"])
        writer.writeheader()
        for i in range(n):
            writer.writerow({c: f"{prefix}{i}" for c in writer.fieldnames})


def test_gpqa_folder_reads_the_diamond_file_only(tmp_path):
    for name, n in (("gpqa_main.csv", 5), ("gpqa_extended.csv", 7), ("gpqa_diamond.csv", 3)):
        _gpqa_csv(tmp_path / name, name.split("_")[1][0], n)
    (tmp_path / "license.txt").write_text("terms")
    examples = TASKS["gpqa_diamond"].load(data_path=str(tmp_path))
    assert len(examples) == 3 and all(ex.id.startswith("d") for ex in examples)


def test_gpqa_folder_without_or_with_two_diamond_files_is_an_error(tmp_path):
    _gpqa_csv(tmp_path / "gpqa_main.csv", "m", 2)
    _gpqa_csv(tmp_path / "gpqa_extended.csv", "e", 2)
    with pytest.raises(InputError, match=r"no file matches '\*diamond\*'.*gpqa_extended.csv, gpqa_main.csv"):
        TASKS["gpqa_diamond"].load(data_path=str(tmp_path))
    _gpqa_csv(tmp_path / "gpqa_diamond.csv", "d", 2)
    _gpqa_csv(tmp_path / "old_gpqa_diamond.csv", "o", 2)
    with pytest.raises(InputError, match="several files match"):
        TASKS["gpqa_diamond"].load(data_path=str(tmp_path))


def _mmlu(path, prefix: str, n: int) -> None:
    rows = [
        {
            "question_id": f"{prefix}{i}",
            "question": "q",
            "options": ["a", "b"],
            "answer": "A",
            "category": "math",
        }
        for i in range(n)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_mmlu_pro_folder_reads_test_and_never_validation(tmp_path):
    _mmlu(tmp_path / "data" / "test-00000-of-00001.parquet", "t", 6)
    _mmlu(tmp_path / "data" / "validation-00000-of-00001.parquet", "v", 4)
    examples = TASKS["mmlu_pro"].load(data_path=str(tmp_path))
    assert sorted(ex.id for ex in examples) == [f"t{i}" for i in range(6)]
    only_validation = tmp_path / "val"
    _mmlu(only_validation / "validation-00000-of-00001.parquet", "v", 4)
    _mmlu(only_validation / "dev.parquet", "x", 1)
    with pytest.raises(
        InputError, match=r"test split.*found: dev\.parquet, validation-00000-of-00001\.parquet"
    ):
        TASKS["mmlu_pro"].load(data_path=str(only_validation))


def test_mmlu_pro_folder_accepts_the_references_1k_file(tmp_path):
    _mmlu(tmp_path / "1k_test.parquet", "t", 3)
    _mmlu(tmp_path / "1k_validation.parquet", "v", 2)
    assert sorted(ex.id for ex in TASKS["mmlu_pro"].load(data_path=str(tmp_path))) == ["t0", "t1", "t2"]


def _lcb_rows(prefix: str, n: int) -> str:
    test = json.dumps([{"input": "1\n", "output": "1\n", "testtype": "stdin"}])
    rows = [
        {
            "question_id": f"{prefix}{i}",
            "question_content": "echo",
            "starter_code": "",
            "public_test_cases": test,
            "private_test_cases": test,
            "metadata": "{}",
        }
        for i in range(n)
    ]
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_livecodebench_folder_reads_release_v2_only(tmp_path):
    for name, n in (("test.jsonl", 3), ("test2.jsonl", 2), ("test3.jsonl", 4), ("test6.jsonl", 1)):
        (tmp_path / name).write_text(_lcb_rows(name.split(".")[0] + "-", n))
    examples = TASKS["livecodebench"].load(data_path=str(tmp_path))
    assert [ex.id for ex in examples] == ["test-0", "test-1", "test-2", "test2-0", "test2-1"]
    (tmp_path / "test2.jsonl").unlink()
    with pytest.raises(
        InputError, match=r"release_v2.*'test2.jsonl.*found: test.jsonl, test3.jsonl, test6.jsonl"
    ):
        TASKS["livecodebench"].load(data_path=str(tmp_path))


def test_single_file_task_refuses_a_folder_of_several_files(tmp_path):
    row = {"problem": "p", "answer": "1", "unique_id": "a"}
    (tmp_path / "test.jsonl").write_text(json.dumps(row) + "\n")
    assert len(TASKS["math500"].load(data_path=str(tmp_path))) == 1  # one file: read as that file
    (tmp_path / "train.jsonl").write_text(json.dumps({**row, "unique_id": "b"}) + "\n")
    with pytest.raises(InputError, match=r"holds 2 data files.*never mixes files.*--data-path math500=FILE"):
        TASKS["math500"].load(data_path=str(tmp_path))


def test_hidden_folders_are_not_data(tmp_path):
    row = {"problem": "p", "answer": "1", "unique_id": "a"}
    (tmp_path / "test.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "stale.jsonl").write_text(json.dumps(row) + "\n")
    assert len(TASKS["math500"].load(data_path=str(tmp_path))) == 1


def test_known_sizes_are_recorded():
    sizes = {name: TASKS[name].size for name in TASKS}
    expected = {
        "math500": 500,
        "aime24": 30,
        "aime25": 30,
        "gpqa_diamond": 198,
        "livecodebench": 511,
        "ifeval": 541,
        "hexphi": 330,
        "alpacaeval": 805,
        "truthfulqa": 817,
        "halueval": 30000,
    }
    assert {k: sizes[k] for k in expected} == expected
