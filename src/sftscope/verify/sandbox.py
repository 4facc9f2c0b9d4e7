"""Run untrusted Python programs (model-generated code) in a sandbox and capture bounded output.

`sandbox_status()` says which mode this machine gets, and why (docs/design.md § Scale):

- `"bwrap"`: bubblewrap builds the view of `verify/rootfs.py` (system directories read-only, private capped
  /tmp and /dev/shm, a /proc of its own PID namespace, nothing of /home, /root, /var or /run) in new
  network, PID, IPC and UTS namespaces, with `--die-with-parent --new-session` and the seccomp filter of
  `verify/seccomp.py` (no unix-domain sockets).
- `"fallback-root"`: bwrap is missing or cannot start, and we are root: `verify/jail.py` builds the same
  view and namespaces with system calls. Refused when the kernel does not let root make them.
- `"unsafe"`: no bwrap and no root (or root without namespaces), and the user opted in with
  `SFTSCOPE_SANDBOX=unsafe` or `allow_unsafe=True` (the CLI's `--unsafe-code-exec`). Only rlimits, a new
  session, a fresh directory and (when the kernel permits) a network namespace: the program runs with the
  scorer's own rights and can touch its files and signal it.
- `"refused"`: none of the above. `run_python` raises `SandboxRefused` (an InputError) with the reason.

Every mode adds rlimits (CPU seconds, address space, file size, process count), a minimal environment (no
inherited secrets), a wall-clock timeout that kills the whole process group, and bounded output capture.
When we run as root each program gets its own throw-away uid (`verify/uids.py`): RLIMIT_NPROC becomes a
per-program limit and everything the program left behind can be killed by uid.

`report=True` gives the program a result channel that its own output cannot forge: the scorer writes a
fresh random nonce into a pipe and passes its read end and the write end of a report pipe as
`sys.argv[1:3]`. A harness (`verify/harness.py`) reads the nonce before the candidate's code runs and, when
its tests are done, writes `<nonce> <payload>` to the report pipe; `RunResult.report` is the payload of such
a line, else None. Printing anything, or exiting 0 early, cannot produce it.

`SFTSCOPE_SANDBOX`: `auto` (default), `unsafe` (opt in, as above; bwrap is still preferred), or `fallback`
(skip bwrap; tests of the fallback modes use it).
"""

from __future__ import annotations

import functools
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from sftscope.errors import InputError
from sftscope.verify import launch, rootfs
from sftscope.verify.jail import SETUP_FAILED
from sftscope.verify.pipes import collect, kill_group, pipe_with, read_report
from sftscope.verify.seccomp import filter_bytes
from sftscope.verify.uids import fresh_uid, reap_uid

MODES = ("bwrap", "fallback-root", "unsafe")
POLICIES = ("auto", "unsafe", "fallback")
UNSAFE_HINT = "--unsafe-code-exec or SFTSCOPE_SANDBOX=unsafe"


class SandboxRefused(InputError):
    """No mode that contains hostile code works here, and the user did not opt in to running it unsafely."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one program run. Defaults follow LiveCodeBench (6 s per test, 4 GB memory)."""

    wall_s: float = 6.0  # wall clock; the whole process group is killed when it runs out
    cpu_s: int | None = None  # RLIMIT_CPU; None: int(wall_s) + 2
    memory_bytes: int = 4 * 1024**3  # RLIMIT_AS
    file_bytes: int = 16 * 1024**2  # RLIMIT_FSIZE, and the size of each private tmpfs (/tmp, /dev/shm)
    nproc: int = 64  # RLIMIT_NPROC for the throw-away uid (on top of our own processes without root)
    output_bytes: int = 1024**2  # stdout + stderr captured; more than this kills the program

    def __post_init__(self) -> None:
        # Limits come from rows (per_test_s); a non-finite or non-positive one would disable or crash them.
        if not (isinstance(self.wall_s, (int, float)) and math.isfinite(self.wall_s) and self.wall_s > 0):
            raise ValueError(f"SandboxLimits.wall_s must be a positive finite number, not {self.wall_s!r}")
        for name in ("memory_bytes", "file_bytes", "nproc", "output_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"SandboxLimits.{name} must be a positive integer, not {value!r}")
        if self.cpu_s is not None and (not isinstance(self.cpu_s, int) or self.cpu_s <= 0):
            raise ValueError(f"SandboxLimits.cpu_s must be a positive integer or None, not {self.cpu_s!r}")

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
    report: str | None = None  # the payload of a nonce-signed line on the report channel (report=True)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class SandboxStatus:
    """The mode code runs in here (bwrap, fallback-root, unsafe or refused) and why."""

    mode: str
    reason: str


def _is_root() -> bool:
    return os.geteuid() == 0


def _policy() -> str:
    value = os.environ.get("SFTSCOPE_SANDBOX", "").strip().lower() or "auto"
    if value not in POLICIES:
        raise InputError(
            f"SFTSCOPE_SANDBOX={value!r}: expected auto, unsafe (allow running generated code without "
            "isolation when no sandbox works) or fallback (skip bwrap)"
        )
    return value


@functools.lru_cache(maxsize=1)
def _bwrap_has_size() -> bool:
    # `--size` (a size cap for a tmpfs) arrived in bubblewrap 0.7; older ones reject it and would not start.
    try:
        helptext = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "--size" in helptext


@functools.lru_cache(maxsize=4)
def _probe(mode: str) -> str | None:
    """None when `mode` runs a program here, else why not (probed once per process)."""
    if mode == "bwrap" and shutil.which("bwrap") is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    if mode == "fallback-root" and not _is_root():
        return "we are not root, so the fallback cannot switch uid or build namespaces"
    result = run_python("print(6 * 7)", limits=SandboxLimits(wall_s=20.0), mode=mode)
    if result.ok and result.stdout.strip() == "42":
        return None
    detail = (result.stderr.strip().splitlines() or [result.status])[-1][:200]
    return f"{'bwrap' if mode == 'bwrap' else 'the root fallback'} cannot start here ({detail})"


def sandbox_status(allow_unsafe: bool = False) -> SandboxStatus:
    """The mode and the reason; `allow_unsafe` (or SFTSCOPE_SANDBOX=unsafe) permits "unsafe"."""
    policy = _policy()
    allow_unsafe = allow_unsafe or policy == "unsafe"
    why_not_bwrap = "SFTSCOPE_SANDBOX=fallback skips bwrap" if policy == "fallback" else _probe("bwrap")
    if why_not_bwrap is None:
        return SandboxStatus("bwrap", "bubblewrap works here")
    why_not_root = _probe("fallback-root")
    if why_not_root is None:
        return SandboxStatus("fallback-root", f"{why_not_bwrap}; root builds the namespaces itself")
    if allow_unsafe:
        return SandboxStatus("unsafe", f"{why_not_bwrap}; {why_not_root}; running unisolated as opted in")
    return SandboxStatus(
        "refused",
        f"cannot run generated code safely: {why_not_bwrap}, and {why_not_root}; install bubblewrap "
        f"(and allow unprivileged user namespaces) or run as root, or accept running it unisolated with "
        f"{UNSAFE_HINT}",
    )


def sandbox_mode(allow_unsafe: bool = False) -> str:
    """`"bwrap"`, `"fallback-root"`, `"unsafe"` or `"refused"` (see `sandbox_status` for the reason)."""
    return sandbox_status(allow_unsafe).mode


def require_sandbox(allow_unsafe: bool = False) -> str:
    """The mode code will run in; raises SandboxRefused (one line, with the reason) when there is none."""
    status = sandbox_status(allow_unsafe)
    if status.mode == "refused":
        raise SandboxRefused(status.reason)
    return status.mode


def describe_sandbox(allow_unsafe: bool = False) -> str:
    """One line for logs and reports: the mode and what it contains on this machine."""
    status = sandbox_status(allow_unsafe)
    uid = ", a throw-away uid per program" if _is_root() else ""
    # The unix-socket (and nested-namespace) rule is the seccomp filter, which exists only for known CPUs.
    sockets = "no unix sockets" if filter_bytes() is not None else "no seccomp filter for this CPU"
    contained = (
        f"system directories read-only, private capped /tmp and /dev/shm, no network, {sockets}, "
        f"own PID namespace, rlimits{uid}"
    )
    if status.mode == "bwrap":
        capped = "" if _bwrap_has_size() else " (bwrap < 0.7: /tmp uncapped, /dev/shm read-only)"
        return f"bwrap: {contained}{capped}"
    if status.mode == "fallback-root":
        return f"fallback-root: {contained} ({status.reason})"
    if status.mode == "unsafe":
        return (
            f"unsafe: rlimits and a new session only; the program has the scorer's rights ({status.reason})"
        )
    return f"refused: {status.reason}"


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


def _status(status: str, returncode: int | None, stderr: bytes, mode: str) -> str:
    if status != "done":
        return status
    if returncode == 0:
        return "ok"
    # bwrap and the jail report a child killed by signal N as exit status 128 + N.
    if returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "timeout"
    if (mode != "bwrap" and returncode == SETUP_FAILED and stderr.startswith(b"sftscope-jail:")) or (
        mode == "bwrap" and returncode == 1 and stderr.startswith(b"bwrap:")
    ):
        return "sandbox-error"
    return "error"


def run_python(
    source: str,
    *,
    stdin: str | bytes = b"",
    limits: SandboxLimits | None = None,
    python: str | None = None,
    mode: str | None = None,
    allow_unsafe: bool = False,
    report: bool = False,
) -> RunResult:
    """Run `source` as a Python program in the sandbox and return its bounded output and status.

    `mode` is one of MODES; None picks `require_sandbox(allow_unsafe)` (which raises SandboxRefused).
    `python` defaults to `sandbox_python()`. `report` opens the nonce-signed result channel (above).
    """
    limits = limits or SandboxLimits()
    mode = mode or require_sandbox(allow_unsafe)
    if mode not in MODES or (mode == "fallback-root" and not _is_root()):
        raise ValueError(f"cannot run in sandbox mode {mode!r} here")
    python = python or sandbox_python()
    # Model output may hold lone surrogates: pass them through as bytes (the program then fails to decode,
    # which scores as a failed program) rather than raise in the scorer.
    stdin_bytes = stdin.encode("utf-8", "surrogatepass") if isinstance(stdin, str) else stdin
    uid = fresh_uid() if _is_root() else None
    rlimits = launch.rlimits(limits.cpu_limit, limits.memory_bytes, limits.file_bytes, limits.nproc, uid)
    host_dir = tempfile.mkdtemp(prefix="sftscope-sandbox-")
    program = os.path.join(host_dir, rootfs.PROGRAM_NAME)
    inner_program = f"{rootfs.SANDBOX_DIR}/{rootfs.PROGRAM_NAME}"
    seccomp = filter_bytes()
    sized = mode != "bwrap" or _bwrap_has_size()
    mounts = rootfs.view(python, program, limits.file_bytes, sized_tmpfs=sized)
    nonce = secrets.token_hex(16)
    owned: list[int] = []  # fds to close in the parent once the child has them
    report_read = None
    started = time.monotonic()
    try:
        with open(program, "w", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(source)
        os.chmod(program, 0o644)
        extra_args: list[str] = []
        if report:
            report_read, report_write = os.pipe()
            nonce_read = pipe_with(nonce.encode())
            owned += [report_write, nonce_read]
            extra_args = [str(nonce_read), str(report_write)]
        if mode == "bwrap":
            os.chmod(host_dir, 0o755)  # bwrap runs as the throw-away uid and binds the program from here
            seccomp_fds = [pipe_with(seccomp)] if seccomp is not None else []
            owned += seccomp_fds
            start = launch.bwrap(
                mounts, [python, "-I", inner_program, *extra_args], rlimits, uid, seccomp_fds
            )
        else:
            isolate = mode == "fallback-root"
            if isolate:
                os.mkdir(os.path.join(host_dir, "root"), 0o700)
            elif uid is not None:  # unsafe as root: the program writes in its own directory
                os.chown(host_dir, uid, uid)
            os.chmod(host_dir, 0o700)
            inner = inner_program if isolate else program
            start = launch.jail(
                mounts, [python, "-I", inner, *extra_args], rlimits, uid, seccomp, host_dir, isolate
            )
        try:
            proc = subprocess.Popen(
                start.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=host_dir,
                env=start.env,
                start_new_session=True,
                close_fds=True,
                pass_fds=owned,
                preexec_fn=start.preexec,
            )
        except OSError as exc:
            return RunResult("sandbox-error", None, "", str(exc), 0.0, mode)
        finally:
            for fd in owned:
                os.close(fd)
            owned = []
        try:
            status, out, err = collect(proc, stdin_bytes, limits.wall_s, limits.output_bytes)
        finally:
            kill_group(proc)
            if uid is not None:
                reap_uid(uid)
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream and not stream.closed:
                    stream.close()
        return RunResult(
            _status(status, proc.returncode, err, mode),
            proc.returncode,
            out.decode("utf-8", errors="replace"),
            err.decode("utf-8", errors="replace"),
            time.monotonic() - started,
            mode,
            read_report(report_read, nonce) if report_read is not None else None,
        )
    finally:
        for fd in owned + ([report_read] if report_read is not None else []):
            os.close(fd)
        shutil.rmtree(host_dir, ignore_errors=True)
