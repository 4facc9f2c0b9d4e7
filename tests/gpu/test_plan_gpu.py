"""`sftscope train --plan` against the memory a real step takes on the GPU. Skipped without CUDA."""

from __future__ import annotations

import pytest
import torch

from sftscope.train.config import SFTConfig
from sftscope.train.encoding import Encoded

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("precision", ["bf16", "bf16-pure"])
def test_plan_predicts_the_measured_peak_within_10_percent(tmp_path, precision):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from sftscope.train.lab_model import build_tokenizer
    from sftscope.train.plan import plan_memory
    from sftscope.train.trainer import TrainInputs, train

    # Qwen3-0.6B's layer shape and real vocabulary, 6 layers (0.25 B parameters), one 8k-token row per step.
    config = Qwen3Config(
        vocab_size=151_936,
        hidden_size=1024,
        intermediate_size=3072,
        num_hidden_layers=6,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        tie_word_embeddings=True,
        max_position_embeddings=40960,
    )
    seq = 8192
    cfg = SFTConfig(
        max_steps=3,
        batch_size=1,
        micro_batch_size=1,
        max_length=seq,
        lr=1e-5,
        precision=precision,
        activation_checkpointing=True,
        save_steps=[],
        save_final=False,
        state_every=10**6,
    )
    plan = plan_memory(cfg, gpus=1, gpu_memory_gib=80, model_config=config, search=False)
    gen = torch.Generator().manual_seed(0)
    encoded = [
        Encoded(tuple(torch.randint(0, 151_936, (seq,), generator=gen).tolist()), 512, 1.0, i)
        for i in range(3)
    ]
    tokenizer = build_tokenizer(["What is 2+3? \\boxed{5}"] * 50)
    model = Qwen3ForCausalLM(config)
    if precision == "bf16-pure":
        model = model.to(torch.bfloat16)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    inputs = TrainInputs(model=model, tokenizer=tokenizer, encoded=encoded)
    train(cfg, tmp_path / "run", inputs=inputs, progress=False)
    measured = torch.cuda.max_memory_allocated() / 2**30
    assert plan.peak_gib == pytest.approx(measured, rel=0.10), (plan.peak_gib, measured, plan.categories_gib)
