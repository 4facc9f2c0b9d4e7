"""Math answers as the reference's math_eval scores them: Math-Verify on the WHOLE raw response.

Reference: `evaluation/math_eval/math_eval_budget.py` (`process_single_result_no_truncation`, the "native"
scores) in Nebularaid2000/rethink_sft_generalization. Its rules:
- the gold is wrapped in `\\boxed{}` unless its text already contains "boxed", then `parse`d;
- the response is `parse`d whole, think block included, with Math-Verify's default extraction (LaTeX and
  plain expressions, any match; a `\\boxed{}` outranks an "answer is" phrase and the rightmost match of a
  rank wins). The reference falls back to the raw string when `parse` raises, which never happens: without
  `raise_on_error` Math-Verify returns [] for an error or a timeout instead;
- correct when `verify(gold, prediction)`.
A gold that Math-Verify cannot parse is "gold_unparsed" (a data problem), as in `verify.math`.
So a think block that never closes still earns credit when its text ends in the right box, and a box inside
the think block outranks an unboxed final answer after it. `verify.math.verify_math` is the strict rule.

Math-Verify's own timeouts use signals, so this runs in worker processes (`scoring="processes"`); off the
main thread it runs without them and the caller's worker timeout bounds it.
"""

from __future__ import annotations

import threading

from sftscope.records import CORRECT, GOLD_UNPARSED, NOT_A_STRING, UNPARSED, WRONG, Verdict
from sftscope.verify.math import quiet_math_verify

TIMEOUT_S = 5  # Math-Verify's defaults for parse and verify, which the reference keeps


def boxed_gold(gold: str) -> str:
    return gold if "boxed" in gold else f"\\boxed{{{gold}}}"


def score_math_raw(gold: str, completion: str) -> Verdict:
    """Does the whole `completion` parse to `gold`? (Math-Verify, default extraction.)"""
    from math_verify import parse, verify

    if not isinstance(completion, str) or not isinstance(gold, str):
        return Verdict(False, None, NOT_A_STRING)
    quiet_math_verify()  # a parse timeout would otherwise log the whole completion
    seconds = TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    gold_parsed = parse(boxed_gold(gold), parsing_timeout=seconds)
    if not gold_parsed:
        return Verdict(False, None, GOLD_UNPARSED)
    predicted = parse(completion, parsing_timeout=seconds)
    if not predicted:
        return Verdict(False, None, UNPARSED)
    ok = bool(verify(gold_parsed, predicted, timeout_seconds=seconds))
    extracted = str(predicted[-1]) if len(predicted) > 1 else str(predicted[0])
    return Verdict(ok, extracted, CORRECT if ok else WRONG)
