"""How each sandbox mode starts a program: bwrap's command line, or the configuration of `verify/jail.py`.

bwrap mode applies the rlimits and the switch to the throw-away uid between fork and exec (system calls
only), so that bwrap itself builds its namespaces as that uid. The fallback modes start the jail, a fresh
interpreter that does all of that (and more) itself, so nothing but exec happens in a forked copy of a
threaded scorer.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from collections.abc import Callable
from dataclasses import dataclass

from sftscope.verify import rootfs
from sftscope.verify.uids import count_processes

JAIL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jail.py")


@dataclass(frozen=True)
class Start:
    """What `subprocess.Popen` needs to start one sandboxed program."""

    argv: list[str]
    env: dict[str, str]
    preexec: Callable[[], None] | None = None


def minimal_env(home: str) -> dict[str, str]:
    # Nothing is inherited: API keys and tokens in the caller's environment must not reach the program.
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": "1",
    }


def rlimits(cpu_s: int, memory_bytes: int, file_bytes: int, nproc: int, uid: int | None) -> list[tuple]:
    """(name, soft, hard) rows. RLIMIT_NPROC counts every process of the uid: a throw-away uid starts at
    zero, our own uid does not, so without one the limit is on top of what we already run."""
    if uid is None:
        nproc += count_processes(os.getuid())
    return [
        ("RLIMIT_CPU", cpu_s, cpu_s + 1),
        ("RLIMIT_AS", memory_bytes, memory_bytes),
        ("RLIMIT_FSIZE", file_bytes, file_bytes),
        ("RLIMIT_CORE", 0, 0),
        ("RLIMIT_NPROC", nproc, nproc),
    ]


def _preexec(limits: list[tuple], uid: int | None) -> Callable[[], None]:
    numbered = [(getattr(resource, name), soft, hard) for name, soft, hard in limits]

    def setup() -> None:  # runs in the child between fork and exec: system calls only, no imports
        for number, soft, hard in numbered:
            resource.setrlimit(number, (soft, hard))
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

    return setup


def bwrap(
    mounts: list[rootfs.Mount],
    command: list[str],
    limits: list[tuple],
    uid: int | None,
    seccomp_fds: list[int],
) -> Start:
    """bwrap with the view, new namespaces, and the seccomp filter read from `seccomp_fds` (one or none)."""
    seccomp = [arg for fd in seccomp_fds for arg in ("--seccomp", str(fd))]
    argv = [
        "bwrap", *rootfs.bwrap_args(mounts), "--chdir", rootfs.SANDBOX_DIR,
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session", *seccomp,
        "--", *command,
    ]  # fmt: skip
    return Start(argv, minimal_env(rootfs.SANDBOX_DIR), _preexec(limits, uid))


def jail(
    mounts: list[rootfs.Mount],
    command: list[str],
    limits: list[tuple],
    uid: int | None,
    seccomp: bytes | None,
    host_dir: str,
    isolate: bool,
) -> Start:
    """The jail: with `isolate` it builds the view in `host_dir`/root; without, it runs in `host_dir`."""
    env = minimal_env(rootfs.SANDBOX_DIR if isolate else host_dir)
    config = {
        "isolate": isolate,
        "root": os.path.join(host_dir, "root"),
        "mounts": rootfs.to_json(mounts),
        "devices": list(rootfs.DEVICES),
        "cwd": rootfs.SANDBOX_DIR if isolate else host_dir,
        "uid": uid,
        "rlimits": limits,
        "seccomp": seccomp.hex() if seccomp else "",
        "argv": command,
        "env": env,
        "parent": os.getpid(),
    }
    return Start([sys.executable, "-I", "-S", JAIL, json.dumps(config)], env)
