"""The hostile-code corpus: one program per attack on the sandbox, and what "contained" means for each.

Each case's program starts with `P = {...}`: the run's parameters (its marker, the planted sockets, the
planted secret, the scorer's pid, ...), filled in by hostile_runner.py. `check(result, post)` asserts on the
runner's result for the case and on `post`, the host as test_hostile.py found it after the batch.
`unsafe` marks the cases that even the opted-in unsafe mode must contain (rlimits, the wall clock, the
output cap and the harness do not depend on isolation).
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LIMITS = {"wall_s": 1.5, "cpu_s": 1, "memory_bytes": 1024**3, "file_bytes": 1024**2, "nproc": 32}
SECRET_ENV = "SFTSCOPE_HOSTILE_SECRET"


@dataclass(frozen=True)
class Case:
    name: str
    program: str  # a program (kind "run") or a completion (kinds "humaneval", "lcb")
    check: Callable[[dict[str, Any], dict[str, Any]], None]
    kind: str = "run"
    unsafe: bool = False  # also contained by the unsafe mode
    exclusive: bool = False  # runs alone: it exhausts the process limit of a shared uid
    limits: dict[str, Any] = field(default_factory=lambda: dict(LIMITS))


def _line(result: dict[str, Any], key: str) -> str:
    for line in result["stdout"].splitlines():
        if line.startswith(key):
            return line[len(key) :].strip()
    raise AssertionError(
        f"no {key!r} line in stdout={result['stdout'][:500]!r} stderr={result['stderr'][-500:]!r}"
    )


def _no_marked(post: dict[str, Any], case: str) -> None:
    assert not post["files"].get(case), f"files left on the host: {post['files'][case]}"
    assert not post["live"].get(case), f"processes still running: {post['live'][case]}"


# --- the programs -----------------------------------------------------------------------------------------

WRITE_OUTSIDE = """
import os
hits = []
for path in (P["bashrc"], P["outside"] + "/pwned-" + P["marker"],
             "/etc/" + P["marker"], "/usr/" + P["marker"], "/var/tmp/" + P["marker"], "/" + P["marker"]):
    try:
        with open(path, "a") as fh:
            fh.write("pwned by sandboxed code\\n")
        hits.append(path)
    except OSError:
        pass
for attack in (lambda: os.remove(P["keep"]), lambda: os.rename(P["keep"], P["keep"] + ".moved")):
    try:
        attack()
        hits.append("removed " + P["keep"])
    except OSError:
        pass
print("HITS", hits)
"""

LEAVE_FILES = """
import os
for d in ("/tmp", "/var/tmp", "/dev/shm", "/var/lock", "/run/lock", "/run/shm", os.getcwd(), os.path.expanduser("~")):
    try:
        with open(os.path.join(d, P["marker"]), "w") as fh:
            fh.write("left behind")
    except OSError:
        pass
print("DONE")
"""

FILL = """
written, err = 0, None
try:
    for i in range(256):
        with open(DIRECTORY + "/" + P["marker"] + "-" + str(i), "wb") as fh:
            fh.write(b"x" * 256 * 1024)
        written += 256 * 1024
except OSError as exc:
    err = exc.errno
print("WROTE", written, err)
"""
SHM_FILL = 'DIRECTORY = "/dev/shm"\n' + FILL
TMP_FILL = "import os\nDIRECTORY = os.getcwd()\n" + FILL

UNIX_SOCKETS = """
import socket
connected = []
for path in P["sockets"] + ["\\0" + P["abstract"]]:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect(path)
        connected.append(path)
    except OSError:
        pass
print("CONNECTED", connected)
"""

NETWORK = """
import socket
connected = []
for host, port in (("127.0.0.1", P["tcp_port"]), ("1.1.1.1", 80), ("8.8.8.8", 53)):
    try:
        socket.create_connection((host, port), timeout=0.5)
        connected.append((host, port))
    except OSError:
        pass
print("CONNECTED", connected)
"""

HOST_PROCESSES = """
import os
found, pids = [], [p for p in os.listdir("/proc") if p.isdigit()]
for pid in pids:
    try:
        if P["secret"].encode() in open("/proc/%s/cmdline" % pid, "rb").read():
            found.append(pid)
    except OSError:
        pass
print("FOUND", found)
print("PIDS", len(pids))
"""

ENV_SECRETS = """
import os
print(dict(os.environ))
for pid in (1, os.getppid(), P["scorer_pid"]):
    try:
        print(open("/proc/%d/environ" % pid, "rb").read())
    except OSError as exc:
        print("refused", exc)
"""

SIGNAL_PARENT = """
import os, signal
for pid in (P["scorer_pid"], os.getppid(), P["decoy_pid"]):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
for attack in (lambda: os.killpg(os.getpgid(P["scorer_pid"]), signal.SIGKILL), lambda: os.kill(-1, signal.SIGKILL)):
    try:
        attack()
    except OSError:
        pass
print("SENT")
"""

DAEMON = """
import ctypes, os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, P["marker"].encode(), 0, 0, 0)  # PR_SET_NAME: findable in /proc
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        os.closerange(0, 3)
        time.sleep(60)
    os._exit(0)
print("SPAWNED")
"""

FORK_BOMB = """
import ctypes, os, time
ctypes.CDLL(None).prctl(15, P["marker"].encode(), 0, 0, 0)
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""

NESTED_NAMESPACE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
mounted = "no"
# a user namespace of its own would let the program mount a tmpfs of any size: host memory no rlimit counts
if libc.unshare(0x10000000 | 0x00020000) == 0:
    os.makedirs("/tmp/big", exist_ok=True)
    mounted = "yes" if libc.mount(b"tmpfs", b"/tmp/big", b"tmpfs", 0, b"size=64g") == 0 else "unshared"
print("MOUNTED", mounted)
"""

MEMORY_HOG = "block = bytearray(50 * 1024**3)\nprint('allocated')\n"
SLEEP = "import time\ntime.sleep(60)\n"
BUSY = "while True:\n    pass\n"
PRINT_FLOOD = "import sys\nchunk = 'x' * 1024**2\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n"

SENTINEL_FORGERY = """```python
def add(a, b):
    return a - b
print("__SFTSCOPE_ALL_TESTS_PASSED__", flush=True)
import os
os._exit(0)
```"""

REPORT_FD_FORGERY = """```python
import os, sys
def add(a, b):
    return a - b
stolen = b""
for fd in range(3, 256):
    try:
        stolen += os.read(fd, 64)
    except OSError:
        pass
for fd in range(3, 256):
    for prefix in (stolen.strip(), b"", b"0" * 32, sys.argv[1].encode()):
        try:
            os.write(fd, prefix + b' {"status": "passed", "passed": 1}\\n')
        except OSError:
            pass
print("__SFTSCOPE_ALL_TESTS_PASSED__", flush=True)
os._exit(0)
```"""

# From inside the function under test: the old stdout markers, then the harness's own reporter with a
# malformed payload. The line is nonce-signed, so only parse_report stands between it and a pass
# (`True == 1 == len(tests)`).
MARKER_FORGERY = """```python
import os, sys
def twoSum(nums, target):
    print('__SFTSCOPE_RESULT__ {"passed": 1, "status": "passed"}', flush=True)
    print('__SFTSCOPE_RESULT__ {bad json', flush=True)
    sys.modules["__main__"]._report({"status": "passed", "passed": True})
    os._exit(0)
```"""


# --- the checks -------------------------------------------------------------------------------------------


def check_write_outside(result, post):
    assert _line(result, "HITS") == "[]"
    assert post["bashrc"] == post["bashrc_before"], "~/.bashrc was modified"
    assert post["keep"] == "keep me\n", "a file outside was removed or changed"
    _no_marked(post, "write-outside")


def check_leave_files(result, post):
    _line(result, "DONE")
    _no_marked(post, "leave-files")


def _check_fill(result, post, case):
    written, err = _line(result, "WROTE").split()
    assert int(written) <= LIMITS["file_bytes"], f"{case}: {written} bytes written, over the cap"
    assert err in (str(errno.ENOSPC), str(errno.EROFS), str(errno.ENOENT), str(errno.EACCES)), err
    _no_marked(post, case)


def check_shm_fill(result, post):
    _check_fill(result, post, "dev-shm-fill")


def check_tmp_fill(result, post):
    _check_fill(result, post, "tmp-fill")


def check_unix_sockets(result, post):
    assert _line(result, "CONNECTED") == "[]"
    assert post["accepted"]["unix"] == 0


def check_network(result, post):
    assert _line(result, "CONNECTED") == "[]"
    assert post["accepted"]["tcp"] == 0


def check_host_processes(result, post):
    assert _line(result, "FOUND") == "[]", "a host process's command line was readable"
    assert int(_line(result, "PIDS")) <= 4, "host processes are visible"


def check_env_secrets(result, post):
    assert result["status"] == "ok", result
    assert post["secret_env"] not in result["stdout"] and "SFTSCOPE_HOSTILE" not in result["stdout"]


def check_signal_parent(result, post):
    _line(result, "SENT")
    assert post["decoy_alive"], "a process of the scorer's uid was killed"
    # the scorer survived: it is the runner that returned this result


def check_daemon(result, post):
    assert result["status"] in ("ok", "timeout"), result
    _no_marked(post, "daemon")


def check_fork_bomb(result, post):
    assert result["status"] in ("timeout", "error"), result
    _no_marked(post, "fork-bomb")


def check_nested_namespace(result, post):
    assert _line(result, "MOUNTED") == "no"


def check_memory_hog(result, post):
    assert result["status"] == "error" and "MemoryError" in result["stderr"], result
    assert "allocated" not in result["stdout"]


def check_timeout(result, post):
    assert result["status"] == "timeout", result
    assert result["wall_s"] < LIMITS["wall_s"] + 3.0, result["wall_s"]


def check_print_flood(result, post):
    assert result["status"] == "output-limit", result["status"]
    assert result["stdout_len"] <= 1024**2


def check_forgery(result, post):
    assert "exception" not in result, result
    assert result["correct"] is False and result["reason"] == "wrong", result
    assert result["details"]["sandbox"] == post["mode"]


CASES = [
    Case("write-outside", WRITE_OUTSIDE, check_write_outside),
    Case("leave-files", LEAVE_FILES, check_leave_files),
    Case("dev-shm-fill", SHM_FILL, check_shm_fill),
    Case("tmp-fill", TMP_FILL, check_tmp_fill),
    Case("unix-socket", UNIX_SOCKETS, check_unix_sockets),
    Case("network", NETWORK, check_network),
    Case("host-processes", HOST_PROCESSES, check_host_processes),
    Case("env-secrets", ENV_SECRETS, check_env_secrets),
    Case("signal-parent", SIGNAL_PARENT, check_signal_parent),
    Case("daemon", DAEMON, check_daemon),
    Case("fork-bomb", FORK_BOMB, check_fork_bomb, exclusive=True),
    Case("nested-namespace", NESTED_NAMESPACE, check_nested_namespace),
    Case("memory-hog", MEMORY_HOG, check_memory_hog, unsafe=True),
    Case("sleep-past-timeout", SLEEP, check_timeout, unsafe=True),
    Case("busy-loop", BUSY, check_timeout, unsafe=True),
    Case("print-flood", PRINT_FLOOD, check_print_flood, unsafe=True),
    Case("sentinel-forgery", SENTINEL_FORGERY, check_forgery, kind="humaneval", unsafe=True),
    Case("report-fd-forgery", REPORT_FD_FORGERY, check_forgery, kind="humaneval", unsafe=True),
    Case("marker-forgery", MARKER_FORGERY, check_forgery, kind="lcb", unsafe=True),
]
