"""Loading the base model: trust_remote_code reaches transformers (and its absence is a clear error), and a
model whose config ties lm_head to the embedding must train one tensor."""

from __future__ import annotations

import json

import pytest
import torch

from sftscope.errors import InputError
from sftscope.train.config import SFTConfig
from sftscope.train.lab_model import build_model, build_tokenizer
from sftscope.train.model import check_tied, load_model, tied_targets

CUSTOM_CONFIG = """
from transformers import Qwen3Config


class CustomConfig(Qwen3Config):
    model_type = "sftscope_custom"
"""
CUSTOM_MODEL = """
from transformers import Qwen3ForCausalLM

from .configuration_custom import CustomConfig


class CustomForCausalLM(Qwen3ForCausalLM):
    config_class = CustomConfig
"""


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(["What is 2+3? \\boxed{5}"] * 20)


def test_a_model_with_its_own_code_needs_trust_remote_code(tmp_path, tokenizer):
    build_model("micro", tokenizer).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    (tmp_path / "configuration_custom.py").write_text(CUSTOM_CONFIG, encoding="utf-8")
    (tmp_path / "modeling_custom.py").write_text(CUSTOM_MODEL, encoding="utf-8")
    config = json.loads((tmp_path / "config.json").read_text())
    config["model_type"] = "sftscope_custom"
    config["auto_map"] = {
        "AutoConfig": "configuration_custom.CustomConfig",
        "AutoModelForCausalLM": "modeling_custom.CustomForCausalLM",
    }
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(InputError, match=r"cannot load the model.*set trust_remote_code: true"):
        load_model(SFTConfig(model=str(tmp_path)), "fp32", cuda=False)
    model, _ = load_model(SFTConfig(model=str(tmp_path), trust_remote_code=True), "fp32", cuda=False)
    assert type(model).__name__ == "CustomForCausalLM"


def test_bf16_pure_loads_bf16_weights_and_meta_builds_no_weights(tmp_path, tokenizer):
    build_model("micro", tokenizer).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model, _ = load_model(SFTConfig(model=str(tmp_path)), "bf16-pure", cuda=False)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    meta, _ = load_model(SFTConfig(model=str(tmp_path)), "fp32", cuda=False, on_meta=True)
    assert all(p.is_meta for p in meta.parameters())
    assert meta.lm_head.weight is meta.model.embed_tokens.weight


def test_a_config_that_says_tied_must_mean_one_tensor(tokenizer):
    model = build_model("micro", tokenizer)
    assert tied_targets(model) == {"lm_head.weight": "model.embed_tokens.weight"}
    check_tied(model, "micro")
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())  # what meta loading did
    with pytest.raises(
        InputError, match=r"ties lm_head\.weight to model\.embed_tokens\.weight, but they are two"
    ):
        check_tied(model, "micro")
