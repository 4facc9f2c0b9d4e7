"""The file system a sandboxed program sees: the system directories and its interpreter, read-only, and
nothing else of the host.

Binding all of `/` read-only (as the sandbox once did) still shows the program every world-readable file
(tokens in home directories, other users' data) and every world-writable unix socket (a read-only mount
does not stop `connect()`). So the view holds only:

- `/usr`, `/etc` and the top-level `/bin`, `/sbin`, `/lib*` (as the symlinks they are on merged-/usr
  systems), read-only;
- the interpreter's prefixes (a venv, a pyenv or conda install elsewhere), read-only;
- a fresh `/dev` with the harmless devices (null, zero, full, random, urandom, tty), itself read-only;
- `/dev/shm` and `/tmp` as private tmpfs, each capped at the run's file budget (an uncapped tmpfs is a
  host-memory hog: half the RAM by default), gone when the run ends;
- a `/proc` of the program's own PID namespace (host processes and their command lines stay hidden);
- the program, read-only, at `/tmp/main.py`; `/tmp` is the working directory.

`/var`, `/run`, `/home`, `/root`, `/srv`, `/opt` and `/mnt` are absent, so their sockets, locks and files
are unreachable and nothing can be left behind in them. Both modes build this same list: bwrap from its
arguments (`bwrap_args`), the root fallback (`verify/jail.py`) with mount(2) itself.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from dataclasses import asdict, dataclass

SANDBOX_DIR = "/tmp"  # the working directory as the program sees it
PROGRAM_NAME = "main.py"
SYSTEM_DIRS = ("/usr", "/etc")
TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # symlinks into /usr, or real dirs
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


@dataclass(frozen=True)
class Mount:
    """One entry of the view. kind: ro-bind (src -> dst), symlink (src is the link text), tmpfs (size
    bytes), dev (a fresh /dev with DEVICES), proc (a fresh /proc)."""

    kind: str
    dst: str
    src: str = ""
    size: int = 0


@functools.lru_cache(maxsize=8)
def interpreter_dirs(python: str) -> tuple[str, ...]:
    """The directories `python` needs at run time (its prefixes and its own directory), resolved."""
    probe = "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]))"
    try:
        out = subprocess.run(
            [python, "-I", "-c", probe], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        prefixes = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        prefixes = []
    dirs = [os.path.dirname(os.path.abspath(python)), *prefixes]
    dirs += [os.path.realpath(d) for d in dirs]  # a venv's python is a symlink into its base install
    dirs.append(os.path.dirname(os.path.realpath(python)))
    return tuple(dict.fromkeys(d for d in dirs if d and os.path.isdir(d)))


def _covered(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def view(python: str, program: str, file_bytes: int, *, sized_tmpfs: bool = True) -> list[Mount]:
    """The mounts, in order, for running `program` (a host path) with `python`.

    Without `sized_tmpfs` (bwrap before 0.7 cannot cap a tmpfs) `/dev/shm` stays read-only and `/tmp` is
    uncapped; `describe_sandbox()` says so.
    """
    mounts: list[Mount] = []
    bound: list[str] = []
    for path in TOP_LEVEL:
        if os.path.islink(path):
            mounts.append(Mount("symlink", path, src=os.readlink(path)))
        elif os.path.isdir(path):
            mounts.append(Mount("ro-bind", path, src=path))
            bound.append(path)
    for path in SYSTEM_DIRS:
        if os.path.isdir(path):
            mounts.append(Mount("ro-bind", path, src=path))
            bound.append(path)
    for path in sorted(interpreter_dirs(python), key=len):
        # Inside /usr (or another bound prefix) already; else bound at the path the interpreter names.
        if path in ("/", SANDBOX_DIR) or _covered(path, bound):
            continue
        mounts.append(Mount("ro-bind", path, src=os.path.realpath(path)))
        bound.append(path)
    mounts += [
        Mount("dev", "/dev"),
        *([Mount("tmpfs", "/dev/shm", size=file_bytes)] if sized_tmpfs else []),
        Mount("proc", "/proc"),
        Mount("tmpfs", SANDBOX_DIR, size=file_bytes if sized_tmpfs else 0),
        Mount("ro-bind", f"{SANDBOX_DIR}/{PROGRAM_NAME}", src=program),
    ]
    return mounts


def bwrap_args(mounts: list[Mount]) -> list[str]:
    """bwrap's arguments for the view; `/` and `/dev` are made read-only once everything is in place."""
    args: list[str] = []
    for mount in mounts:
        if mount.kind == "ro-bind":
            args += ["--ro-bind", mount.src, mount.dst]
        elif mount.kind == "symlink":
            args += ["--symlink", mount.src, mount.dst]
        elif mount.kind == "tmpfs":
            args += [*(["--size", str(mount.size)] if mount.size else []), "--tmpfs", mount.dst]
        elif mount.kind == "dev":
            args += ["--dev", mount.dst]
        elif mount.kind == "proc":
            args += ["--proc", mount.dst]
        else:
            raise ValueError(f"unknown mount kind {mount.kind!r}")
    return [*args, "--remount-ro", "/dev", "--remount-ro", "/"]


def to_json(mounts: list[Mount]) -> list[dict]:
    return [asdict(m) for m in mounts]
