"""The sweep's progress bar: checkpoints x tasks done, with an ETA, on stderr (rich).

Silent when disabled; `describe` names what runs now (step, task, samples done).
"""

from __future__ import annotations


class SweepProgress:
    """checkpoints × tasks done, with an ETA, on stderr (rich); silent when disabled or not a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar = None
        self._task = None

    def __enter__(self) -> SweepProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("sweep {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("checkpoint×task  ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def grow(self, n: int) -> None:
        if self._bar is not None and n:
            total = self._bar.tasks[0].total or 0
            self._bar.update(self._task, total=total + n)

    def advance(self, n: int, description: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=n, description=description)

    def describe(self, description: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=description)
