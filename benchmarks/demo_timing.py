"""Time the mini-lab (`make demo`): a first run into a fresh folder, then a second run that reuses it.

    .venv/bin/python benchmarks/demo_timing.py                      # the real demo (minutes on 2 cores)
    .venv/bin/python benchmarks/demo_timing.py --set sft_steps=100  # any `sftscope lab --set` override
    .venv/bin/python benchmarks/demo_timing.py --json timing.json

Both runs go through the console script, so import time counts, as it does for `make demo`. Targets: the
first run <= 10 min on 2 idle cores (the pipeline part of `make demo`'s 15 min), the second <= 2 min. The
machine's load average is printed, because timings on a shared machine are inflated.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SFTSCOPE = Path(sys.executable).with_name("sftscope")


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=None, help="lab folder (default: a fresh temp dir, deleted after)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="LabConfig override")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    temp = None if args.out else tempfile.mkdtemp(prefix="sftscope-demo-")
    out = Path(args.out or temp) / "lab"
    if out.exists():
        shutil.rmtree(out)
    cmd = [str(SFTSCOPE), "lab", "--out", str(out), "--no-progress", *(f"--set={s}" for s in args.overrides)]
    try:
        load_before = os.getloadavg()[0]
        first = timed(cmd)
        second = timed(cmd)
        load_after = os.getloadavg()[0]
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    result = {
        "first_s": round(first, 1),
        "second_s": round(second, 1),
        "ratio": round(first / second, 1),
        "load_avg_1min": [round(load_before, 2), round(load_after, 2)],
        "cpus": os.cpu_count(),
        "overrides": args.overrides,
    }
    print(f"mini-lab first run:  {first:7.1f} s")
    print(f"mini-lab second run: {second:7.1f} s (cached)")
    print(
        f"ratio: {first / second:.1f}x   load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} CPUs"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
