"""Safe file writes: atomic replacement of regular files, and refusal of outputs that collide.

`atomic_path`/`atomic_open` write a temporary file next to the target, fsync it, then rename it over the
target: a crash mid-write leaves the old file (or nothing), never a truncated one, and an input is never
overwritten in place. Three cases are not a plain rename:
- An existing FIFO or character device (`/dev/null`, `/dev/stdout` on a terminal or a pipe), and anything
  under /dev or /proc (`/dev/stdout` redirected to a file), is written directly. A rename would swap the
  device node for a regular file (as root, `/dev/null` itself). Block devices, sockets and directories are
  refused.
- A symlink to a regular file keeps its link: the file it points to is the one replaced.
- A new file gets `0o666 & ~umask`, as `open()` would give it; a replaced file keeps its mode.
Every OSError while writing (read-only file system, full disk, a parent path that is a file, no permission)
is an `InputError` naming the path and the fix.

`check_outputs(inputs, outputs)` refuses two outputs, or an output and an input, that are the same file or
nest, before any work starts (`--rejected X --out X`, or an output inside an input directory that the next
run would read back).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from sftscope.errors import InputError

PathLike = str | os.PathLike

_FIXES = {
    errno.EROFS: "the file system is read-only; write to a directory on a writable disk",
    errno.ENOSPC: "the disk is full; free some space or write to another disk",
    errno.EDQUOT: "the disk quota is used up; free some space or write to another disk",
    errno.EFBIG: "the file is too large for this file system; write to another disk",
    errno.EACCES: "permission denied; write to a directory you own",
    errno.EPERM: "operation not permitted; write to a directory you own",
    errno.ENOTDIR: "a parent of this path is a file, not a directory; choose another path",
    errno.EISDIR: "it is a directory; give a file name",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
    errno.ELOOP: "the path has a symlink loop; fix the link or choose another path",
}
_ERRNO_IN_TEXT = re.compile(r"\[errno (\d+)\]", re.IGNORECASE)  # pyarrow's IO errors carry it in the text


def write_error(target: PathLike, exc: OSError) -> InputError:
    """The one-line error for an OSError raised while writing `target`."""
    code = exc.errno
    if code is None:
        found = _ERRNO_IN_TEXT.search(str(exc))
        code = int(found.group(1)) if found else None
    reason = os.strerror(code) if code else (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    fix = (
        _FIXES.get(code, "check the path and the disk") if code is not None else "check the path and the disk"
    )
    return InputError(f"{target}: cannot write ({reason}); {fix}")


def _blocking_parent(target: Path) -> Path | None:
    """The nearest existing ancestor of `target` when it is not a directory (so no file can go there)."""
    for parent in target.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def _existing(target: Path) -> os.stat_result | None:
    try:
        return target.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:  # a symlink loop, a name too long, a parent that is a file
        if exc.errno == errno.ENOTDIR:
            return None  # reported below with the offending parent named
        raise write_error(target, exc) from None


_SYSTEM_DIRS = ("/dev/", "/proc/")


def _direct(target: Path, info: os.stat_result | None) -> bool:
    """True when `target` must be written in place (FIFO, character device); refuses what cannot be."""
    if str(target.absolute()).startswith(_SYSTEM_DIRS):
        # /dev/stdout may point at a regular file (a shell redirect): write through it; never rename in /dev.
        if info is None:
            raise InputError(f"{target}: no such device; write to a file, or to /dev/stdout")
        if stat.S_ISREG(info.st_mode):
            return True
    if info is None or stat.S_ISREG(info.st_mode):
        return False
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode):
        return True
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{target}: is a directory; give a file name")
    kind = "a block device" if stat.S_ISBLK(info.st_mode) else "a socket or other special file"
    raise InputError(f"{target}: is {kind}, not a file sftscope may write; choose a regular file path")


def _create_temp(target: Path, mode: int | None) -> Path:
    """A new, empty temporary file next to `target`. os.open's mode honours the umask (mkstemp's 0600 would
    not); `mode` (the replaced file's) is set exactly."""
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        try:
            if mode is not None:
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return tmp
    raise InputError(f"{target}: cannot create a temporary file next to it; clean up .{target.name}.*.tmp")


@contextlib.contextmanager
def atomic_path(target: PathLike) -> Iterator[Path]:
    """Yield a path to write; on success it becomes `target` (see the module docstring for special files)."""
    with _writing(target) as (path, _):
        yield path


@contextlib.contextmanager
def _writing(target: PathLike) -> Iterator[tuple[Path, bool]]:
    """(path to write, whether it is the target itself, written in place)."""
    target = Path(target)
    info = _existing(target)
    if _direct(target, info):
        try:
            yield target, True
        except OSError as exc:
            raise write_error(target, exc) from None
        return
    if target.is_symlink():  # replace the file the link points to, not the link
        target = Path(os.path.realpath(target))
    blocker = _blocking_parent(target)
    if blocker is not None:
        raise InputError(
            f"{target}: cannot write ('{blocker}' is a file, not a directory); choose another path"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temp(target, stat.S_IMODE(info.st_mode) if info is not None else None)
    except OSError as exc:
        raise write_error(target, exc) from None
    try:
        try:
            yield tmp, False
        except OSError as exc:
            if exc.filename not in (None, str(tmp), tmp):
                raise  # an error about some other file (an input read inside the block): not ours to rename
            raise write_error(target, exc) from None
        try:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise write_error(target, exc) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(target: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file for writing; it replaces `target` only if the block finishes without error.

    A target written in place is appended to (the same as writing for a pipe or a device); `/dev/stdout`,
    `/dev/stderr` and `/dev/fd/N` are written through the process's own descriptor, so that output
    redirected to a file keeps what was printed before and after."""
    with _writing(target) as (path, in_place):
        kwargs = {} if "b" in mode else {"encoding": encoding}
        fd = _stream_fd(path) if in_place else None
        if fd is not None:  # share the descriptor's offset with print(), so neither overwrites the other
            sys.stdout.flush()
            sys.stderr.flush()
            with os.fdopen(os.dup(fd), mode.replace("w", "a"), **kwargs) as handle:
                yield handle
            return
        with open(path, mode.replace("w", "a") if in_place else mode, **kwargs) as handle:
            yield handle


_STREAM = re.compile(r"/dev/(stdout|stderr)|/dev/fd/(\d+)|/proc/self/fd/(\d+)")


def _stream_fd(path: Path) -> int | None:
    """The descriptor that `/dev/stdout`, `/dev/stderr` or `/dev/fd/N` names, else None."""
    found = _STREAM.fullmatch(str(path))
    if found is None:
        return None
    name, *numbers = found.groups()
    return {"stdout": 1, "stderr": 2}[name] if name else int(next(n for n in numbers if n))


def write_json(target: PathLike, payload: Any) -> None:
    with atomic_open(target) as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")


def _labelled(
    paths: Mapping[str, PathLike | None] | Iterable[PathLike | None], label: str
) -> list[tuple[str, Path]]:
    items = paths.items() if isinstance(paths, Mapping) else ((label, p) for p in paths)
    return [(label, Path(p)) for label, p in items if p is not None and str(p) != ""]


def _special(path: Path) -> bool:
    """An existing FIFO or device: writing to it twice, or reading one, is not a collision of files."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # catches hard links, which resolved names miss
    except OSError:
        return False


def _nested(inner: Path, outer: Path) -> bool:
    return inner != outer and inner.is_relative_to(outer)


def check_outputs(
    inputs: Mapping[str, PathLike | None] | Iterable[PathLike | None],
    outputs: Mapping[str, PathLike | None] | Iterable[PathLike | None],
) -> None:
    """Refuse outputs that are the same file as, or nest inside, another output or an input.

    Both arguments map a label (the flag, e.g. "--out") to a path, or list paths ("input"/"output"). Missing
    inputs (a hub id) and devices such as /dev/null are skipped.
    """
    ins = [
        (label, path) for label, path in _labelled(inputs, "input") if path.exists() and not _special(path)
    ]
    outs = [(label, path) for label, path in _labelled(outputs, "output") if not _special(path)]
    real = {id(path): Path(os.path.realpath(path)) for _, path in ins + outs}
    for i, (label, out) in enumerate(outs):
        ro = real[id(out)]
        for other_label, other in outs[i + 1 :]:
            rt = real[id(other)]
            if ro == rt or _same(out, other):
                raise InputError(
                    f"{label} {out} and {other_label} {other} are the same file; give each its own path"
                )
            if _nested(ro, rt) or _nested(rt, ro):
                raise InputError(
                    f"{label} {out} and {other_label} {other} nest in each other; use separate paths"
                )
        for in_label, src in ins:
            ri = real[id(src)]
            if ro == ri or _same(out, src):
                raise InputError(f"{label} {out}: would overwrite the {in_label} {src}; choose another path")
            if _nested(ro, ri):
                raise InputError(
                    f"{label} {out}: is inside the {in_label} directory {src}, so the next read of {src} would "
                    "pick it up; write it elsewhere"
                )
            if _nested(ri, ro):
                raise InputError(f"{label} {out}: contains the {in_label} {src}; write it elsewhere")
