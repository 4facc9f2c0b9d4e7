"""Tokenization: the loss covers the response and EOS, never the chat-templated prompt."""

from __future__ import annotations

import pytest

from sftscope.errors import InputError
from sftscope.records import SFTRow
from sftscope.train.encoding import encode_row, encode_rows, prepare_tokenizer, prompt_ids
from sftscope.train.lab_model import build_tokenizer

CORPUS = [
    "Using the numbers 3, 5, 7 reach 22. <think>3*5=15, 15+7=22. Found it!</think> \\boxed{3*5+7}",
    "What is 12 + 30? Put your final answer within \\boxed{}. \\boxed{42}",
    "Spell 'cat' backward. \\boxed{tac}",
] * 20


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(CORPUS)


def row(response: str = "<think>3*5=15</think> \\boxed{15}", weight: float = 1.0) -> SFTRow:
    return SFTRow(messages=[{"role": "user", "content": "What is 3*5?"}], response=response, weight=weight)


def test_lab_tokenizer_splits_digits_and_has_chat_template(tokenizer):
    assert len(tokenizer) <= 512  # a corpus this small runs out of merges first
    assert tokenizer.tokenize("12345") == ["1", "2", "3", "4", "5"]
    assert tokenizer.eos_token == "<|im_end|>"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_loss_span_is_exactly_response_plus_eos(tokenizer):
    r = row()
    enc = encode_row(tokenizer, r)
    prompt = prompt_ids(tokenizer, r.messages)
    assert list(enc.ids[: enc.n_prompt]) == prompt
    trained = list(enc.ids[enc.n_prompt :])
    assert trained[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(trained[:-1]) == r.response
    assert trained[:-1] == tokenizer(r.response, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(enc.ids[: enc.n_prompt]).endswith("<|im_start|>assistant\n")


def test_overlong_rows_truncate_or_drop(tokenizer):
    rows = [row(), row("x" * 400)]
    short = len(encode_row(tokenizer, rows[0]).ids)
    kept, stats = encode_rows(tokenizer, rows, max_length=short + 3, overlong="truncate")
    assert (len(kept), stats.truncated, stats.dropped) == (2, 1, 0)
    assert len(kept[1].ids) == short + 3
    kept, stats = encode_rows(tokenizer, rows, max_length=short + 3, overlong="drop")
    assert (len(kept), stats.dropped, stats.dropped_rows) == (1, 1, [1])


def test_bad_inputs_are_one_line_input_errors(tokenizer, tmp_path):
    with pytest.raises(InputError, match="empty"):
        encode_rows(tokenizer, [], max_length=100)
    with pytest.raises(InputError, match="every one of the 1 rows is longer than max_length=3"):
        encode_rows(tokenizer, [row()], max_length=3, overlong="drop")
    bare = build_tokenizer(CORPUS)
    bare.chat_template = None
    with pytest.raises(InputError, match="no chat template"):
        prepare_tokenizer(bare, "base-model")
    template = tmp_path / "chat.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}", encoding="utf-8")
    assert prepare_tokenizer(bare, "base-model", str(template)).chat_template.startswith("{% for")
    with pytest.raises(InputError, match="chat template file not found"):
        prepare_tokenizer(bare, "base-model", str(tmp_path / "missing.jinja"))
