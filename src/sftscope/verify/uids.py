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
    of the uid in one pass, so a fork bomb cannot outrun it the way it outruns a scan of /proc.
    """
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
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1 0").split()[0]) == uid and not fields.get(
            "State", ""
        ).strip().startswith("Z"):
            live.append(int(entry))
    return live
