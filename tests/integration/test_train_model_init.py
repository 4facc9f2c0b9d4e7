"""`sftscope model init`: a local tokenizer and Qwen3 model with a short base stage, loadable by HF."""

from __future__ import annotations

import json

import pytest

from sftscope.cli.main import main
from sftscope.train import lab_model

pytestmark = pytest.mark.slow


def test_model_init_builds_a_loadable_lab_model(tmp_path, monkeypatch, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    real = lab_model.init_lab_model

    def small(*args, **kwargs):  # a smaller corpus and base-stage pool keep the test fast
        return real(*args, **{**kwargs, "corpus_size": (60, 20)})

    monkeypatch.setattr(lab_model, "init_lab_model", small)
    out = tmp_path / "base"
    args = [
        "model",
        "init",
        "--preset",
        "tiny",
        "--out",
        str(out),
        "--base-steps",
        "3",
        "--n-per-family",
        "30",
        "--no-progress",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "1,7" in printed and "base stage: 3 steps" in printed
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert 1_500_000 < sum(p.numel() for p in model.parameters()) < 2_000_000
    assert model.config.model_type == "qwen3" and model.config.tie_word_embeddings
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.chat_template
    assert tokenizer.tokenize("907") == ["9", "0", "7"]
    assert json.loads((out / "config.json").read_text())["eos_token_id"] == tokenizer.eos_token_id
    assert not (out / "base_stage" / "state").exists()
    assert main(args) == 2  # never replaces a model dir without --overwrite
    assert "already exists" in capsys.readouterr().err
