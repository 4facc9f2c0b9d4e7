"""Talking to a sandboxed child: feed its stdin, read its output within a byte and time budget, read the
nonce-signed report pipe, and kill its whole process group."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time

REPORT_BYTES = 65536


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group, again while members remain (a fork racing the first signal survives it)."""
    for _ in range(10):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.005)
            os.killpg(proc.pid, 0)  # raises once the group is empty (zombies still count, briefly)
        except (ProcessLookupError, PermissionError):
            return
        proc.poll()  # reap our direct child so that it leaves the group


def collect(
    proc: subprocess.Popen, stdin: bytes, wall_s: float, output_bytes: int
) -> tuple[str, bytes, bytes]:
    """Feed stdin, read stdout/stderr up to the byte budget, enforce the wall clock. Returns (status, out, err)."""
    deadline = time.monotonic() + wall_s
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
            if total > output_bytes:
                status = "output-limit"
                open_readers = 0
                break
    sel.close()
    if status == "done":  # both streams closed; the program may still be running
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.001))
        except subprocess.TimeoutExpired:
            status = "timeout"
    out = b"".join(chunks[proc.stdout.fileno()])[:output_bytes]
    err = b"".join(chunks[proc.stderr.fileno()])[:output_bytes]
    return status, out, err


def read_report(fd: int, nonce: str) -> str | None:
    """The payload of the last `<nonce> <payload>` line on the report pipe (read without blocking)."""
    os.set_blocking(fd, False)
    data = b""
    try:
        while len(data) < REPORT_BYTES and (chunk := os.read(fd, REPORT_BYTES)):
            data += chunk
    except BlockingIOError:
        pass
    prefix = f"{nonce} "
    lines = data[:REPORT_BYTES].decode("utf-8", errors="replace").splitlines()
    signed = [line[len(prefix) :] for line in lines if line.startswith(prefix)]
    return signed[-1] if signed else None


def pipe_with(data: bytes) -> int:
    """The read end of a pipe that holds `data` (small: it must fit the pipe buffer) and then EOF."""
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    return read_end
