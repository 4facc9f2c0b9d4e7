"""A seccomp filter for sandboxed programs: no unix-domain sockets, no new namespaces, no io_uring, native
system calls only.

Namespaces hide the network and abstract unix sockets, but a filesystem unix socket is reachable from any
mount namespace that can see its path, and a read-only mount does not stop `connect()` to it (the kernel
exempts sockets from the read-only check). So the program may not create AF_UNIX sockets at all:
`socket(AF_UNIX, ...)` fails with EACCES. `socketpair()` stays allowed (asyncio and multiprocessing pipes use
it, and its sockets are unnamed). `io_uring_setup` is refused because io_uring can open and connect sockets
without the `socket` system call.

New namespaces are refused too (`unshare`, and `clone` with a CLONE_NEW* flag: EPERM): inside its own user
namespace a program may mount a tmpfs of any size, which is host memory that no rlimit counts. `clone3`
passes its flags in memory that a filter cannot read, so it fails with ENOSYS and the C library falls back
to `clone` (what container runtimes do). System calls of another ABI (i386, x32) kill the process: the
filter only knows the native numbers.

The filter is classic BPF, the format that `bwrap --seccomp FD` reads and that `prctl(PR_SET_SECCOMP)`
loads. It is assembled here by hand (a dozen instructions) because libseccomp's Python binding is not on
PyPI; `filter_bytes()` returns None on architectures whose numbers we do not carry.
"""

from __future__ import annotations

import errno
import platform
import struct
from dataclasses import dataclass

# linux/filter.h and linux/seccomp.h
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
RET_KILL_PROCESS = 0x80000000
# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (little-endian: low word first)
_NR, _ARCH, _ARG0_LOW = 0, 4, 16
AF_UNIX = 1
_X32_BIT = 0x40000000
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000


@dataclass(frozen=True)
class _Arch:
    audit_arch: int  # AUDIT_ARCH_*
    socket: int
    clone: int
    unshare: int
    clone3: int = 435
    io_uring_setup: int = 425
    has_x32: bool = False


_ARCHES = {
    "x86_64": _Arch(0xC000003E, socket=41, clone=56, unshare=272, has_x32=True),
    "aarch64": _Arch(0xC00000B7, socket=198, clone=220, unshare=97),
}


def _assemble(program: list[tuple]) -> bytes:
    """(code, k, jump-if-true label, jump-if-false label) rows and ("label", name) markers -> sock_filter[]."""
    positions: dict[str, int] = {}
    rows = []
    for item in program:
        if item[0] == "label":
            positions[item[1]] = len(rows)
        else:
            rows.append(item)
    out = []
    for index, (code, k, jt, jf) in enumerate(rows):

        def offset(label: str | None, index: int = index) -> int:
            return 0 if label is None else positions[label] - index - 1

        out.append(struct.pack("=HBBI", code, offset(jt), offset(jf), k))
    return b"".join(out)


def filter_bytes(machine: str | None = None) -> bytes | None:
    """The compiled filter for `machine` (default: this one), or None when we have no numbers for it."""
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    program: list[tuple] = [
        (_LD_W_ABS, _ARCH, None, None),
        (_JEQ_K, arch.audit_arch, "native", "kill"),
        ("label", "native"),
        (_LD_W_ABS, _NR, None, None),
    ]
    if arch.has_x32:
        program.append((_JGE_K, _X32_BIT, "kill", None))
    program += [
        (_JEQ_K, arch.io_uring_setup, "eperm", None),
        (_JEQ_K, arch.unshare, "eperm", None),
        (_JEQ_K, arch.clone3, "enosys", None),
        (_JEQ_K, arch.clone, "clone", None),
        (_JEQ_K, arch.socket, "socket", "allow"),
        ("label", "clone"),
        (_LD_W_ABS, _ARG0_LOW, None, None),
        (_JSET_K, CLONE_NEW_ANY, "eperm", "allow"),
        ("label", "socket"),
        (_LD_W_ABS, _ARG0_LOW, None, None),
        (_JEQ_K, AF_UNIX, "eacces", "allow"),
        ("label", "allow"),
        (_RET_K, RET_ALLOW, None, None),
        ("label", "eacces"),
        (_RET_K, RET_ERRNO | errno.EACCES, None, None),
        ("label", "eperm"),
        (_RET_K, RET_ERRNO | errno.EPERM, None, None),
        ("label", "enosys"),
        (_RET_K, RET_ERRNO | errno.ENOSYS, None, None),
        ("label", "kill"),
        (_RET_K, RET_KILL_PROCESS, None, None),
    ]
    return _assemble(program)
