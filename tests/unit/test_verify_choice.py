"""Multiple-choice extraction: letter sets, evidence order, and unparsed kept apart from wrong."""

from __future__ import annotations

from sftscope.verify.choice import ChoiceVerifier, extract_choice, verify_choice


def test_letter_set_is_configurable():
    assert extract_choice("\\boxed{F}") == "F"  # A-J by default (MMLU-Pro)
    assert extract_choice("\\boxed{F}", letters="ABCD") is None  # GPQA has four options
    assert ChoiceVerifier(letters="ABCD").score("A", "\\boxed{F}").reason == "unparsed"
    assert ChoiceVerifier().score("A", "\\boxed{F}", letters="ABCD").reason == "unparsed"


def test_boxed_beats_phrases_and_last_box_wins():
    assert extract_choice("answer is (A). \\boxed{B} then \\boxed{C}") == "C"


def test_answer_part_only():
    assert extract_choice("<think>\\boxed{A}</think>") is None
    assert extract_choice("<think>\\boxed{A}</think>The answer is B") == "B"


def test_unparsed_and_wrong_rates_can_be_counted_apart():
    completions = ["\\boxed{A}", "\\boxed{B}", "no idea", "<think>unfinished"]
    verdicts = [verify_choice("A", c) for c in completions]
    reasons = [v.reason for v in verdicts]
    assert reasons == ["correct", "wrong", "unparsed", "unparsed"]
    assert [v.correct for v in verdicts] == [True, False, False, False]
    assert verdicts[1].extracted == "B" and verdicts[2].extracted is None


def test_gold_is_normalised():
    assert verify_choice(" c ", "Answer: C").correct
