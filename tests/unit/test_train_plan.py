"""`sftscope train --plan`: the traced step's memory against arithmetic from parameter counts and shapes."""

from __future__ import annotations

import json

import pytest

from sftscope.cli.main import main
from sftscope.errors import InputError
from sftscope.train.config import SFTConfig
from sftscope.train.memory_trace import CATEGORIES, trace_step
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


# Hand arithmetic for one traced step of the tiny model on one 2,048-token row (2,047 positions carry loss).
LINEAR = L * (H * H * 2 + 2 * H * KV * HD + 3 * H * F)  # every layer's matmul weights
STEPS = 4 * (2 + 11 * L)  # AdamW's step count: one fp32 scalar per parameter tensor
ROTARY = 2 * (HD // 2) * 4  # inv_freq and its original copy
N = T - 1


def loss_bytes(t: int, hidden_bytes: int, head_copy: bool) -> int:
    """The chunked loss at its peak, inside the first chunk: the selected hidden states (fp32 under autocast,
    then their bf16 cast; bf16 under FSDP) and their gradient [N, H] in bf16; targets (int64), weights, their
    product with the scales, and the losses [N]; lm_head's bf16 cast (not under FSDP, which gathers lm_head
    in bf16 already) and its bf16 gradient [V, H]; the chunk's fp32 logits (softmax and gradient written in
    place) and its bf16 gradient [C, V]."""
    n = t - 1
    selected = n * H * hidden_bytes + (n * H * 2 if hidden_bytes == 4 else 0)
    return selected + n * H * 2 + n * (8 + 4 + 4 + 4) + (2 if head_copy else 1) * V * H * 2 + C * V * (4 + 2)


@pytest.fixture(scope="module")
def tiny_trace():
    cfg = one_row(T, loss_chunk_tokens=C, activation_checkpointing=True)  # precision auto: bf16 autocast
    return trace_step(qwen3_config(), cfg, 1, T, C, accumulating=False)


def test_tiny_model_peak_matches_the_arithmetic(tiny_trace):
    assert tiny_trace.n_params == P
    total, parts = tiny_trace.peak()
    assert parts["params"] == 4 * P + ROTARY  # fp32 master weights
    assert parts["optimizer"] == 8 * P + STEPS  # AdamW's two fp32 moments
    assert parts["weight copies"] == 2 * LINEAR  # autocast's bf16 casts of the layers' matmul weights
    assert (
        parts["grads"] == parts["fsdp buffers"] == 0
    )  # the peak is in the loss's first chunk, in the forward
    loss = loss_bytes(T, 4, head_copy=True)
    assert loss <= parts["loss chunk"] <= loss + 16 * C  # + a few [chunk] vectors (max, sum, picked logit)
    # Activation checkpointing keeps every layer's input and the last output (fp32: the residual stream adds
    # bf16 outputs to the fp32 embedding), the final norm's normalized input and its output; rotary cos/sin
    # are [T, head_dim] each. Besides: T-long vectors (the micro-batch's ids, mask, targets, weights, scales
    # and loss positions: 40 B per position; position ids, 8 B; the norm's scale, 4 B).
    acts = (L + 3) * T * H * 4 + 2 * T * HD * 4
    assert acts <= parts["activations"] <= acts + 64 * T
    expected = 12 * P + 2 * LINEAR + loss + acts
    assert abs(total - expected) / expected < 0.001


def test_the_trace_puts_adam_updates_and_gradients_in_their_categories(tiny_trace):
    timeline = tiny_trace.timeline
    grads = timeline[:, CATEGORIES.index("grads")]
    assert grads.max() == 4 * P  # every fp32 gradient at the end of the backward, none before it
    # Fused AdamW updates in place: nothing beyond its moments, ever.
    assert timeline[:, CATEGORIES.index("optimizer")].max() == 8 * P + STEPS


def test_accumulating_micro_steps_hold_every_gradient(tiny_trace):
    cfg = one_row(T, loss_chunk_tokens=C, activation_checkpointing=True)
    again = trace_step(qwen3_config(), cfg, 1, T, C, accumulating=True)
    total, parts = again.peak()
    assert parts["grads"] == 4 * P  # the earlier micro-steps' gradients
    assert total == tiny_trace.peak()[0] + 4 * P


def test_fsdp_traces_this_gpus_shards_and_the_gathered_weights():
    """Two GPUs, FSDP2 as the trainer applies it (on a fake process group): bf16 compute through FSDP's
    param_dtype instead of autocast, fp32 shards of weights, moments and gradients."""
    cfg = one_row(T, loss_chunk_tokens=C, activation_checkpointing=True)
    trace = trace_step(qwen3_config(), cfg, 1, T, C, accumulating=False, gpus=2)
    assert trace.n_params == P and trace.gpus == 2
    total, parts = trace.peak()
    assert parts["params"] == 4 * P // 2 + ROTARY  # every dimension splits evenly: no padding
    assert parts["optimizer"] == 8 * P // 2 + STEPS
    assert parts["weight copies"] == 0 and parts["grads"] == 0
    # The root (tied embedding = lm_head, final norm) stays gathered in bf16 from forward to backward, and
    # the last layer's all-gather output is kept to overlap the next copy-out.
    assert parts["fsdp buffers"] == (V * H + H) * 2 + LAYER * 2
    loss = loss_bytes(T, 2, head_copy=False)
    assert loss <= parts["loss chunk"] <= loss + 16 * C
    # A bf16 residual stream: the L checkpointed inputs minus the last output (freed after the final norm),
    # the norm's fp32 input copy (2 units), its normalized input and output; cos/sin in bf16.
    acts = (L + 4) * T * H * 2 + 2 * T * HD * 2
    assert acts <= parts["activations"] <= acts + 64 * T
    expected = 12 * P // 2 + (V * H + H + LAYER) * 2 + loss + acts
    assert abs(total - expected) / expected < 0.001
    # foreach AdamW (as on GPUs under FSDP) holds one temporary the size of this GPU's moments
    assert trace.timeline[:, CATEGORIES.index("optimizer")].max() == 8 * P // 2 + STEPS + 4 * P // 2


def test_fsdp_plan_reports_its_buffers():
    plan = plan_memory(
        one_row(T), gpus=2, gpu_memory_gib=80, model_config=qwen3_config(layers=1), search=False
    )
    assert plan.categories_gib["fsdp buffers"] > 0 and "weight copies" in plan.categories_gib
    single = plan_memory(
        one_row(T), gpus=1, gpu_memory_gib=80, model_config=qwen3_config(layers=1), search=False
    )
    assert "fsdp buffers" not in single.categories_gib


def test_plan_suggests_a_smaller_loss_chunk_when_the_configured_one_does_not_fit():
    config = qwen3_config(layers=1)
    cfg = one_row(T, loss_chunk_tokens=T)  # one chunk of the whole row: [2048, vocab] fp32 + bf16, 1.7 GiB
    plan = plan_memory(cfg, gpus=1, gpu_memory_gib=2.0, model_config=config)
    assert not plan.fits and plan.peak_gib > plan.budget_gib
    assert (plan.fit_micro_batch_tokens, plan.fit_loss_chunk_tokens) == (T, 1024)
    assert plan.fit_peak_gib <= plan.budget_gib  # the suggestion was traced, not extrapolated
    again = plan_memory(one_row(T, loss_chunk_tokens=1024), 1, 2.0, model_config=config, search=False)
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
def test_qwen3_1_7b_at_one_16k_row_matches_the_hand_derivation():
    """Qwen3-1.7B's published shape, one 16k-token row per step, the defaults (bf16 autocast over fp32
    master weights, activation checkpointing, loss chunk 1,024), one GPU.

    Derivation of the step's memory inside the chunked loss's first chunk, in the forward (no gradient
    exists yet; autocast's weight cache is still alive):
      params      4 P                                    P = 1,720,574,976            6.410 GiB
      optimizer   8 P (two fp32 moments)                                              12.819 GiB
      weight copies  2 x every layer's matmul weights: 28 x (2 x 2048^2 + 2 x 2048 x 1024
                     + 3 x 2048 x 6144) x 2 B                                          2.625 GiB
      activations (L + 3) fp32 [T, H]: 28 checkpointed layer inputs minus the last, the last output, the
                  final norm's normalized input and its output: 31 x 16,384 x 2048 x 4 B    3.875 GiB
                  + rotary cos/sin [T, 128] fp32                                       0.016 GiB
      loss chunk  [N, H] selected hidden fp32 + its bf16 cast + its bf16 gradient (N = 16,383): 0.250 GiB
                  lm_head's bf16 cast and its bf16 gradient, 2 x 151,936 x 2048 x 2 B  1.159 GiB
                  the chunk's fp32 logits and bf16 gradient, 1,024 x 151,936 x 6 B    0.869 GiB
      total                                                                           28.02 GiB
    The backward's last layer comes within 1% of this (28.1 GiB traced): by then autocast's copies
    (2.6 GiB) and the loss's buffers are gone, but all but one layer's fp32 gradients (5.1 GiB) and lm_head's
    fp32 gradient (1.2 GiB) are in place, and that layer's recompute and gradients are alive.
    The old step (issue 11: 34.3 GiB traced; 34.0 by this trace on the old trainer) held, in its loss,
    three [4,096, vocab] fp32 tensors (log-softmax, its gradient, the logits' gradient: 6.955 GiB),
    lm_head's bf16 gradient (0.580 GiB), the selected [T, H] fp32 positions and their gradient (0.250
    GiB) and the chunk's bf16 cast (0.016 GiB): 7.80 GiB, where the new loss holds 2.28 GiB.
    """
    h, layers, ffn, t, chunk = 2048, 28, 6144, 16384, 1024
    config = qwen3_config(hidden=h, layers=layers, ffn=ffn, heads=16, kv=8, head_dim=128)
    plan = plan_memory(one_row(t), gpus=1, gpu_memory_gib=80, model_config=config, search=False)
    n_params = 1_720_574_976
    assert plan.n_params == n_params and plan.loss_chunk_tokens == chunk and plan.micro_steps == 1
    n = t - 1
    linear = layers * (2 * h * h + 2 * h * 1024 + 3 * h * ffn)
    parts = {
        "params": 4 * n_params,
        "grads": 0,
        "optimizer": 8 * n_params,
        "weight copies": 2 * linear,
        "activations": (layers + 3) * t * h * 4 + 2 * t * 128 * 4,
        "loss chunk": n * h * (4 + 2 + 2) + 2 * V * h * 2 + chunk * V * (4 + 2),
    }
    expected = sum(parts.values()) / GIB  # 28.02 GiB
    trace = trace_step(config, one_row(t), 1, t, chunk, accumulating=False)
    in_loss = trace.timeline[trace.timeline[:, CATEGORIES.index("loss chunk")].argmax()]
    for i, name in enumerate(CATEGORIES[:-1]):
        assert in_loss[i] / GIB == pytest.approx(parts[name] / GIB, abs=0.01), name
    assert plan.peak_gib == pytest.approx(expected, rel=0.01)
    old_loss = 3 * 4096 * V * 4 + V * h * 2 + 2 * t * h * 4 + 4096 * h * 2
    saving = (old_loss - parts["loss chunk"]) / GIB  # 5.52 GiB
    assert plan.peak_gib <= 34.3 - saving
    assert plan.fits
