"""`sftscope train --plan`: the traced step's memory against arithmetic from parameter counts and shapes."""

from __future__ import annotations

import json

import pytest

from sftscope.cli.main import main
from sftscope.errors import InputError
from sftscope.train.config import SFTConfig
from sftscope.train.memory_trace import trace_step
from sftscope.train.plan import MemoryPlan, format_plan, parse_memory, plan_memory

pytest.importorskip("transformers")

# The lab's tiny preset (hidden 192, 4 layers, FFN 512, 4 heads / 2 KV heads, tied embeddings) with Qwen3's
# real vocabulary, the regime where long rows meet a large vocabulary.
V, H, L, F, HEADS, KV = 151_936, 192, 4, 512, 4, 2
HD = H // HEADS
LAYER = H * H * 2 + 2 * H * KV * HD + 3 * H * F + 2 * H + 2 * HD  # q, o; k, v; MLP; 2 norms; q/k norms
P = V * H + L * LAYER + H  # tied embedding, layers, final norm
NORMS = L * (2 * H + 2 * HD) + H
T, C = 2048, 1024
GIB = 2**30


def qwen3_config(
    vocab: int = V,
    hidden: int = H,
    layers: int = L,
    ffn: int = F,
    heads: int = HEADS,
    kv: int = KV,
    head_dim: int | None = None,
    tied: bool = True,
):
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        head_dim=head_dim or hidden // heads,
        tie_word_embeddings=tied,
        max_position_embeddings=40960,
    )


def one_row(length: int, **overrides) -> SFTConfig:
    return SFTConfig(max_length=length, batch_size=1, micro_batch_size=1, **overrides)


@pytest.fixture(scope="module")
def tiny_trace():
    cfg = one_row(T, loss_chunk_tokens=C, activation_checkpointing=True)  # precision auto: bf16 autocast
    return trace_step(qwen3_config(), cfg, 1, T, C, accumulating=False)


def test_tiny_model_peak_matches_the_arithmetic(tiny_trace):
    assert tiny_trace.n_params == P
    total, parts = tiny_trace.peak([1.0] * 6)
    rotary_buffers = 2 * (HD // 2) * 4  # inv_freq and its original copy
    assert parts["params"] == 4 * P + rotary_buffers  # fp32 master weights
    assert parts["optimizer"] == 8 * P + 4 * (
        2 + 11 * L
    )  # AdamW's two fp32 moments + a step scalar per tensor
    assert parts["weight copies"] == 2 * (P - NORMS)  # autocast's bf16 casts of every matmul weight
    assert parts["grads"] == 0  # the peak is in the last chunk's backward, before any gradient lands
    # The loss at its peak: three fp32 [chunk, vocab] tensors (log-softmax, its gradient, the logits'
    # gradient), lm_head's bf16 gradient, the selected [T, H] positions and their gradient, the chunk's bf16 cast.
    loss = 3 * C * V * 4 + V * H * 2 + 2 * T * H * 4 + C * H * 2
    assert loss <= parts["loss chunk"] <= loss + 32 * T  # + T-long index, target and weight vectors
    # Activation checkpointing keeps every layer's input and the last output (fp32: the residual stream adds
    # bf16 outputs to the fp32 embedding) and the final norm's saved product; rotary cos/sin are [T, head_dim].
    acts = (L + 2) * T * H * 4
    assert acts <= parts["activations"] <= acts + 2 * T * HD * 4 + 16 * T
    expected = 12 * P + 2 * (P - NORMS) + loss + acts
    assert abs(total - expected) / expected < 0.005


def test_fsdp_divides_the_sharded_state_and_adds_gathered_layers(tiny_trace):
    from sftscope.train.plan import _per_gpu

    one, _ = _per_gpu(tiny_trace, 1)
    total, parts = _per_gpu(tiny_trace, 4)
    assert parts["params"] == pytest.approx((4 * P + 2 * (HD // 2) * 4) / 4, abs=1)
    assert parts["optimizer"] == pytest.approx((8 * P + 4 * (2 + 11 * L)) / 4, abs=1)
    root = (V * H + H) * 4  # the tied embedding and the final norm stay gathered, and lm_head's gradient
    assert (
        parts["fsdp buffers"] == root + V * H * 4 + 3 * LAYER * 4
    )  # + two gathered layers, one layer's grads
    assert total == sum(parts.values())
    assert total < one


def test_plan_suggests_a_smaller_loss_chunk_when_the_configured_one_does_not_fit():
    config = qwen3_config(layers=1)
    cfg = one_row(T, loss_chunk_tokens=T)  # full-row logits: three [2048, vocab] fp32 tensors, 3.5 GiB
    plan = plan_memory(cfg, gpus=1, gpu_memory_gib=3.0, model_config=config)
    assert not plan.fits and plan.peak_gib > plan.budget_gib
    assert (plan.fit_micro_batch_tokens, plan.fit_loss_chunk_tokens) == (T, 1024)
    assert plan.fit_peak_gib <= plan.budget_gib  # the suggestion was traced, not extrapolated
    again = plan_memory(one_row(T, loss_chunk_tokens=1024), 1, 3.0, model_config=config, search=False)
    assert again.fits and again.peak_gib == plan.fit_peak_gib


def test_plan_says_when_nothing_fits():
    plan = plan_memory(one_row(T), gpus=1, gpu_memory_gib=0.1, model_config=qwen3_config(layers=1))
    assert not plan.fits and plan.fit_micro_batch_tokens is None
    assert any("nothing fits" in note for note in plan.notes)


def test_cli_plan_prints_json_from_a_local_config_json(tmp_path, capsys):
    qwen3_config(vocab=1000, hidden=64, layers=1, ffn=128).save_pretrained(
        tmp_path / "model"
    )  # config.json only: no weights, no data
    yaml = tmp_path / "run.yaml"
    yaml.write_text(
        f"model: {tmp_path / 'model'}\nmax_length: 4096\nbatch_size: 16\nmicro_batch_size: 1\n"
        "loss_chunk_tokens: 32768\n"
    )  # few chunks even at the search's 131k tokens: a fast trace
    assert main(["train", str(yaml), "--plan", "--json", "--gpus", "2", "--gpu-memory", "80GB"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["fits"] is True and 0 < plan["peak_gib"] < 72
    assert plan["gpus"] == 2 and plan["micro_steps"] == 8 and plan["tokens_per_step"] == 16 * 4096
    assert "fsdp buffers" in plan["categories_gib"]
    assert plan["fit_micro_batch_tokens"] == 131_072  # the search's cap: a 1-layer toy fits any row
    assert not (tmp_path / "runs").exists() and not list(tmp_path.glob("*/checkpoints"))
    text = format_plan(MemoryPlan(**plan))  # what the CLI prints without --json
    assert (
        "  fsdp buffers" in text and "fits: yes" in text and "would fit: micro_batch_tokens 131,072" in text
    )


def test_cli_plan_names_a_missing_model(tmp_path, capsys):
    yaml = tmp_path / "run.yaml"
    yaml.write_text(f"model: {tmp_path / 'nowhere'}\n")
    assert main(["train", str(yaml), "--plan"]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_parse_memory():
    assert parse_memory("80GB") == parse_memory("80GiB") == parse_memory("80") == 80.0
    assert parse_memory("141 GB") == 141.0
    with pytest.raises(InputError, match="--gpu-memory"):
        parse_memory("lots")


@pytest.mark.slow
def test_qwen3_1_7b_at_one_16k_row_matches_the_traced_34_gib():
    """Qwen3-1.7B's published shape, one 16k-token row, the defaults: bf16 autocast, fp32 master weights,
    activation checkpointing, loss chunk 4,096, one GPU (issue 11: 34.3 GiB from a fake-tensor trace)."""
    config = qwen3_config(hidden=2048, layers=28, ffn=6144, heads=16, kv=8, head_dim=128)
    plan = plan_memory(one_row(16384), gpus=1, gpu_memory_gib=80, model_config=config, search=False)
    assert plan.n_params == 1_720_574_976
    assert plan.peak_gib == pytest.approx(34.3, rel=0.10)
    parts = plan.categories_gib
    assert parts["params"] + parts["optimizer"] == pytest.approx(12 * plan.n_params / GIB, rel=1e-3)
    assert parts["loss chunk"] == pytest.approx(3 * 4096 * 151_936 * 4 / GIB, rel=0.15)
    assert plan.fits
