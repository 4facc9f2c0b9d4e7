"""The fallback sandbox's launcher: builds with system calls what bwrap would, when bwrap is missing or
cannot start. `verify/sandbox.py` runs it as its own interpreter, `python -I -S jail.py CONFIG_JSON`, so
that no work happens between fork and exec of a threaded scorer; it imports only the standard library.

With `isolate` (the "fallback-root" mode; root only), every step must succeed or the run fails with exit
status 125 and a `sftscope-jail:` line on stderr:

1. new mount, PID, network, IPC and UTS namespaces (`unshare`);
2. a fork: the child is PID 1 of the new namespace. When it exits the kernel kills everything left in the
   namespace, so daemons die with the run. The parent relays its exit status (128 + N for signal N, as
   bwrap does) and dies with the scorer (PR_SET_PDEATHSIG);
3. PID 1 makes mounts private and builds the view of `verify/rootfs.py` in a fresh tmpfs: read-only
   binds, symlinks, capped tmpfs for /tmp and /dev/shm, a /dev of harmless devices, a /proc of the new
   namespace; then remounts /dev and the root read-only and chroots into it;
4. PID 1 forks the program, which starts a session, takes its rlimits, drops to the throw-away uid, loads
   the seccomp filter (no_new_privs first) and execs the interpreter. PID 1 reaps orphans until the
   program exits, then exits with its status.

Without `isolate` (the "unsafe" mode the user opted in to) only rlimits, the uid switch when root, the
seccomp filter and a network namespace are attempted, each best effort, and the program is exec'd in place.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS = 1, 22, 38
SECCOMP_MODE_FILTER = 2
SETUP_FAILED = 125

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


class SetupError(Exception):
    """A step of the sandbox could not be built."""


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result: int, what: str) -> None:
    if result != 0:
        raise SetupError(f"{what}: {os.strerror(ctypes.get_errno())}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(encode(src), encode(dst), encode(fstype), flags, encode(data)), f"mount {dst}")


def _die_with_parent() -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def _load_seccomp(program: bytes) -> None:
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0), "seccomp")


def _bind_readonly(src: str, dst: str) -> None:
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "a").close()  # a file bind needs a file to cover
    # Not MS_REC: submounts would stay writable, so they are left out (bwrap's --ro-bind does the same).
    _mount(src, dst, None, MS_BIND)
    _mount(None, dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _make_dev(dst: str, devices: list[str]) -> None:
    os.makedirs(dst, exist_ok=True)
    _mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for name in devices:
        if os.path.exists(f"/dev/{name}"):
            open(f"{dst}/{name}", "a").close()
            _mount(f"/dev/{name}", f"{dst}/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0")):
        os.symlink(target, f"{dst}/{name}")
    os.symlink("/proc/self/fd/1", f"{dst}/stdout")
    os.symlink("/proc/self/fd/2", f"{dst}/stderr")
    os.makedirs(f"{dst}/shm", exist_ok=True)


def _build_root(root: str, mounts: list[dict], devices: list[str]) -> None:
    """The view of verify/rootfs.py under `root` (a fresh tmpfs), read-only apart from its tmpfs mounts."""
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for entry in mounts:
        kind, dst = entry["kind"], root + entry["dst"]
        if kind == "ro-bind":
            _bind_readonly(entry["src"], dst)
        elif kind == "symlink":
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.symlink(entry["src"], dst)
        elif kind == "tmpfs":
            os.makedirs(dst, exist_ok=True)
            size = f"size={entry['size']}," if entry["size"] else ""
            _mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, f"{size}mode=1777")
        elif kind == "dev":
            _make_dev(dst, devices)
        elif kind == "proc":
            os.makedirs(dst, exist_ok=True)
            _mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        else:
            raise SetupError(f"unknown mount kind {kind!r}")
    _mount(None, root + "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _exit_code(status: int) -> int:
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _exec_program(config: dict, strict: bool) -> None:
    """In the program's own process: session, rlimits, uid, seccomp, then exec. Never returns."""
    if strict:
        os.setsid()
    for name, soft, hard in config["rlimits"]:
        resource.setrlimit(getattr(resource, name), (soft, hard))
    uid = config["uid"]
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    _die_with_parent()  # after the uid change, which clears the parent-death signal
    if config["seccomp"]:
        try:
            _load_seccomp(bytes.fromhex(config["seccomp"]))
        except SetupError:
            if strict:
                raise
    os.execve(config["argv"][0], config["argv"], config["env"])


def _init(config: dict) -> None:
    """PID 1 of the new namespace: build the view, run the program, reap, exit with its status."""
    _die_with_parent()
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _build_root(config["root"], config["mounts"], config["devices"])
    os.chroot(config["root"])
    os.chdir(config["cwd"])
    program = os.fork()
    if program == 0:
        try:
            _exec_program(config, strict=True)
        except BaseException as exc:  # any failure before exec is a setup failure, never a verdict
            _fail(exc)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(SETUP_FAILED)
        if pid == program:
            os._exit(_exit_code(status))


def _unshare_network() -> None:
    # Best effort: root makes a network namespace directly; another user only inside a user namespace.
    if _libc.unshare(CLONE_NEWNET) != 0:
        _libc.unshare(CLONE_NEWUSER | CLONE_NEWNET)


def _fail(exc: BaseException) -> None:
    os.write(2, f"sftscope-jail: {exc}\n".encode(errors="replace"))
    os._exit(SETUP_FAILED)


def main() -> None:
    config = json.loads(sys.argv[1])
    try:
        _die_with_parent()
        if os.getppid() != config["parent"]:  # the scorer died before the line above
            os._exit(SETUP_FAILED)
        if not config["isolate"]:
            _unshare_network()
            _exec_program(config, strict=False)
        _check(
            _libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare"
        )
        init = os.fork()
        if init == 0:
            try:
                _init(config)
            except BaseException as exc:
                _fail(exc)
        _, status = os.waitpid(init, 0)
        os._exit(_exit_code(status))
    except (SetupError, OSError) as exc:
        _fail(exc)


if __name__ == "__main__":
    main()
