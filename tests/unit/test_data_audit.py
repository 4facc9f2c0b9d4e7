import pytest

from sftscope.data.audit import audit_rows, percentiles
from sftscope.data.markers import MARKERS, count_markers, marker_rates
from sftscope.records import SFTRow


def test_markers_whole_word_case_insensitive():
    text = (
        "WAIT. Await the waiter. Let me  verify; verification. First, the first one. Back up! Double-check."
    )
    counts = count_markers(text)
    assert counts == {"backtracking": 2, "verification": 2, "subgoal": 1}
    assert set(MARKERS) == {"backtracking", "verification", "subgoal"}
    assert marker_rates(text, 500)["backtracking"] == pytest.approx(4.0)
    assert marker_rates("", 0) == {name: 0.0 for name in MARKERS}


def test_percentiles():
    stats = percentiles(list(range(1, 101)))
    assert stats["p50"] == 51 and stats["p90"] == 90 and stats["max"] == 100 and stats["mean"] == 50.5


def _rows():
    return [
        SFTRow(
            [{"role": "user", "content": "q one"}],
            "<think>Wait, no.</think>So \\boxed{1}",
            "1",
            logprobs=[-1.0, -0.5, -0.5, -1.0, -1.0, -2.0],
            entropies=[0.1] * 6,
        ),
        SFTRow([{"role": "user", "content": "q two"}], "<think>unfinished", "2"),
        SFTRow([{"role": "user", "content": "q"}], "plain answer 3", "3"),
    ]


def test_audit_without_tokenizer():
    report = audit_rows(_rows(), max_length=5)
    assert report["rows"] == 3 and report["length_unit"] == "chars"
    assert report["share_with_think"] == 0.6667
    assert report["share_unclosed_think"] == 0.3333 and report["share_with_boxed"] == 0.3333
    assert report["teacher_logprobs"]["rows_with"] == 1
    assert report["teacher_logprobs"]["mean_per_token"] == pytest.approx(-1.0)
    assert report["max_length_basis"].startswith("chars/")


def test_audit_with_a_local_tokenizer(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    from tokenizers import models, pre_tokenizers

    vocab = {"[UNK]": 0, "</s>": 1}
    words = "< think > Wait , no . / So \\ boxed { 1 } unfinished plain answer 3 q one two"
    for word in words.split(" "):
        vocab.setdefault(word, len(vocab))
    raw = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="</s>", unk_token="[UNK]")
    tok.save_pretrained(tmp_path / "tok")
    from sftscope.data.audit import load_tokenizer

    report = audit_rows(_rows(), tokenizer=load_tokenizer(str(tmp_path / "tok")), max_length=8)
    assert report["length_unit"] == "tokens" and report["marker_token_basis"] == "tokenizer"
    assert report["prompt_length"]["max"] == 2
    assert report["max_length_basis"] == "tokens"
    assert "share_logprobs_length_mismatch" in report
