"""Data variants that isolate what the paper varies: the think block, the explanation, the data size.

- `nocot` (Math-NoCoT): drop `<think>…</think>`, keep the summary and the boxed answer that follow it.
- `answer-only`: keep only `\\boxed{answer}` (the last box of the response).
- `subset`: a seeded random subset of `n` rows, in the original order (the paper's 2.5k-row arm).

Rows that cannot take a variant (no closed think block for `nocot`, no box for `answer-only`) are dropped
and counted, never silently rewritten.
"""

from __future__ import annotations

import random
from dataclasses import replace

from sftscope.errors import InputError
from sftscope.records import THINK_CLOSE, SFTRow, split_think
from sftscope.verify.boxed import last_boxed

KINDS = ("nocot", "answer-only", "subset")


def make_variant(
    rows: list[SFTRow], kind: str, n: int | None = None, seed: int = 0
) -> tuple[list[SFTRow], dict]:
    """The variant rows and a summary {kind, rows_in, rows_out, dropped}."""
    if kind == "subset":
        if n is None or n < 1:
            raise InputError("--kind subset needs --n N (at least 1)")
        if n > len(rows):
            raise InputError(f"--n {n} is larger than the input ({len(rows)} rows)")
        picked = sorted(random.Random(f"subset:{seed}").sample(range(len(rows)), n))
        out = [rows[i] for i in picked]
    elif kind == "nocot":
        out = []
        for row in rows:
            think, after = split_think(row.response)
            if think is None or THINK_CLOSE not in row.response or not after.strip():
                continue
            out.append(
                replace(row, response=after.strip(), logprobs=None, entropies=None, extra=dict(row.extra))
            )
    elif kind == "answer-only":
        out = []
        for row in rows:
            boxed = last_boxed(split_think(row.response)[1])
            if boxed is None:
                continue
            out.append(
                replace(
                    row, response=f"\\boxed{{{boxed}}}", logprobs=None, entropies=None, extra=dict(row.extra)
                )
            )
    else:
        raise InputError(f"unknown variant kind {kind!r}; use one of {', '.join(KINDS)}")
    summary = {"kind": kind, "rows_in": len(rows), "rows_out": len(out), "dropped": len(rows) - len(out)}
    return out, summary
