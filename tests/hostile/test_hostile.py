"""The hostile-code corpus (hostile_cases.py) in every sandbox mode this machine has.

A batch per mode: hostile_runner.py scores every case at once (threads; the fork bomb alone) as root or as a
throw-away uid, with a planted host to attack: world-writable unix sockets (filesystem and abstract), a TCP
listener, a process whose command line holds an API key, the scorer's ~/.bashrc, a world-writable directory,
and a decoy process of the scorer's uid. After the batch the host is inspected for files and processes that
carry the case's marker. Modes that need what this machine lacks (bubblewrap, root) are skipped with the
reason; the unsafe mode runs only the cases that do not depend on isolation.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile_cases import CASES, SECRET_ENV, Case

from sftscope.verify import sandbox, uids

ROOT = os.geteuid() == 0
SRC = Path(__file__).resolve().parents[2] / "src"
RUNNER = Path(__file__).with_name("hostile_runner.py")
UNSAFE_SKIP = (
    "the unsafe mode gives the program the scorer's own rights (that is why it needs --unsafe-code-exec); "
    "only rlimits, the wall clock, the output cap and the harness are expected to hold there"
)


@dataclass(frozen=True)
class ModeSpec:
    name: str
    root: bool  # the scorer runs as root; else as a throw-away uid (or as ourselves without root)
    policy: str  # SFTSCOPE_SANDBOX
    allow_unsafe: bool
    expect: str  # the mode the scorer must end up in


MODE_SPECS = [
    ModeSpec("bwrap-root", True, "auto", False, "bwrap"),
    ModeSpec("fallback-root", True, "fallback", False, "fallback-root"),
    ModeSpec("bwrap-user", False, "auto", False, "bwrap"),
    ModeSpec("unsafe-user", False, "fallback", True, "unsafe"),
]
REFUSED = ModeSpec("refused-user", False, "fallback", False, "refused")


class Plants:
    """The host the programs attack, and counters of what reached it."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(3)
        self.base = Path(tempfile.mkdtemp(prefix="sftscope-hostile-", dir="/var/tmp"))
        os.chmod(self.base, 0o777)  # world-writable: only invisibility keeps a program out
        self.keep = self.base / "keep.txt"
        self.keep.write_text("keep me\n")
        os.chmod(self.keep, 0o666)
        self.secret = f"sk-hostile-{secrets.token_hex(12)}"
        self.secret_env = f"env-secret-{secrets.token_hex(8)}"
        self.abstract = f"sftscope-hostile-{self.token}"
        self.accepted = {"unix": 0, "tcp": 0}
        self.socket_paths = [str(self.base / "host.sock")]
        if os.access("/run", os.W_OK):
            self.socket_paths.append(f"/run/sftscope-hostile-{self.token}.sock")
        self._listeners: list[tuple[socket.socket, str]] = []
        for path in self.socket_paths:
            self._listen(socket.AF_UNIX, path, "unix")
            os.chmod(path, 0o666)
        self._listen(socket.AF_UNIX, "\0" + self.abstract, "unix")
        self.tcp_port = self._listen(socket.AF_INET, ("127.0.0.1", 0), "tcp").getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        self.planted = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)", f"--api-key={self.secret}"]
        )

    def _listen(self, family: int, address, kind: str) -> socket.socket:
        server = socket.socket(family, socket.SOCK_STREAM)
        server.bind(address)
        server.listen(8)
        server.setblocking(False)
        self._listeners.append((server, kind))
        return server

    def _accept(self) -> None:
        sel = selectors.DefaultSelector()
        for server, kind in self._listeners:
            sel.register(server, selectors.EVENT_READ, kind)
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=0.1):
                try:
                    conn, _ = key.fileobj.accept()
                except BlockingIOError:
                    continue
                conn.close()
                self.accepted[key.data] += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for server, _ in self._listeners:
            server.close()
        for path in self.socket_paths:
            Path(path).unlink(missing_ok=True)
        self.planted.kill()
        self.planted.wait()
        shutil.rmtree(self.base, ignore_errors=True)


def _markers(plants: Plants, spec: ModeSpec) -> dict[str, str]:
    index = [*MODE_SPECS, REFUSED].index(spec)
    return {case.name: f"sfh{plants.token}{index}{i:02d}" for i, case in enumerate(CASES)}  # <= 15 chars


def _marked_processes(markers: dict[str, str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    by_marker = {marker: case for case, marker in markers.items()}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if comm in by_marker and state != "Z":
            found.setdefault(by_marker[comm], []).append(int(pid))
    return found


def _marked_files(markers: dict[str, str], dirs: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for directory in dirs:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            for case, marker in markers.items():
                if marker in name:
                    found.setdefault(case, []).append(str(directory / name))
    return found


def _scorer_python() -> str:
    if sandbox._world_executable(sys.executable):
        return sys.executable
    return "/usr/bin/python3"


def _run_batch(plants: Plants, spec: ModeSpec, cases: list[Case]) -> dict:
    """Run `cases` as the scorer of `spec`; returns the runner's output plus `post`, or {"skip": reason}."""
    if spec.root and not ROOT:
        return {"skip": "needs root"}
    if spec.expect == "bwrap" and shutil.which("bwrap") is None:
        return {"skip": "bubblewrap is not installed (make sysdeps installs it)"}
    markers = _markers(plants, spec)
    home = plants.base / f"home-{spec.name}"
    home.mkdir()
    bashrc = home / ".bashrc"
    bashrc.write_text("# the scorer's shell settings\n")
    user = {}
    python = sys.executable
    if not spec.root and ROOT:  # a throw-away uid plays the unprivileged user
        uid = uids.fresh_uid()
        os.chown(home, uid, uid)
        os.chown(bashrc, uid, uid)
        user = {"user": uid, "group": uid, "extra_groups": []}
        python = _scorer_python()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": str(SRC),
        "SFTSCOPE_SANDBOX": spec.policy,
        "OMP_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
        SECRET_ENV: plants.secret_env,
    }
    params = {
        "markers": markers,
        "bashrc": str(bashrc),
        "outside": str(plants.base),
        "keep": str(plants.keep),
        "sockets": plants.socket_paths,
        "abstract": plants.abstract,
        "tcp_port": plants.tcp_port,
        "secret": plants.secret,
    }
    payload = {
        "cases": [
            {
                "name": c.name,
                "program": c.program,
                "kind": c.kind,
                "limits": c.limits,
                "exclusive": c.exclusive,
            }
            for c in cases
        ],
        "params": params,
        "allow_unsafe": spec.allow_unsafe,
        "workers": 6,
        "run_refused": spec.expect == "refused",
    }
    accepted_before = dict(plants.accepted)
    proc = subprocess.run(
        [python, str(RUNNER)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=240,
        **user,
    )
    deadline = time.monotonic() + 3.0
    while (live := _marked_processes(markers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    files = _marked_files(
        markers,
        [Path(d) for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/etc", "/usr", "/")]
        + [plants.base, home],
    )
    if user:
        uids.reap_uid(user["user"])
    if proc.returncode != 0 or not proc.stdout.strip():
        if "ModuleNotFoundError" in proc.stderr or "Permission denied" in proc.stderr:
            return {"skip": f"the unprivileged scorer cannot load sftscope here: {proc.stderr[-300:]}"}
        raise AssertionError(f"the scorer died (status {proc.returncode}): {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout)
    if out["status"]["mode"] != spec.expect:
        return {"skip": f"mode {spec.expect} is not available here: {out['status']['reason']}"}
    out["post"] = {
        "mode": spec.expect,
        "live": live,
        "files": files,
        "bashrc": bashrc.read_text(),
        "keep": plants.keep.read_text() if plants.keep.exists() else None,
        "bashrc_before": "# the scorer's shell settings\n",
        "accepted": {k: plants.accepted[k] - accepted_before[k] for k in plants.accepted},
        "decoy_alive": out["decoy_alive"],
        "secret_env": plants.secret_env,
    }
    return out


@pytest.fixture(scope="module")
def plants():
    planted = Plants()
    yield planted
    planted.close()


@pytest.fixture(scope="module")
def batches(plants):
    cache: dict[str, dict] = {}

    def get(spec: ModeSpec) -> dict:
        if spec.name not in cache:
            cases = [c for c in CASES if c.unsafe or spec.expect != "unsafe"]
            if spec.expect == "refused":
                cases = [c for c in CASES if c.name in ("write-outside", "sentinel-forgery")]
            cache[spec.name] = _run_batch(plants, spec, cases)
        batch = cache[spec.name]
        if "skip" in batch:
            pytest.skip(batch["skip"])
        return batch

    return get


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("spec", MODE_SPECS, ids=[s.name for s in MODE_SPECS])
def test_hostile_program_is_contained(spec: ModeSpec, case: Case, batches):
    if spec.expect == "unsafe" and not case.unsafe:
        pytest.skip(UNSAFE_SKIP)
    batch = batches(spec)
    result = batch["results"][case.name]
    assert "exception" not in result, result["exception"]
    if "mode" in result:
        assert result["mode"] == spec.expect
    case.check(result, batch["post"])


def test_without_bwrap_or_root_code_is_refused_with_the_reason(batches):
    batch = batches(REFUSED)
    reason = batch["status"]["reason"]
    assert "not root" in reason and "--unsafe-code-exec" in reason and "SFTSCOPE_SANDBOX=unsafe" in reason
    for name, result in batch["results"].items():
        assert result.get("exception", "").startswith("SandboxRefused: cannot run generated code safely"), (
            name
        )
    assert batch["post"]["bashrc"] == batch["post"]["bashrc_before"]  # nothing ran
