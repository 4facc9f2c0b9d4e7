import pytest

from sftscope.data.variants import make_variant
from sftscope.errors import InputError
from sftscope.records import SFTRow


def _row(response, i=0):
    return SFTRow([{"role": "user", "content": f"q{i}"}], response, str(i), logprobs=[-0.1], entropies=[0.2])


def test_nocot_keeps_summary_and_box_and_drops_token_stats():
    rows = [
        _row("<think>long\nthought</think>\nSo x=2.\n\\boxed{2}"),
        _row("<think>never closed"),
        _row("no think"),
    ]
    out, summary = make_variant(rows, "nocot")
    assert [r.response for r in out] == ["So x=2.\n\\boxed{2}"]
    assert out[0].logprobs is None and rows[0].logprobs == [-0.1]  # the input rows are not modified
    assert summary == {"kind": "nocot", "rows_in": 3, "rows_out": 1, "dropped": 2}


def test_answer_only_uses_the_last_box_after_think():
    out, _ = make_variant(
        [_row("<think>\\boxed{1}</think>\\boxed{\\frac{1}{2}} done"), _row("none")], "answer-only"
    )
    assert [r.response for r in out] == ["\\boxed{\\frac{1}{2}}"]


def test_subset_is_seeded_and_ordered():
    rows = [_row("r", i) for i in range(50)]
    a, _ = make_variant(rows, "subset", n=10, seed=3)
    b, _ = make_variant(rows, "subset", n=10, seed=3)
    c, _ = make_variant(rows, "subset", n=10, seed=4)
    assert [r.answer for r in a] == [r.answer for r in b] != [r.answer for r in c]
    assert [int(r.answer) for r in a] == sorted(int(r.answer) for r in a)
    with pytest.raises(InputError):
        make_variant(rows, "subset", n=51)
    with pytest.raises(InputError):
        make_variant(rows, "subset")
