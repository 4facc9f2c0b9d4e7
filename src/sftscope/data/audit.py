"""`data audit`: what is in an SFT file, before anyone trains on it.

Counts rows; prompt and response lengths (tokens with a tokenizer, characters without) with percentiles and
the share over a `max_length` budget; the share with a think block, with a boxed answer and (optionally)
verified; behaviour markers per 1k tokens (`sftscope.data.markers`); teacher logprob/entropy summaries
when those columns exist. Without a tokenizer, marker rates use whitespace words as tokens and the budget
check uses chars/4 as a token estimate; the report says which basis it used.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from sftscope.data.markers import MARKERS, count_markers
from sftscope.errors import InputError
from sftscope.records import THINK_CLOSE, SFTRow, split_think
from sftscope.verify.boxed import last_boxed

CHARS_PER_TOKEN = 4  # rough English/LaTeX average, used only for the budget estimate without a tokenizer


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))])

    return {
        "mean": round(statistics.fmean(values), 2),
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "max": at(1.0),
    }


def load_tokenizer(path: str):
    from transformers import AutoTokenizer  # deferred: transformers costs seconds to import

    try:
        return AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # a missing dir, no tokenizer files, no network for a hub id
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(f"{path}: cannot load a tokenizer ({first})") from None


def _token_counts(rows: list[SFTRow], tokenizer) -> tuple[list[int], list[int]]:
    prompts = []
    for row in rows:
        if getattr(tokenizer, "chat_template", None):
            prompts.append(
                tokenizer.apply_chat_template(row.messages, add_generation_prompt=True, tokenize=False)
            )
        else:
            prompts.append("\n".join(turn["content"] for turn in row.messages))
    prompt_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer([row.response for row in rows], add_special_tokens=False)["input_ids"]
    # +1: training appends EOS to every response (docs/paper.md § Training recipe).
    return [len(ids) for ids in prompt_ids], [len(ids) + 1 for ids in response_ids]


def audit_rows(
    rows: list[SFTRow],
    *,
    tokenizer=None,
    max_length: int | None = None,
    verdicts: list | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """The audit as a JSON-ready dict."""
    n = len(rows)
    if tokenizer is not None:
        prompt_len, response_len = _token_counts(rows, tokenizer)
        unit, marker_tokens = "tokens", response_len
    else:
        prompt_len = [sum(len(turn["content"]) for turn in row.messages) for row in rows]
        response_len = [len(row.response) for row in rows]
        unit, marker_tokens = "chars", [len(row.response.split()) for row in rows]
    totals = {name: 0 for name in MARKERS}
    rows_with = {name: 0 for name in MARKERS}
    with_think = with_boxed = unfinished = 0
    for i, row in enumerate(rows):
        think, after = split_think(row.response)
        if think is not None:
            with_think += 1
            if THINK_CLOSE not in row.response:
                unfinished += 1
        if last_boxed(after[-5000:]) is not None:
            with_boxed += 1
        for name, count in count_markers(row.response).items():
            totals[name] += count
            rows_with[name] += count > 0
        if progress is not None and i % 1000 == 999:
            progress(i + 1)
    token_total = sum(marker_tokens)
    report: dict[str, Any] = {
        "rows": n,
        "length_unit": unit,
        "prompt_length": percentiles(prompt_len),
        "response_length": percentiles(response_len),
        "share_with_think": round(with_think / n, 4) if n else 0.0,
        "share_unclosed_think": round(unfinished / n, 4) if n else 0.0,
        "share_with_boxed": round(with_boxed / n, 4) if n else 0.0,
        "markers_per_1k_tokens": {
            name: round(1000.0 * totals[name] / token_total, 3) if token_total else 0.0 for name in MARKERS
        },
        "marker_token_basis": "tokenizer" if tokenizer is not None else "whitespace words",
        "share_rows_with_marker": {name: round(rows_with[name] / n, 4) if n else 0.0 for name in MARKERS},
        "weight": percentiles([row.weight for row in rows]),
    }
    if max_length:
        per_row = [p + r for p, r in zip(prompt_len, response_len)]
        if tokenizer is None:
            per_row = [length / CHARS_PER_TOKEN for length in per_row]
        report["max_length"] = max_length
        report["share_over_max_length"] = (
            round(sum(length > max_length for length in per_row) / n, 4) if n else 0.0
        )
        report["max_length_basis"] = (
            "tokens" if tokenizer is not None else f"chars/{CHARS_PER_TOKEN} estimate"
        )
    if verdicts is not None:
        report["share_verified"] = round(sum(v.correct for v in verdicts) / n, 4) if n else 0.0
    report.update(_teacher_stats(rows, response_len if tokenizer is not None else None))
    return report


def _teacher_stats(rows: list[SFTRow], response_tokens: list[int] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("logprobs", "entropies"):
        series = [getattr(row, name) for row in rows if getattr(row, name)]
        if not series:
            continue
        row_means = [statistics.fmean(values) for values in series]
        out[f"teacher_{name}"] = {
            "rows_with": len(series),
            "mean_per_token": round(statistics.fmean(v for values in series for v in values), 4),
            "row_mean": percentiles(row_means),
        }
    if response_tokens is not None and any(row.logprobs for row in rows):
        # The teacher's tokenizer may differ from the one given; EOS may or may not be included (±1).
        mismatched = sum(
            1
            for row, n_tok in zip(rows, response_tokens)
            if row.logprobs and abs(len(row.logprobs) - n_tok) > 1
        )
        out["share_logprobs_length_mismatch"] = round(mismatched / len(rows), 4)
    return out


def audit_table(report: dict[str, Any]):
    """The audit as a rich Table (the CLI prints it; `--json` prints the dict instead)."""
    from rich.table import Table

    table = Table(title=f"audit: {report['input']} ({report['rows']} rows)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name in ("prompt_length", "response_length"):
        stats = report[name]
        table.add_row(
            f"{name} ({report['length_unit']})",
            f"mean {stats['mean']}  p50 {stats['p50']:.0f}  p90 {stats['p90']:.0f}  p99 {stats['p99']:.0f}  max {stats['max']:.0f}",
        )
    for key in (
        "share_with_think",
        "share_unclosed_think",
        "share_with_boxed",
        "share_verified",
        "share_over_max_length",
    ):
        if key in report:
            table.add_row(key.replace("_", " "), f"{report[key]:.1%}")
    for name, rate in report["markers_per_1k_tokens"].items():
        table.add_row(f"{name} per 1k {report['marker_token_basis']}", f"{rate:.2f}")
    for name in ("teacher_logprobs", "teacher_entropies"):
        if name in report:
            table.add_row(f"{name} mean/token", f"{report[name]['mean_per_token']:.4f}")
    return table
