"""`sftscope data ...` end to end through `main([...])`: outputs, reports and one-line errors on bad input."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sftscope.cli.main import main
from sftscope.data.io import read_rows


def mathcot(i: int, answer: str | None = None, boxed: str | None = None) -> dict:
    value = 2 * i
    return {
        "message": [
            {"role": "user", "content": f"What is {i}+{i}? Put your final answer within \\boxed{{}}."}
        ],
        "response": f"<think>\nFirst, add. Wait, let me check: {i}+{i}={value}.\n</think>\nSo it is {value}.\n\n"
        f"\\boxed{{{boxed if boxed is not None else value}}}",
        "answer": answer if answer is not None else str(value),
        "advantage": 1.0,
    }


@pytest.fixture
def mathfile(tmp_path):
    records = [mathcot(i) for i in range(6)] + [mathcot(7, boxed="15"), mathcot(8, boxed="")]
    path = tmp_path / "math.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def test_countdown_is_byte_identical_and_verified(tmp_path, capsys):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert main(["data", "countdown", "--n", "2000", "--seed", "0", "--out", str(a)]) == 0
    assert main(["data", "countdown", "--n", "2000", "--seed", "0", "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    rows = read_rows(a)
    assert len({(tuple(r.extra["numbers"]), r.extra["target"]) for r in rows}) == 2000
    capsys.readouterr()
    assert main(["data", "verify", str(a), "--out", str(tmp_path / "kept.parquet")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kept"] == 2000 and report["countdown_rows"] == 2000


def test_verify_math_rows_with_report_and_rejected(mathfile, tmp_path, capsys):
    out, rej, rep = tmp_path / "kept.jsonl", tmp_path / "rej.jsonl", tmp_path / "report.json"
    before = mathfile.read_bytes()
    code = main(
        ["data", "verify", str(mathfile), "--out", str(out), "--rejected", str(rej), "--report", str(rep)]
    )
    assert code == 0 and mathfile.read_bytes() == before
    report = json.loads(rep.read_text())
    assert report["kept"] == 6 and report["rejected"] == 2
    assert report["rejected_by_reason"] == {"unparsed": 1, "wrong": 1} and report["unparsed"] == 1
    assert [r.extra["verify_reason"] for r in read_rows(rej)] == ["wrong", "unparsed"]
    assert len(read_rows(out)) == 6


def test_variants_and_convert(mathfile, tmp_path, capsys):
    nocot, ans, sub, conv = (tmp_path / f"{n}.jsonl" for n in ("nocot", "ans", "sub", "conv"))
    assert main(["data", "variant", str(mathfile), "--out", str(nocot), "--kind", "nocot"]) == 0
    assert all("<think>" not in r.response and r.response.startswith("So it is") for r in read_rows(nocot))
    assert main(["data", "variant", str(mathfile), "--out", str(ans), "--kind", "answer-only"]) == 0
    assert [r.response for r in read_rows(ans)][:2] == ["\\boxed{0}", "\\boxed{2}"]
    subset = [
        "data",
        "variant",
        str(mathfile),
        "--out",
        str(sub),
        "--kind",
        "subset",
        "--n",
        "3",
        "--seed",
        "1",
    ]
    assert main(subset) == 0
    first = [r.answer for r in read_rows(sub)]
    assert main(subset) == 0  # the same seed draws the same rows
    assert [r.answer for r in read_rows(sub)] == first and len(first) == 3
    assert main(["data", "convert", str(mathfile), "--out", str(conv)]) == 0
    record = json.loads(conv.read_text().splitlines()[0])
    assert set(record) >= {
        "messages",
        "response",
        "answer",
        "weight",
        "id",
        "source",
        "logprobs",
        "entropies",
    }
    assert "message" not in record and "advantage" not in record


def test_audit_json(mathfile, capsys):
    assert main(["data", "audit", str(mathfile), "--json", "--max-length", "20", "--verify"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 8 and report["share_with_think"] == 1.0 and report["share_verified"] == 0.75
    assert report["markers_per_1k_tokens"]["backtracking"] > 0 and report["length_unit"] == "chars"
    assert 0 < report["share_over_max_length"] <= 1
    assert main(["data", "audit", str(mathfile)]) == 0
    assert "audit" in capsys.readouterr().out


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _bad_files(tmp_path):
    good = mathcot(1)
    files = {}
    files["missing"] = tmp_path / "missing.jsonl"
    _write(files["missing"], [good, {k: v for k, v in good.items() if k != "response"}])
    files["message_not_list"] = tmp_path / "msg.jsonl"
    _write(files["message_not_list"], [good, good, {**good, "message": 5}])
    files["response_not_str"] = tmp_path / "resp.jsonl"
    _write(files["response_not_str"], [{**good, "response": ["a"]}])
    files["empty"] = tmp_path / "empty.jsonl"
    files["empty"].write_text("")
    files["corrupt"] = tmp_path / "corrupt.parquet"
    files["corrupt"].write_bytes(b"PAR1 this is not parquet")
    files["logprob_len"] = tmp_path / "lp.jsonl"
    _write(files["logprob_len"], [good, {**good, "logprob": [-1.0, -2.0], "entropy": [0.1]}])
    return files


EXPECTED = {
    "missing": ("row 1", "'response'"),
    "message_not_list": ("row 2", "'messages'"),
    "response_not_str": ("row 0", "'response'"),
    "empty": ("no rows",),
    "corrupt": ("Parquet",),
    "logprob_len": ("row 1", "'logprobs'"),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
@pytest.mark.parametrize("verb", ["verify", "variant", "audit", "convert"])
def test_bad_input_is_one_line_error(tmp_path, capsys, case, verb):
    path = _bad_files(tmp_path)[case]
    before = path.read_bytes()
    out = tmp_path / "out.jsonl"
    argv = ["data", verb, str(path)]
    if verb != "audit":
        argv += ["--out", str(out)]
    if verb == "variant":
        argv += ["--kind", "nocot"]
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and str(path) in err[0]
    assert all(part in err[0] for part in EXPECTED[case]), err[0]
    assert path.read_bytes() == before and not out.exists()
    assert "Traceback" not in err[0]


def test_missing_file_and_output_over_input(mathfile, tmp_path, capsys):
    assert main(["data", "convert", str(tmp_path / "nope.parquet"), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    before = mathfile.read_bytes()
    assert main(["data", "convert", str(mathfile), "--out", str(mathfile)]) == 2
    assert "overwrite the input" in capsys.readouterr().err and mathfile.read_bytes() == before


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "verify", "{math}", "--out", "{tmp}/o.jsonl", "--workers", "0"],
        ["data", "audit", "{math}", "--tokenizer", "{tmp}/no-such-tokenizer"],
        ["data", "convert", "{tmp}/sub/x.parquet", "--out", "{tmp}/o.jsonl"],
        ["data", "convert", "nobody/no-such-dataset", "--out", "{tmp}/o.jsonl"],
        ["data", "countdown", "--n", "0", "--out", "{tmp}/o.jsonl"],
        ["data", "variant", "{math}", "--out", "{tmp}/o.jsonl", "--kind", "subset"],
    ],
)
def test_bad_options_are_one_line_errors(mathfile, tmp_path, capsys, argv):
    argv = [a.format(math=mathfile, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not (tmp_path / "o.jsonl").exists()


def test_countdown_help_states_the_rules(capsys):
    with pytest.raises(SystemExit):
        main(["data", "countdown", "--help"])
    text = capsys.readouterr().out
    assert "positive integer" in text and "at most once" in text and "--max-trace-steps" in text


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("flag", ["--rejected", "--report"])
def test_verify_refuses_an_output_named_twice_and_keeps_the_kept_rows(mathfile, tmp_path, capsys, flag):
    out = tmp_path / "kept.jsonl"
    out.write_text("precious\n")
    assert main(["data", "verify", str(mathfile), "--out", str(out), flag, str(out)]) == 2
    assert "are the same file" in _one_line_error(capsys) and out.read_text() == "precious\n"


def test_output_inside_the_input_folder_is_refused(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    _write(folder / "train.jsonl", [mathcot(i) for i in range(3)])
    for verb in (["convert"], ["variant", "--kind", "nocot"], ["verify"]):
        argv = ["data", verb[0], str(folder), "--out", str(folder / "out.jsonl"), *verb[1:]]
        assert main(argv) == 2
        assert "inside the input directory" in _one_line_error(capsys)
    assert sorted(p.name for p in folder.iterdir()) == ["train.jsonl"]
    assert main(["data", "convert", str(folder), "--out", str(tmp_path / "out.jsonl")]) == 0
    assert main(["data", "convert", str(folder), "--out", str(tmp_path / "out.jsonl")]) == 0
    assert len(read_rows(tmp_path / "out.jsonl")) == 3  # a rerun reads 3 rows, not 6


def test_report_to_a_device_writes_through_it(mathfile, tmp_path, capsys):
    import os
    import stat

    null = tmp_path / "null"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip(f"cannot create a device node here ({exc})")
    argv = ["data", "verify", str(mathfile), "--out", str(tmp_path / "k.jsonl"), "--report", str(null)]
    assert main([*argv, "--rejected", str(null)]) == 0
    assert stat.S_ISCHR(null.stat().st_mode)  # still the device, not a 0600 regular file


def test_unwritable_output_is_a_one_line_error(mathfile, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["data", "convert", str(mathfile), "--out", str(blocker / "out.jsonl")]) == 2
    assert "is a file, not a directory" in _one_line_error(capsys)
    import errno
    import os

    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    assert main(["data", "convert", str(mathfile), "--out", str(tmp_path / "o.parquet")]) == 2
    assert "the file system is read-only" in _one_line_error(capsys)


COUNTDOWN = {"numbers": [3, 5], "response": "3+5=8 \\boxed{3+5}", "answer": "8"}


def test_rejected_countdown_rows_carry_the_code_and_the_broken_rule(tmp_path, capsys):
    path, rejected = tmp_path / "cd.jsonl", tmp_path / "rejected.parquet"
    reused, unboxed = {"response": "\\boxed{5+3-5+5}"}, {"response": "eight\nis my answer"}
    _write(path, [{**mathcot(1), **COUNTDOWN, "target": 8, **change} for change in ({}, reused, unboxed)])
    argv = ["data", "verify", str(path), "--out", str(tmp_path / "k.parquet"), "--rejected", str(rejected)]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rejected_by_reason"] == {"invalid_answer": 1, "unparsed": 1} and report["unparsed"] == 1
    codes = [(r.extra["verify_reason"], r.extra["verify_why"]) for r in read_rows(rejected)]
    assert codes == [("invalid_answer", "number_reused"), ("unparsed", "no_boxed")]


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        ("three", "field 'target': expected an integer, got 'three'"),
        (None, None),
        (8.5, "got 8.5"),
        ("²", "got '²'"),  # str.isdigit() is true for it, int() refuses it
        ("+-5", "got '+-5'"),
    ],
)
def test_countdown_target_that_is_not_an_integer_is_an_error(tmp_path, capsys, target, needle):
    path = tmp_path / "cd.jsonl"
    rows = [{**mathcot(1), **COUNTDOWN, "target": 8}, {**mathcot(1), **COUNTDOWN, "target": target}]
    _write(path, rows)
    code = main(["data", "verify", str(path), "--out", str(tmp_path / "k.parquet"), "--workers", "1"])
    if needle is None:  # no target: not a Countdown row, verified as math
        assert code == 0
        return
    assert code == 2
    err = _one_line_error(capsys)
    assert str(path) in err and "row 1" in err and needle in err


@pytest.mark.parametrize(
    "change",
    [{"target": float("nan")}, {"target": float("inf")}, {"numbers": [3, float("nan")]}, {"numbers": "3,5"}],
)
def test_countdown_nan_and_inf_targets_and_numbers_are_errors(tmp_path, capsys, change):
    path = tmp_path / "cd.jsonl"
    _write(path, [{**mathcot(1), **COUNTDOWN, "target": 8, **change}])  # json writes NaN/Infinity tokens
    assert main(["data", "verify", str(path), "--out", str(tmp_path / "k.parquet")]) == 2
    err = _one_line_error(capsys)
    assert f"row 0: field '{next(iter(change))}'" in err and str(path) in err, err


def test_nan_in_an_extra_column_fails_before_verifying(tmp_path, capsys, monkeypatch):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({**mathcot(1), "score": 1.0}).replace("1.0}", "NaN}") + "\n")
    import sftscope.data.verification as verification

    monkeypatch.setattr(verification, "verify_rows", lambda *a, **k: pytest.fail("verified before checking"))
    assert main(["data", "verify", str(path), "--out", str(tmp_path / "k.jsonl")]) == 2
    assert "field 'score': NaN or Infinity cannot be written as JSON" in _one_line_error(capsys)
    monkeypatch.undo()
    assert main(["data", "verify", str(path), "--out", str(tmp_path / "k.parquet"), "--workers", "1"]) == 0


@pytest.mark.parametrize("timeout", ["nan", "inf", "-1", "0"])
def test_verify_timeout_must_be_a_finite_positive_number(mathfile, tmp_path, capsys, timeout):
    argv = ["data", "verify", str(mathfile), "--out", str(tmp_path / "k.jsonl"), "--timeout", timeout]
    assert main(argv) == 2
    assert "--timeout a finite number > 0" in _one_line_error(capsys)


def test_countdown_with_a_tiny_space_fails_at_once_with_its_size(tmp_path, capsys):
    import time

    start = time.perf_counter()
    argv = ["data", "countdown", "--k-min", "2", "--k-max", "2", "--max-number", "3", "--max-target", "10"]
    assert main([*argv, "--n", "100000", "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "only up to 72 distinct train problems exist" in _one_line_error(capsys)
    assert main([*argv, "--n", "50", "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "only 15 distinct train problems exist" in _one_line_error(capsys)
    assert time.perf_counter() - start < 5 and not (tmp_path / "o.jsonl").exists()
