import itertools
import random

import pytest

from sftscope.data.countdown import (
    eval_problems,
    generate_rows,
    is_eval_split,
    make_problem,
    problem_key,
    solve,
)
from sftscope.data.search import combine, search
from sftscope.errors import InputError
from sftscope.verify.countdown import score_countdown, verify_countdown


def brute_force_reachable(numbers: list[int]) -> set[int]:
    """Every value reachable under the rules, by exhaustive pairwise combination (independent of search.py)."""
    seen = set(numbers)

    def rec(values):
        for i, j in itertools.permutations(range(len(values)), 2):
            a, b = values[i], values[j]
            rest = [v for k, v in enumerate(values) if k not in (i, j)]
            for r in (a + b, a - b, a * b, a // b if a % b == 0 else 0):
                if r > 0:
                    seen.add(r)
                    rec([*rest, r])

    rec(list(numbers))
    return seen


def test_search_is_complete_and_correct_on_small_sets():
    rng = random.Random(0)
    for _ in range(12):
        numbers = [rng.randint(1, 10) for _ in range(3)]
        reachable = brute_force_reachable(numbers)
        for target in range(1, 50):
            result = solve(numbers, target)
            assert (result.solution is not None) == (target in reachable), (numbers, target)
            if result.solution is not None:
                assert verify_countdown(result.solution.expr, numbers, target).correct


def test_combine_keeps_evaluation_order():
    a = combine(combine(combine(_t(8), "-", _t(3)), "*", _t(2)), "-", combine(_t(6), "/", _t(3)))
    assert a.value == 8 and a.expr == "(8-3)*2-6/3"
    b = combine(_t(9), "-", combine(_t(4), "-", _t(2)))
    assert b.expr == "9-(4-2)" and b.value == 7
    assert combine(_t(3), "-", _t(3)) is None and combine(_t(7), "/", _t(2)) is None


def _t(n):
    from sftscope.data.search import Term

    return Term(n, str(n))


def test_make_problem_is_deterministic_and_split_aware():
    assert make_problem(3, 17) == make_problem(3, 17)
    assert make_problem(3, 17) != make_problem(4, 17)
    for index in range(200):
        train = make_problem(0, index)
        held = make_problem(0, index, split="eval")
        assert not is_eval_split(train["numbers"], train["target"])
        assert is_eval_split(held["numbers"], held["target"])
        assert 3 <= len(train["numbers"]) <= 4 and train["target"] not in train["numbers"]
        assert solve(train["numbers"], train["target"]).solution is not None


def test_generated_rows_are_distinct_verified_and_never_eval():
    rows = generate_rows(600, seed=1, k_min=3, k_max=3)
    keys = [(tuple(r.extra["numbers"]), r.extra["target"]) for r in rows]
    assert len(set(keys)) == 600
    held = {problem_key(p["numbers"], p["target"]) for p in eval_problems(200, seed=1, k_min=3, k_max=3)}
    assert len(held) == 200
    assert not held & {problem_key(list(n), t) for n, t in keys}
    for row in rows:
        assert score_countdown(row.response, row.extra["numbers"], row.extra["target"]).correct
        assert row.answer == str(row.extra["target"])
    share = sum(r.extra["search"]["backtracks"] > 0 for r in rows) / len(rows)
    assert share >= 0.30
    assert sum("back" in r.response for r in rows) / len(rows) >= 0.30


def test_row_format_per_style():
    cot = generate_rows(40, seed=2, style="cot")
    direct = generate_rows(40, seed=2, style="direct")
    nocot = generate_rows(40, seed=2, style="nocot")
    assert [r.extra["numbers"] for r in cot] == [r.extra["numbers"] for r in direct]
    backtracked = next(r for r, d in zip(cot, direct) if r.extra["search"]["backtracks"])
    assert backtracked.response.startswith("<think>\n") and "</think>\n" in backtracked.response
    assert "Check:" in backtracked.response and backtracked.response.rstrip().endswith("}")
    for row in direct:
        assert "back" not in row.response and "too" not in row.response
        assert len(row.response) <= len(next(c for c in cot if c.id == row.id).response)
    assert all("<think>" not in r.response and "\\boxed{" in r.response for r in nocot)
    assert "Use + - * /" in cot[0].messages[0]["content"] and cot[0].messages[0]["role"] == "user"


def test_trace_cap_limits_search():
    capped = generate_rows(200, seed=3, max_trace_steps=5)
    assert max(r.extra["search"]["nodes"] for r in capped) <= 5
    result = search([2, 3, 9], 97, random.Random(0), max_nodes=4)
    assert result.truncated and result.solution is None


def test_bad_settings_and_exhaustion_raise_input_errors():
    with pytest.raises(InputError):
        generate_rows(10, seed=0, k_min=5, k_max=3)
    with pytest.raises(InputError):
        generate_rows(10, seed=0, style="verbose")
    with pytest.raises(InputError, match="distinct"):
        generate_rows(300, seed=0, k_min=2, k_max=2, max_number=3, max_target=10)


@pytest.mark.parametrize(
    ("split", "settings"), [("train", (2, 2, 3, 10)), ("eval", (2, 2, 3, 10)), ("train", (3, 3, 2, 12))]
)
def test_count_problems_is_exactly_what_the_draws_reach(split, settings):
    from sftscope.data.countdown import count_problems

    k_min, k_max, max_number, max_target = settings
    draws = (make_problem(0, i, k_min, k_max, max_number, split, max_target) for i in range(400))
    drawn = {(tuple(p["numbers"]), p["target"]) for p in draws}
    assert count_problems(split, *settings, ordered=True) == len(drawn)
    assert count_problems(split, *settings, ordered=False) == len({problem_key(list(n), t) for n, t in drawn})
    if split == "train":
        assert count_problems("eval", 3, 3, 2, 12, ordered=False) == 0  # and make_problem finds none:
        with pytest.raises(InputError, match="no eval problem found"):
            make_problem(0, 0, 3, 3, 2, "eval", 12)


def test_too_small_a_space_fails_before_any_draw(monkeypatch):
    import sftscope.data.countdown as countdown

    monkeypatch.setattr(countdown, "make_problem", lambda *a, **k: pytest.fail("drew before counting"))
    with pytest.raises(InputError, match="only 15 distinct train problems exist"):
        generate_rows(16, 0, "cot", 2, 2, 3, 10)
    with pytest.raises(
        InputError, match=r"only up to 72 distinct train problems exist .*asked for 1,000,000"
    ):
        generate_rows(1_000_000, 0, "cot", 2, 2, 3, 10)
    with pytest.raises(InputError, match="distinct eval problems exist"):
        eval_problems(100, 0, 2, 2, 3, 10)


def test_large_spaces_are_not_counted(monkeypatch):
    import sftscope.data.countdown as countdown

    monkeypatch.setattr(countdown, "count_problems", lambda *a, **k: pytest.fail("counted a large space"))
    assert len(generate_rows(5, 0)) == 5
