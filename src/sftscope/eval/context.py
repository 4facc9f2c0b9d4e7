"""Build the `ScoreContext` of a run from its options: the judge backend, and the code-execution policy.

A judge is any backend (an OpenAI-compatible server by default: the paper's judges are GPT-4.1-class
models reached over HTTP); it is built once per run and shared by every task that needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sftscope.eval.spec import ScoreContext

UNSAFE_ENV = "SFTSCOPE_SANDBOX"  # =unsafe opts in to running generated code without a sandbox that holds


@dataclass(frozen=True)
class JudgeOptions:
    model: str | None = None  # None: no judge
    backend: str = "openai"
    base_url: str | None = None


def build_context(
    judge: JudgeOptions | None = None,
    *,
    unsafe_code_exec: bool = False,
    threads: int = 2,
    timeout: float = 10.0,
) -> ScoreContext:
    generator = None
    if judge is not None and judge.model:
        from sftscope.eval.backends.base import make_backend

        opts = {"base_url": judge.base_url} if judge.backend == "openai" else {}
        generator = make_backend(judge.backend, judge.model, **opts)
    unsafe = unsafe_code_exec or os.environ.get(UNSAFE_ENV, "").strip().lower() == "unsafe"
    return ScoreContext(judge=generator, unsafe_code_exec=unsafe, threads=threads, timeout=timeout)
