"""The sandbox's API: which mode runs and why, limits, the report channel, the view and the seccomp filter.

The attacks themselves (writes outside, sockets, fork bombs, daemons, forged passes, ...) are the
hostile-code corpus in tests/hostile/, run in every mode this machine has.
"""

from __future__ import annotations

import ast
import math
import os
import time

import pytest

from sftscope.errors import InputError
from sftscope.verify import rootfs, sandbox, seccomp
from sftscope.verify.sandbox import (
    SandboxLimits,
    SandboxRefused,
    require_sandbox,
    run_python,
    sandbox_mode,
    sandbox_status,
)

TIGHT = SandboxLimits(wall_s=2.0, cpu_s=1, memory_bytes=1024**3, file_bytes=1024**2, nproc=32)


def _available(mode: str) -> str | None:
    return sandbox._probe(mode)


MODES = [
    pytest.param(m, marks=pytest.mark.skipif(_available(m) is not None, reason=f"{m}: {_available(m)}"))
    for m in ("bwrap", "fallback-root")
]


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


@pytest.fixture
def probes(monkeypatch):
    """Pretend bwrap and the root fallback work or not: {mode: None (works) or the reason}."""
    answers: dict[str, str | None] = {}
    monkeypatch.setattr(sandbox, "_probe", lambda mode: answers[mode])
    monkeypatch.delenv("SFTSCOPE_SANDBOX", raising=False)
    return answers


def test_bwrap_is_preferred_then_the_root_fallback(probes, monkeypatch):
    probes.update({"bwrap": None, "fallback-root": None})
    assert sandbox_mode() == "bwrap"
    monkeypatch.setenv("SFTSCOPE_SANDBOX", "fallback")
    status = sandbox_status()
    assert status.mode == "fallback-root" and "SFTSCOPE_SANDBOX=fallback skips bwrap" in status.reason
    monkeypatch.setenv("SFTSCOPE_SANDBOX", "unsafe")  # opting in never downgrades a working sandbox
    assert sandbox_mode() == "bwrap"


def test_without_bwrap_or_root_code_is_refused_unless_opted_in(probes, monkeypatch):
    probes.update({"bwrap": "bubblewrap is not installed", "fallback-root": "we are not root"})
    status = sandbox_status()
    assert status.mode == "refused"
    assert "bubblewrap is not installed" in status.reason and "we are not root" in status.reason
    assert "--unsafe-code-exec" in status.reason and "SFTSCOPE_SANDBOX=unsafe" in status.reason
    with pytest.raises(SandboxRefused, match="cannot run generated code safely") as caught:
        run_python("print(1)")
    assert isinstance(caught.value, InputError)  # the CLI prints it as one `error:` line
    assert require_sandbox(allow_unsafe=True) == "unsafe"
    monkeypatch.setenv("SFTSCOPE_SANDBOX", "unsafe")
    assert sandbox_mode() == "unsafe"


def test_an_unknown_policy_is_an_input_error(monkeypatch):
    monkeypatch.setenv("SFTSCOPE_SANDBOX", "yolo")
    with pytest.raises(InputError, match="SFTSCOPE_SANDBOX='yolo'"):
        sandbox_status()


@pytest.mark.parametrize(
    "bad",
    [
        {"wall_s": math.inf},
        {"wall_s": math.nan},
        {"wall_s": -1.0},
        {"wall_s": 0},
        {"memory_bytes": 0},
        {"cpu_s": -2},
    ],
)
def test_limits_refuse_values_that_would_disable_or_crash_them(bad):
    with pytest.raises(ValueError, match="SandboxLimits"):
        SandboxLimits(**bad)


def test_ordinary_program_runs_with_stdin(mode):
    result = run_python("print(input()[::-1])", stdin="abc\n", limits=TIGHT, mode=mode)
    assert result.status == "ok" and result.stdout == "cba\n" and result.mode == mode


def test_large_stdin_is_fed_completely(mode):
    data = "1\n" * 2_000_000  # 4 MB, far beyond a pipe buffer
    result = run_python("import sys\nprint(sum(map(int, sys.stdin)))", stdin=data, limits=TIGHT, mode=mode)
    assert result.status == "ok" and result.stdout.strip() == "2000000"


def test_closing_the_output_does_not_escape_the_wall_clock(mode):
    program = "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(60)\n"
    started = time.monotonic()
    assert run_python(program, limits=SandboxLimits(wall_s=1.0), mode=mode).status == "timeout"
    assert time.monotonic() - started < 1.0 + 2


SIGNED = """
import os, sys
os.write(int(sys.argv[2]), b"not-the-nonce {}\\n")
nonce = os.read(int(sys.argv[1]), 64)
os.write(int(sys.argv[2]), nonce + b' {PAYLOAD}\\n')
print("nonce length", len(nonce))
"""


def test_the_report_channel_carries_only_nonce_signed_lines(mode):
    result = run_python(
        SIGNED.replace("{PAYLOAD}", '{"status": "passed"}'), limits=TIGHT, mode=mode, report=True
    )
    assert result.ok and result.report == '{"status": "passed"}'
    assert "nonce length 32" in result.stdout
    unsigned = (
        'import os, sys\nos.write(int(sys.argv[2]), b"0123 {}\\n")\nprint("__SFTSCOPE_ALL_TESTS_PASSED__")'
    )
    assert run_python(unsigned, limits=TIGHT, mode=mode, report=True).report is None
    # without report=True the program gets no channel at all
    assert run_python("import sys\nprint(sys.argv[1:])", limits=TIGHT, mode=mode).stdout.strip() == "[]"


def test_unix_sockets_are_refused_but_socketpair_works(mode):
    program = (
        "import socket\na, b = socket.socketpair()\na.sendall(b'x')\nprint('pair', b.recv(1))\n"
        "try:\n    socket.socket(socket.AF_UNIX)\nexcept PermissionError:\n    print('unix refused')\n"
    )
    result = run_python(program, limits=TIGHT, mode=mode)
    assert result.stdout.split("\n")[:2] == ["pair b'x'", "unix refused"], result


RAW_CLONE = """
import ctypes, errno, os, platform, signal
print([line.strip() for line in open("/proc/self/status") if line.startswith("Seccomp:")])
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
number = {"x86_64": 56, "aarch64": 220}[platform.machine()]  # clone, bypassing the C library's clone3
pid = libc.syscall(*map(ctypes.c_long, (number, 0x10000000 | signal.SIGCHLD, 0, 0, 0, 0)))  # CLONE_NEWUSER
if pid == 0:
    os._exit(0)
if pid > 0:
    os.waitpid(pid, 0)
print("clone", "made a user namespace" if pid > 0 else errno.errorcode[ctypes.get_errno()])
"""


def test_the_filter_is_loaded_and_refuses_clone_into_a_new_namespace(mode):
    """The hostile corpus's nested-namespace case calls unshare; this is the filter's clone rule. (Without
    the filter bwrap's program makes the user namespace; in the root fallback the chroot refuses it too.)"""
    if seccomp.filter_bytes() is None:
        pytest.skip(f"no seccomp filter for this CPU ({os.uname().machine}): nothing is loaded")
    result = run_python(RAW_CLONE, limits=TIGHT, mode=mode)
    assert result.stdout.splitlines() == ["['Seccomp:\\t2']", "clone EPERM"], result


def test_threads_processes_and_event_loops_still_work_under_the_filter(mode):
    program = (
        "import asyncio, multiprocessing, os, subprocess, threading\n"
        "t = threading.Thread(target=print, args=('thread',))\nt.start()\nt.join()\n"
        "pid = os.fork()\nif pid == 0:\n    os._exit(7)\nprint('fork', os.waitpid(pid, 0)[1] >> 8)\n"
        "print(subprocess.run(['echo', 'subprocess'], capture_output=True, text=True).stdout.strip())\n"
        "with multiprocessing.Pool(2) as pool:\n    print('pool', pool.map(abs, [-1, -2]))\n"
        "print(asyncio.run(asyncio.sleep(0, 'asyncio')))\n"
    )
    result = run_python(program, limits=SandboxLimits(wall_s=10.0), mode=mode)
    assert result.stdout.split("\n")[:-1] == ["thread", "fork 7", "subprocess", "pool [1, 2]", "asyncio"], (
        result
    )


def test_the_program_sees_only_the_system_directories(mode):
    program = "import os\nprint(sorted(os.listdir('/')))\nprint(os.getcwd(), os.environ['HOME'])"
    result = run_python(program, limits=TIGHT, mode=mode)
    shown = set(ast.literal_eval(result.stdout.splitlines()[0]))
    assert shown <= {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc", "tmp"}
    assert result.stdout.splitlines()[1] == "/tmp /tmp"


def test_a_failed_setup_step_is_a_sandbox_error_not_a_verdict(mode, monkeypatch):
    real_view = rootfs.view

    def broken_view(*args, **kwargs):
        return [*real_view(*args, **kwargs), rootfs.Mount("ro-bind", "/missing", src="/no/such/dir/anywhere")]

    monkeypatch.setattr(rootfs, "view", broken_view)
    result = run_python("print(1)", limits=TIGHT, mode=mode)
    assert result.status == "sandbox-error" and result.stdout == ""


def test_the_seccomp_filter_is_whole_instructions_and_only_for_known_machines():
    for machine in ("x86_64", "aarch64"):
        program = seccomp.filter_bytes(machine)
        assert program and len(program) % 8 == 0 and len(program) // 8 < 32
    assert seccomp.filter_bytes("sparc64") is None


def test_description_names_the_mode(probes):
    probes.update({"bwrap": None})
    assert sandbox.describe_sandbox().startswith("bwrap: ")
    probes.update({"bwrap": "bubblewrap is not installed", "fallback-root": "we are not root"})
    assert sandbox.describe_sandbox().startswith("refused: cannot run generated code safely")
    assert sandbox.describe_sandbox(allow_unsafe=True).startswith("unsafe: ")


@pytest.mark.parametrize(
    ("compiled", "says", "never"),
    [(b"\0" * 8, "no unix sockets", "no seccomp filter"), (None, "no seccomp filter for this CPU", "unix")],
)
def test_description_claims_no_unix_sockets_only_with_a_filter(probes, monkeypatch, compiled, says, never):
    monkeypatch.setattr(sandbox, "filter_bytes", lambda: compiled)
    for working in ({"bwrap": None}, {"bwrap": "bubblewrap is not installed", "fallback-root": None}):
        probes.update(working)
        described = sandbox.describe_sandbox()
        assert says in described and never not in described, described


def test_no_sandbox_directory_is_left_behind(mode, monkeypatch):
    made = []
    real_mkdtemp = sandbox.tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(sandbox.tempfile, "mkdtemp", recording_mkdtemp)
    assert run_python("open('x', 'w').write('y')", limits=TIGHT, mode=mode).ok
    assert len(made) == 1 and not os.path.exists(made[0])
