"""The reward-model scorer on a tiny random Qwen3 sequence-classification model (built from a config, saved to
tmp): the reference's text (chat template, BOS removed), batch-1 scoring of the first label's raw logit, and
AlpacaEval's paper protocol through the one scoring path."""

from __future__ import annotations

import pytest

from eval_tiny_model import build_tiny_model
from sftscope.errors import InputError
from sftscope.eval.context import RewardOptions, build_context
from sftscope.eval.scoring import SampleScorer
from sftscope.eval.spec import Example
from sftscope.eval.tasks import TASKS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reward_dir(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForSequenceClassification

    out = build_tiny_model(tmp_path_factory.mktemp("rm"))
    tokenizer = AutoTokenizer.from_pretrained(out)
    tokenizer.bos_token = "<|endoftext|>"  # a BOS string in the template, which the reference strips
    tokenizer.chat_template = "{{ bos_token }}" + tokenizer.chat_template
    tokenizer.save_pretrained(out)
    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    Qwen3ForSequenceClassification(config).save_pretrained(out)
    return out


def test_reward_is_the_first_logit_of_the_bos_free_chat_text(reward_dir):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    ctx = build_context(reward=RewardOptions(str(reward_dir), device="cpu"))
    rm = ctx.reward_model
    prompt = [{"role": "user", "content": "Say hi."}]
    text = rm.text(prompt, "Hello!")
    assert "<|endoftext|>" not in text and text.startswith("<|im_start|>user\nSay hi.<|im_end|>")
    assert text.endswith("<|im_start|>assistant\nHello!<|im_end|>\n")
    tokenizer = AutoTokenizer.from_pretrained(reward_dir)
    model = AutoModelForSequenceClassification.from_pretrained(reward_dir).eval()
    with torch.no_grad():
        expected = model(**tokenizer(text, return_tensors="pt")).logits[0, 0].item()
    (got,) = rm.score([prompt], ["Hello!"])
    assert got == pytest.approx(expected, abs=1e-5)
    assert rm.score([prompt, prompt], ["Hello!", "Bye."])[0] == pytest.approx(got, abs=1e-5)  # batch-free


def test_alpacaeval_paper_protocol_scores_the_answer_after_think(reward_dir):
    ctx = build_context(reward=RewardOptions(str(reward_dir), device="cpu"))
    spec = TASKS["alpacaeval"]
    ex = Example("0", None, {"instruction": "Name a color."})
    with SampleScorer(spec, spec.protocol("paper"), ctx) as scorer:
        thought, plain = scorer.score([ex, ex], ["<think>hmm</think>\n Red. ", "Red."])
    (direct,) = ctx.reward_model.score([[{"role": "user", "content": "Name a color."}]], ["Red."])
    assert thought.score == plain.score == pytest.approx(direct, abs=1e-5)
    assert thought.details == {"reward": thought.score} and not thought.correct


def test_a_model_that_is_not_a_classifier_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"--reward-model .*sequence-classification"):
        build_context(reward=RewardOptions(str(tmp_path / "missing"), device="cpu"))
