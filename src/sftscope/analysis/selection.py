"""Which results of a task make its curve: one task_version and one protocol, never a mix.

A bumped scorer or prompt (a new task_version), or another evaluation protocol ("paper": as the reference
code scored it; "strict": only an answer after a closed think block counts), measures something else, so
samples of two versions or two protocols never share a curve.

- version: the one evaluated at the most checkpoints (then the one that reaches the later step);
- protocol, within that version: the one evaluated at the most checkpoints, "paper" on a tie (the numbers
  comparable with the paper's tables), so a protocol rescored at a few checkpoints never cuts the curve
  short. The other protocol's samples of the same completions still serve to measure the credit that came
  from unfinished thinking (`thinking.py`).
Every choice among several is said in a note.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sftscope.records import SampleRecord

PREFERRED_PROTOCOL = "paper"


@dataclass
class Selection:
    records: list[SampleRecord]  # the chosen (version, protocol) of every task
    versions: dict[str, str]  # task -> chosen version
    protocols: dict[str, str]  # task -> chosen protocol
    notes: list[str] = field(default_factory=list)
    same_version: list[SampleRecord] = field(default_factory=list)  # chosen version, every protocol


def most_evaluated(options: dict[str, set[int]]) -> str:
    """The option seen at the most steps, then the one reaching the later step, then the later name."""
    return max(sorted(options), key=lambda o: (len(options[o]), max(options[o])))


def select(records: Iterable[SampleRecord]) -> Selection:
    records = list(records)
    seen: dict[str, dict[str, dict[str, set[int]]]] = {}  # task -> version -> protocol -> steps
    for r in records:
        seen.setdefault(r.task, {}).setdefault(r.task_version, {}).setdefault(r.protocol, set()).add(r.step)
    versions: dict[str, str] = {}
    protocols: dict[str, str] = {}
    notes = []
    for task, by_version in sorted(seen.items()):
        steps = {v: set().union(*by_version[v].values()) for v in by_version}
        version = versions[task] = most_evaluated(steps)
        if len(by_version) > 1:
            notes.append(
                f"Task {task} has results for versions {', '.join(sorted(by_version))}; "
                f"the report uses version {version} (evaluated at the most checkpoints)."
            )
        by_protocol = by_version[version]
        protocol = max(
            sorted(by_protocol),
            key=lambda p: (len(by_protocol[p]), p == PREFERRED_PROTOCOL, max(by_protocol[p])),
        )
        protocols[task] = protocol
        if len(by_protocol) > 1:
            tied = len({len(steps) for steps in by_protocol.values()}) == 1
            why = (
                "the reference protocol"
                if tied and protocol == PREFERRED_PROTOCOL
                else "evaluated at the most checkpoints"
            )
            notes.append(
                f"Task {task} has results under protocols {', '.join(sorted(by_protocol))}; its curve uses "
                f"{protocol} ({why}), and protocols never mix in one curve."
            )
    same_version = [r for r in records if versions[r.task] == r.task_version]
    chosen = [r for r in same_version if protocols[r.task] == r.protocol]
    return Selection(chosen, versions, protocols, notes, same_version)
