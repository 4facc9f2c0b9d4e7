"""A seccomp filter for sandboxed programs: no unix-domain sockets, no io_uring, native system calls only.

Namespaces hide the network and abstract unix sockets, but a filesystem unix socket is reachable from any
mount namespace that can see its path, and a read-only mount does not stop `connect()` to it (the kernel
exempts sockets from the read-only check). So the program may not create AF_UNIX sockets at all:
`socket(AF_UNIX, ...)` fails with EACCES. `socketpair()` stays allowed (asyncio and multiprocessing pipes use
it, and its sockets are unnamed). `io_uring_setup` is refused because io_uring can open and connect sockets
without the `socket` system call. System calls of another ABI (i386, x32) kill the process: the filter
only knows the native numbers.

The filter is classic BPF, the format that `bwrap --seccomp FD` reads and that `prctl(PR_SET_SECCOMP)`
loads. It is assembled here by hand (a dozen instructions) because libseccomp's Python binding is not on
PyPI; `filter_bytes()` returns None on architectures whose numbers we do not carry.
"""

from __future__ import annotations

import errno
import platform
import struct

# linux/filter.h and linux/seccomp.h
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
RET_KILL_PROCESS = 0x80000000
# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (little-endian: low word first)
_NR, _ARCH, _ARG0_LOW = 0, 4, 16
AF_UNIX = 1
_X32_BIT = 0x40000000

# machine: (AUDIT_ARCH_*, socket, io_uring_setup, has x32 numbers)
_ARCHES = {
    "x86_64": (0xC000003E, 41, 425, True),
    "aarch64": (0xC00000B7, 198, 425, False),
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
    audit_arch, nr_socket, nr_io_uring_setup, has_x32 = arch
    program: list[tuple] = [
        (_LD_W_ABS, _ARCH, None, None),
        (_JEQ_K, audit_arch, "native", "kill"),
        ("label", "native"),
        (_LD_W_ABS, _NR, None, None),
    ]
    if has_x32:
        program.append((_JGE_K, _X32_BIT, "kill", None))
    program += [
        (_JEQ_K, nr_io_uring_setup, "eperm", None),
        (_JEQ_K, nr_socket, "socket", "allow"),
        ("label", "socket"),
        (_LD_W_ABS, _ARG0_LOW, None, None),
        (_JEQ_K, AF_UNIX, "eacces", "allow"),
        ("label", "allow"),
        (_RET_K, RET_ALLOW, None, None),
        ("label", "eacces"),
        (_RET_K, RET_ERRNO | errno.EACCES, None, None),
        ("label", "eperm"),
        (_RET_K, RET_ERRNO | errno.EPERM, None, None),
        ("label", "kill"),
        (_RET_K, RET_KILL_PROCESS, None, None),
    ]
    return _assemble(program)
