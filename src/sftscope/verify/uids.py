"""Throw-away uids for sandboxed programs: pick one, count its processes, and kill all of them.

When the sandbox runs as root, every program gets its own uid from a range no account uses. The kernel then
counts RLIMIT_NPROC per program, and everything a program leaves behind (even processes that left its
process group) can be killed by uid in one pass.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time

# uids 1_000_000_000+ are outside every distribution's account ranges and inside the kernel's 32-bit range.
SANDBOX_UID_BASE = 1_000_000_000
SANDBOX_UID_SPAN = 1_000_000


def count_processes(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                count += os.stat(f"/proc/{entry}").st_uid == uid
    return count


def fresh_uid() -> int:
    """A fresh throw-away uid for one run (a collision between concurrent runs needs 1 in a million luck)."""
    return SANDBOX_UID_BASE + random.randrange(SANDBOX_UID_SPAN)


def reap_uid(uid: int) -> None:
    """Kill every process that runs as this run's throw-away uid (it belongs to nothing else).

    A child switches to that uid and calls kill(-1, SIGKILL), which the kernel delivers to every process
    of the uid in one pass, so a fork bomb cannot outrun it the way it outruns a scan of /proc. The usual
    case, nothing left (a PID namespace dies with its first process), costs one scan and no fork.
    """
    if not live_processes(uid):
        return
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child only makes system calls, then exits
            try:
                os.setgid(uid)
                os.setuid(uid)
                for _ in range(2):
                    with contextlib.suppress(OSError):
                        os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        if not live_processes(uid):
            return
        time.sleep(0.02)


def live_processes(uid: int) -> list[int]:
    """Processes of `uid` that are not zombies (a zombie is already dead, waiting for its parent)."""
    live = []
    for entry in os.listdir("/proc"):
        try:
            # stat first: reading every process's status file costs milliseconds on a busy machine
            if not entry.isdigit() or os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]  # the command name may hold spaces
        except (OSError, IndexError):
            continue
        if state != "Z":
            live.append(int(entry))
    return live
