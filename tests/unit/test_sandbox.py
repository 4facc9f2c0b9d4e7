"""The sandbox contains hostile programs: each test runs one and checks that the machine is unharmed.

Every hostile program runs in both modes (bwrap when installed, and the fallback), with tight limits.
"""

from __future__ import annotations

import os
import shutil
import socket
import time

import pytest

from sftscope.verify import sandbox, uids
from sftscope.verify.code import score_humaneval
from sftscope.verify.sandbox import SandboxLimits, run_python, sandbox_mode

TIGHT = SandboxLimits(wall_s=2.0, cpu_s=1, memory_bytes=1024**3, file_bytes=1024**2, nproc=32)
HAVE_BWRAP = shutil.which("bwrap") is not None and sandbox._bwrap_works()
MODES = [
    pytest.param("bwrap", marks=pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap missing or unusable")),
    "fallback",
]


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


def _needs_uid_separation(mode: str) -> None:
    # Without root the fallback runs programs as the caller's own uid, which can touch the caller's files,
    # read its /proc entries and signal it. Only bwrap (or root, which switches uid) separates them.
    if mode == "fallback" and os.geteuid() != 0:
        pytest.skip("fallback mode without root runs as the caller's uid (documented limitation)")


def _fallback_network_isolated() -> bool:
    probe = "print(sorted(line.split(':')[0].strip() for line in open('/proc/net/dev').readlines()[2:]))"
    return run_python(probe, limits=TIGHT, mode="fallback").stdout.strip() == "['lo']"


def _uid_processes(uid: int) -> list[int]:
    deadline = time.monotonic() + 2.0
    while (live := uids.live_processes(uid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return live


def test_mode_is_reported_and_bwrap_preferred(monkeypatch):
    assert sandbox_mode() in ("bwrap", "fallback")
    if HAVE_BWRAP:
        assert sandbox_mode() == "bwrap"
    monkeypatch.setenv("SFTSCOPE_SANDBOX", "fallback")
    sandbox._bwrap_works.cache_clear()
    try:
        assert sandbox_mode() == "fallback"
    finally:
        monkeypatch.delenv("SFTSCOPE_SANDBOX")
        sandbox._bwrap_works.cache_clear()


def test_ordinary_program_runs_with_stdin(mode):
    result = run_python("print(input()[::-1])", stdin="abc\n", limits=TIGHT, mode=mode)
    assert result.status == "ok" and result.stdout == "cba\n" and result.mode == mode


def test_infinite_loop_times_out(mode):
    started = time.monotonic()
    result = run_python("while True:\n    pass", limits=TIGHT, mode=mode)
    assert result.status == "timeout"
    assert time.monotonic() - started < TIGHT.wall_s + 2


def test_sleeping_program_is_killed_at_the_wall_clock(mode):
    started = time.monotonic()
    result = run_python("import time\ntime.sleep(60)", limits=TIGHT, mode=mode)
    assert result.status == "timeout"
    assert time.monotonic() - started < TIGHT.wall_s + 2


@pytest.mark.skipif(os.geteuid() != 0, reason="a throw-away uid needs root")
def test_fork_bomb_is_contained_and_reaped(mode, monkeypatch):
    uid = uids.SANDBOX_UID_BASE + 424242
    monkeypatch.setattr(sandbox, "fresh_uid", lambda: uid)
    bomb = "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n"
    result = run_python(bomb, limits=TIGHT, mode=mode)
    assert result.status in ("timeout", "error")
    assert _uid_processes(uid) == []  # nothing left running
    assert run_python("print(1)", limits=TIGHT, mode=mode).ok  # and the machine still works


def test_huge_allocation_fails(mode):
    result = run_python("block = bytearray(50 * 1024**3)\nprint('allocated')", limits=TIGHT, mode=mode)
    assert result.status == "error" and "MemoryError" in result.stderr and "allocated" not in result.stdout


def test_writing_outside_the_work_dir_fails(mode, tmp_path):
    _needs_uid_separation(mode)
    target = tmp_path / "outside.txt"
    result = run_python(f"open({str(target)!r}, 'w').write('pwned')", limits=TIGHT, mode=mode)
    assert result.status == "error" and not target.exists()


def test_deleting_the_callers_files_fails(mode, tmp_path, monkeypatch):
    _needs_uid_separation(mode)
    sentinel_dir = tmp_path / "keep"
    sentinel_dir.mkdir()
    (sentinel_dir / "sentinel.txt").write_text("still here")
    monkeypatch.chdir(tmp_path)
    program = (
        "import os, shutil\n"
        f"for p in ({str(sentinel_dir / 'sentinel.txt')!r},):\n    try:\n        os.remove(p)\n"
        "    except OSError:\n        pass\n"
        f"shutil.rmtree({str(sentinel_dir)!r})\n"
    )
    result = run_python(program, limits=TIGHT, mode=mode)
    assert result.status == "error"
    assert (sentinel_dir / "sentinel.txt").read_text() == "still here"


def test_network_is_unreachable(mode):
    if mode == "fallback" and not _fallback_network_isolated():
        pytest.skip("no network namespace permitted here; describe_sandbox() says NETWORK REACHABLE")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    try:
        program = (
            f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('connected')"
        )
        result = run_python(program, limits=TIGHT, mode=mode)
        assert result.status == "error" and "connected" not in result.stdout
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()


def test_environment_secrets_are_not_inherited(mode, monkeypatch):
    _needs_uid_separation(mode)
    monkeypatch.setenv("SFTSCOPE_FAKE_SECRET", "hunter2-not-a-real-key")
    program = (
        "import os\nprint(dict(os.environ))\n"
        "for pid in (os.getppid(), 1):\n    try:\n"
        "        print(open(f'/proc/{pid}/environ', 'rb').read())\n    except OSError as exc:\n        print(exc)\n"
    )
    result = run_python(program, limits=TIGHT, mode=mode)
    assert result.status == "ok"
    assert "hunter2" not in result.stdout and "SFTSCOPE_FAKE_SECRET" not in result.stdout


def test_killing_the_parent_fails(mode):
    _needs_uid_separation(mode)
    me = os.getpid()
    program = (
        "import os, signal\n"
        f"for pid in ({me}, os.getppid()):\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError as exc:\n        print('refused', exc)\n"
        f"os.killpg(os.getpgid({me}), signal.SIGKILL)\n"
    )
    run_python(program, limits=TIGHT, mode=mode)
    assert os.getpid() == me  # we are still alive to check


def test_a_gigabyte_print_is_cut_off(mode):
    started = time.monotonic()
    program = "import sys\nchunk = 'x' * 1024**2\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n"
    result = run_python(program, limits=TIGHT, mode=mode)
    assert result.status == "output-limit"
    assert len(result.stdout) <= TIGHT.output_bytes
    assert time.monotonic() - started < TIGHT.wall_s


HOSTILE = {
    "loop": "    while True:\n        pass\n",
    "alloc": "    x = bytearray(50 * 1024**3)\n    return a + b\n",
    "write": "    open('/etc/sftscope-pwned', 'w').write('x')\n    return a + b\n",
    "network": "    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=1)\n    return a + b\n",
    "print": "    import sys\n    while True:\n        sys.stdout.write('x' * 1024**2)\n",
    "early-exit": "    import os\n    os._exit(0)\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_humaneval_completions_are_never_correct(name):
    if name == "network" and sandbox_mode() == "fallback" and not _fallback_network_isolated():
        pytest.skip("no network namespace permitted here")
    problem = {
        "prompt": "def add(a, b):\n    '''Add two numbers.'''\n",
        "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
        "entry_point": "add",
    }
    verdict = score_humaneval(problem, HOSTILE[name], timeout_s=2.0)
    assert not verdict.correct
    assert verdict.reason in ("wrong", "timeout", "output-limit")
    assert score_humaneval(problem, "    return a + b\n", timeout_s=2.0).correct


def test_description_names_the_mode_and_the_network_state():
    text = sandbox.describe_sandbox()
    assert text.startswith(sandbox_mode())
    if os.geteuid() == 0:
        assert "no network" in text


def test_closing_the_output_does_not_escape_the_wall_clock(mode):
    program = "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(60)\n"
    started = time.monotonic()
    assert run_python(program, limits=TIGHT, mode=mode).status == "timeout"
    assert time.monotonic() - started < TIGHT.wall_s + 2


def test_large_stdin_is_fed_completely(mode):
    data = "1\n" * 2_000_000  # 4 MB, far beyond a pipe buffer
    result = run_python("import sys\nprint(sum(map(int, sys.stdin)))", stdin=data, limits=TIGHT, mode=mode)
    assert result.status == "ok" and result.stdout.strip() == "2000000"


@pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap missing or unusable")
def test_filling_the_disk_stops_at_the_private_tmp_size():
    program = "for i in range(64):\n    open(f'f{i}', 'wb').write(b'x' * 1024**2)\nprint('wrote 64 MB')"
    result = run_python(program, limits=SandboxLimits(wall_s=5.0, file_bytes=4 * 1024**2), mode="bwrap")
    assert result.status == "error" and "No space left" in result.stderr
