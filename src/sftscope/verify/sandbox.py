"""Run untrusted Python programs (model-generated code) in a sandbox and capture bounded output.

Two modes; `sandbox_mode()` says which one this machine gets:

- `"bwrap"` (preferred, DESIGN.md § Scale): bubblewrap with a read-only bind of `/`, a private size-limited
  tmpfs `/tmp` as the working directory, fresh `/dev` and `/proc`, and new network, PID, IPC and UTS
  namespaces (`--unshare-net --unshare-pid --die-with-parent --new-session`).
- `"fallback"` where bwrap is missing or cannot start: a fresh temporary working directory, a new session
  (`setsid`), a new network namespace when the kernel permits it, and (when we are root) a switch to an
  unprivileged uid. Weaker: the program sees the real `/`, and any world-writable path is writable.

Both modes add rlimits (CPU seconds, address space, file size, process count), a minimal environment (no
inherited secrets), a wall-clock timeout that kills the whole process group, and bounded output capture: a
program that prints more than `output_bytes` is killed, never buffered.

When we run as root, each program gets its own throw-away uid from a high range that no account uses. That
makes RLIMIT_NPROC a per-program limit (the kernel counts processes per uid and exempts root), and it lets
`uids.reap_uid` kill everything the program left behind, even processes that escaped the process group. Set
`SFTSCOPE_SANDBOX=fallback` to force the fallback mode (tests of that mode use it).
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from sftscope.verify.uids import count_processes, fresh_uid, reap_uid

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PROGRAM_NAME = "main.py"
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here, never between fork and exec (dlopen locks)
SANDBOX_DIR = "/tmp"  # the working directory as the program sees it in bwrap mode


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one program run. Defaults follow LiveCodeBench (6 s per test, 4 GB memory)."""

    wall_s: float = 6.0  # wall clock; the whole process group is killed when it runs out
    cpu_s: int | None = None  # RLIMIT_CPU; None: ceil(wall_s) + 1
    memory_bytes: int = 4 * 1024**3  # RLIMIT_AS
    file_bytes: int = 16 * 1024**2  # RLIMIT_FSIZE, and the size of the private /tmp in bwrap mode
    nproc: int = 64  # RLIMIT_NPROC for the throw-away uid (enforced only when we can switch uid)
    output_bytes: int = 1024**2  # stdout + stderr captured; more than this kills the program

    @property
    def cpu_limit(self) -> int:
        return self.cpu_s if self.cpu_s is not None else int(self.wall_s) + 2


@dataclass(frozen=True)
class RunResult:
    """What happened to one program. `status` is one of ok, error, timeout, output-limit, sandbox-error."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    mode: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _minimal_env() -> dict[str, str]:
    # Nothing is inherited: API keys and tokens in the caller's environment must not reach the program.
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": SANDBOX_DIR,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": "1",
    }


def _is_root() -> bool:
    return os.geteuid() == 0


@functools.lru_cache(maxsize=1)
def _bwrap_has_size() -> bool:
    # `--size` (a size cap for a tmpfs) arrived in bubblewrap 0.5-0.7; older ones reject it and would not start.
    try:
        helptext = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "--size" in helptext


def _bwrap_argv(limits: SandboxLimits, host_dir: str) -> list[str]:
    program = os.path.join(host_dir, PROGRAM_NAME)
    size = ["--size", str(limits.file_bytes)] if _bwrap_has_size() else []
    return [
        "bwrap",
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        *size, "--tmpfs", SANDBOX_DIR,
        "--ro-bind", program, f"{SANDBOX_DIR}/{PROGRAM_NAME}",
        "--chdir", SANDBOX_DIR,
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
        "--die-with-parent", "--new-session",
        "--",
    ]  # fmt: skip


@functools.lru_cache(maxsize=1)
def _bwrap_works() -> bool:
    """Probe once: bwrap installed, and able to build its namespaces here (as the throw-away uid)."""
    if os.environ.get("SFTSCOPE_SANDBOX") == "fallback" or shutil.which("bwrap") is None:
        return False
    result = run_python("pass", limits=SandboxLimits(wall_s=20.0), mode="bwrap")
    return result.ok


def sandbox_mode() -> str:
    """`"bwrap"` or `"fallback"` (see the module docstring for what each contains)."""
    return "bwrap" if _bwrap_works() else "fallback"


@functools.lru_cache(maxsize=1)
def describe_sandbox() -> str:
    """One line for logs and reports: the mode and what it contains on this machine."""
    uid = ", throw-away uid" if _is_root() else ""
    if sandbox_mode() == "bwrap":
        return f"bwrap: read-only root, private /tmp, no network, own PID namespace, rlimits{uid}"
    probe = run_python(
        "print(sorted(line.split(':')[0].strip() for line in open('/proc/net/dev').readlines()[2:]))",
        limits=SandboxLimits(wall_s=20.0),
        mode="fallback",
    )
    isolated = probe.ok and probe.stdout.strip() == "['lo']"
    net = "no network (own namespace)" if isolated else "NETWORK REACHABLE (no namespace permitted)"
    return f"fallback: rlimits, new session, fresh work dir{uid}, {net}"


def _world_executable(path: str) -> bool:
    """True when a uid with no privileges can run `path`: every directory on the way and the file allow it."""
    real = os.path.realpath(path)
    parts = real.split(os.sep)
    for i in range(2, len(parts) + 1):
        try:
            mode = os.stat(os.sep.join(parts[:i]) or os.sep).st_mode
        except OSError:
            return False
        if not mode & 0o001:
            return False
    return True


@functools.lru_cache(maxsize=1)
def sandbox_python() -> str:
    """The interpreter that runs programs: ours when the throw-away uid can reach it, else the system one.

    (A pyenv/conda interpreter under a private home directory is unreachable for an unprivileged uid.)
    """
    override = os.environ.get("SFTSCOPE_SANDBOX_PYTHON")
    if override:
        return override
    if not _is_root() or _world_executable(sys.executable):
        return sys.executable
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and _world_executable(candidate):
            return candidate
    return sys.executable


def _unshare_net() -> None:
    # Best effort, in the child before exec. Root can make a network namespace directly; another user
    # can when unprivileged user namespaces are enabled. `describe_sandbox()` reports which happened.
    if _LIBC.unshare(CLONE_NEWNET) != 0:
        _LIBC.unshare(CLONE_NEWUSER | CLONE_NEWNET)


def _preexec(limits: SandboxLimits, uid: int | None, unshare_net: bool):
    cpu = limits.cpu_limit
    # RLIMIT_NPROC counts every process of the uid: a throw-away uid starts at zero, our own uid does not.
    nproc = limits.nproc if uid is not None else count_processes(os.getuid()) + limits.nproc

    def setup() -> None:  # runs in the child between fork and exec: system calls only, no imports
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if unshare_net:
            _unshare_net()
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

    return setup


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group, again while members remain (a fork racing the first signal survives it)."""
    for _ in range(10):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.005)
            os.killpg(proc.pid, 0)  # raises once the group is empty (zombies still count, briefly)
        except (ProcessLookupError, PermissionError):
            return
        proc.poll()  # reap our direct child so that it leaves the group


def _collect(proc: subprocess.Popen, stdin: bytes, limits: SandboxLimits) -> tuple[str, bytes, bytes]:
    """Feed stdin, read stdout/stderr up to the byte budget, enforce the wall clock. Returns (status, out, err)."""
    deadline = time.monotonic() + limits.wall_s
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    total = 0
    status = "done"
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    pending = memoryview(stdin)
    if pending:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
    else:
        proc.stdin.close()
    open_readers = 2
    while open_readers:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            status = "timeout"
            break
        for key, _ in sel.select(timeout=min(remaining, 0.5)):
            if key.fileobj is proc.stdin:
                try:
                    written = os.write(proc.stdin.fileno(), pending[:65536])
                except BlockingIOError:
                    written = 0
                except OSError:  # the program exited or closed stdin without reading it all
                    written = len(pending)
                pending = pending[written:]
                if not pending:
                    sel.unregister(proc.stdin)
                    proc.stdin.close()
                continue
            data = os.read(key.fd, 65536)
            if not data:
                sel.unregister(key.fileobj)
                open_readers -= 1
                continue
            chunks[key.fd].append(data)
            total += len(data)
            if total > limits.output_bytes:
                status = "output-limit"
                open_readers = 0
                break
    sel.close()
    if status == "done":  # both streams closed; the program may still be running
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.001))
        except subprocess.TimeoutExpired:
            status = "timeout"
    out = b"".join(chunks[proc.stdout.fileno()])[: limits.output_bytes]
    err = b"".join(chunks[proc.stderr.fileno()])[: limits.output_bytes]
    return status, out, err


def run_python(
    source: str,
    *,
    stdin: str | bytes = b"",
    limits: SandboxLimits | None = None,
    python: str | None = None,
    mode: str | None = None,
) -> RunResult:
    """Run `source` as a Python program in the sandbox and return its bounded output and status.

    `mode` is "bwrap" or "fallback"; None picks `sandbox_mode()`. `python` defaults to `sandbox_python()`.
    """
    limits = limits or SandboxLimits()
    mode = mode or sandbox_mode()
    python = python or sandbox_python()
    stdin_bytes = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    uid = fresh_uid() if _is_root() else None
    host_dir = tempfile.mkdtemp(prefix="sftscope-sandbox-")
    started = time.monotonic()
    try:
        path = os.path.join(host_dir, PROGRAM_NAME)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(source)
        os.chmod(path, 0o644)
        if mode == "bwrap":
            os.chmod(host_dir, 0o755)
            argv = [*_bwrap_argv(limits, host_dir), python, "-I", f"{SANDBOX_DIR}/{PROGRAM_NAME}"]
            cwd = "/"
        else:
            # The program writes in its own fresh directory, owned by its uid and deleted afterwards.
            if uid is not None:
                os.chown(host_dir, uid, uid)
            os.chmod(host_dir, 0o700)
            argv = [python, "-I", path]
            cwd = host_dir
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=_minimal_env(),
                start_new_session=True,
                close_fds=True,
                preexec_fn=_preexec(limits, uid, unshare_net=(mode != "bwrap")),
            )
        except OSError as exc:
            return RunResult("sandbox-error", None, "", str(exc), 0.0, mode)
        try:
            status, out, err = _collect(proc, stdin_bytes, limits)
        finally:
            _kill_group(proc)
            if uid is not None:
                reap_uid(uid)
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream and not stream.closed:
                    stream.close()
        if status == "done":
            # bwrap reports a child killed by signal N as exit status 128 + N.
            cpu_out = proc.returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU)
            status = "ok" if proc.returncode == 0 else "timeout" if cpu_out else "error"
        return RunResult(
            status,
            proc.returncode,
            out.decode("utf-8", errors="replace"),
            err.decode("utf-8", errors="replace"),
            time.monotonic() - started,
            mode,
        )
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)
