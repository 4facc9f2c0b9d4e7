"""Atomic writes: special files are written through, modes follow the umask, OSErrors are one-line errors,
and `check_outputs` refuses colliding or nested outputs."""

import errno
import json
import os
import stat
import threading

import pytest

from sftscope.atomic import atomic_open, atomic_path, check_outputs, write_json
from sftscope.errors import InputError


def _mknod_char(path, major, minor):
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create a device node here ({exc})")
    return path


def test_fifo_is_written_through_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    write_json(fifo, {"a": 1})
    reader.join(5)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(got[0]) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary file left behind


def test_char_device_is_written_through_not_replaced(tmp_path):
    null = _mknod_char(tmp_path / "null", 1, 3)  # the /dev/null device, as a node in tmp
    write_json(null, {"a": 1})
    assert stat.S_ISCHR(null.stat().st_mode) and os.major(null.stat().st_rdev) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_full_disk_is_a_one_line_error(tmp_path):
    full = _mknod_char(tmp_path / "full", 1, 7)  # /dev/full: every write fails with ENOSPC
    needle = r"full: cannot write \(No space left on device\); the disk is full"
    with pytest.raises(InputError, match=needle), atomic_open(full) as handle:
        handle.write("x" * 100_000)
        handle.flush()


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_honour_the_umask(tmp_path, umask, expected):
    old = os.umask(umask)
    try:
        write_json(tmp_path / "out.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == expected


def test_replaced_file_keeps_its_mode(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    target.chmod(0o640)
    write_json(target, {"new": True})
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and json.loads(target.read_text()) == {"new": True}


def test_symlink_keeps_its_link_and_replaces_the_file(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_json(link, {"x": 1})
    assert link.is_symlink() and json.loads(real.read_text()) == {"x": 1}


def test_parent_that_is_a_file_is_named(tmp_path):
    blocker = tmp_path / "data.txt"
    blocker.write_text("x")
    for target in (blocker / "out.json", blocker / "sub" / "out.json"):
        with pytest.raises(InputError, match=r"'.*data\.txt' is a file, not a directory"):
            write_json(target, {})
    assert blocker.read_text() == "x"


def test_directory_target_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(InputError, match="is a directory; give a file name"):
        write_json(tmp_path / "d", {})


def test_block_device_is_refused(tmp_path):
    node = tmp_path / "disk"
    try:
        os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(7, 200))
    except OSError as exc:
        pytest.skip(f"cannot create a device node here ({exc})")
    with pytest.raises(InputError, match="block device"):
        write_json(node, {})


@pytest.mark.parametrize(
    ("where", "code", "needle"),
    [
        ("open", errno.EROFS, "the file system is read-only"),
        ("open", errno.EACCES, "permission denied"),
        ("replace", errno.ENOSPC, "the disk is full"),
        ("fsync", errno.EDQUOT, "quota"),
        ("replace", errno.EROFS, "read-only"),
    ],
)
def test_os_errors_are_input_errors_naming_path_and_fix(tmp_path, monkeypatch, where, code, needle):
    real = {"open": os.open, "replace": os.replace, "fsync": os.fsync}[where]

    def fail(*args, **kwargs):
        if where == "open" and not str(args[0]).endswith(".tmp"):
            return real(*args, **kwargs)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, where, fail)
    target = tmp_path / "out.json"
    with pytest.raises(InputError, match=needle) as info:
        write_json(target, {"a": 1})
    assert str(target) in str(info.value) and "\n" not in str(info.value)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temporary file left behind


def test_pyarrow_style_error_without_errno_is_mapped(tmp_path):
    with pytest.raises(InputError, match="the disk is full"), atomic_path(tmp_path / "t.parquet"):
        raise OSError("[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device")


def test_error_about_another_file_is_not_relabelled(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "out.txt"):
        (tmp_path / "missing-input.txt").read_text()


def test_check_outputs_refuses_same_file_and_nesting(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("{}\n")
    out = tmp_path / "kept.jsonl"
    with pytest.raises(InputError, match=r"--rejected .* and --out .* are the same file"):
        check_outputs({"input": data}, {"--rejected": out, "--out": out})
    with pytest.raises(InputError, match="inside the input directory"):
        check_outputs({"input": data}, {"--out": data / "kept.jsonl"})
    with pytest.raises(InputError, match="would overwrite the input"):
        check_outputs({"input": data / "train.jsonl"}, {"--out": data / "x" / ".." / "train.jsonl"})
    with pytest.raises(InputError, match="contains the input"):
        check_outputs({"input": data / "train.jsonl"}, {"--report": data})
    with pytest.raises(InputError, match="nest"):
        check_outputs({}, {"--out": tmp_path / "r", "--report": tmp_path / "r" / "x.json"})


def test_check_outputs_sees_through_links(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("{}\n")
    (tmp_path / "alias.jsonl").symlink_to(src)
    os.link(src, tmp_path / "hard.jsonl")
    for alias in ("alias.jsonl", "hard.jsonl"):
        with pytest.raises(InputError, match="would overwrite the input"):
            check_outputs([src], {"--out": tmp_path / alias})


def test_check_outputs_allows_distinct_paths_devices_and_hub_ids(tmp_path):
    check_outputs(
        {"input": "owner/some-dataset", "other": None},
        {"--out": tmp_path / "a.jsonl", "--rejected": tmp_path / "b.jsonl", "--report": None},
    )
    null = _mknod_char(tmp_path / "null", 1, 3)
    check_outputs({"input": tmp_path / "in.jsonl"}, {"--rejected": null, "--report": null})


def test_dev_stdout_redirected_to_a_file_is_written_through(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out.txt"
    out.write_text("")
    inode = out.stat().st_ino
    code = (
        "from sftscope.atomic import write_json; print('before', flush=True); write_json('/dev/stdout', [1]); "
        "print('after')"
    )
    with open(out, "w") as handle:
        subprocess.run([sys.executable, "-c", code], stdout=handle, check=True)
    # The redirect's own file, written in place and appended to (a rename would swap in a new inode the shell
    # never sees; truncating would cut what the process printed before).
    assert out.stat().st_ino == inode and out.read_text().split() == ["before", "[", "1", "]", "after"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
