"""CUDA paths: bf16 with activation checkpointing, and the chunked loss's memory bound. Skipped without CUDA."""

from __future__ import annotations

import pytest
import torch

from sftscope.train.encoding import Encoded
from sftscope.train.lab_model import build_model, build_tokenizer
from sftscope.train.loss import chunked_token_loss
from sftscope.train.metrics import read_metrics

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_bf16_training_with_activation_checkpointing_lowers_the_loss(tmp_path):
    from sftscope.train.config import SFTConfig
    from sftscope.train.trainer import TrainInputs, train

    tokenizer = build_tokenizer(["What is 2+3? \\boxed{5}"] * 50)
    model = build_model("tiny", tokenizer)
    gen = torch.Generator().manual_seed(0)
    encoded = [
        Encoded(tuple(torch.randint(0, 300, (2048,), generator=gen).tolist()), 64, 1.0, i) for i in range(4)
    ]
    cfg = SFTConfig(max_steps=20, batch_size=4, micro_batch_size=2, lr=1e-3, max_length=4096, save_steps=[20])
    inputs = TrainInputs(model=model, tokenizer=tokenizer, encoded=encoded)
    result = train(cfg, tmp_path / "run", inputs=inputs, progress=False)
    assert result.losses[-1] < result.losses[0]
    assert model.is_activation_checkpointing  # auto: on with CUDA
    assert read_metrics(tmp_path / "run")[0]["device"].startswith("cuda")
    from safetensors.torch import load_file

    weights = load_file(tmp_path / "run" / "checkpoints" / "step-20" / "model.safetensors")
    assert all(w.dtype == torch.bfloat16 for w in weights.values())


def test_chunked_loss_never_materializes_full_logits():
    vocab, tokens, hidden = 151_936, 8_192, 256
    head = torch.nn.Linear(hidden, vocab, bias=False, device="cuda", dtype=torch.bfloat16)
    h = torch.randn(1, tokens, hidden, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    targets = torch.randint(0, vocab, (1, tokens), device="cuda")
    weights = torch.ones(1, tokens, device="cuda")
    chunk = 1024
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    chunked_token_loss(h, head, targets, weights, chunk=chunk)[0].backward()
    peak = torch.cuda.max_memory_allocated() - base
    # What the plan's fake-tensor trace of this call holds at its peak, inside the first chunk: the chunk's
    # fp32 logits (softmax and gradient written in place) and its bf16 gradient [chunk, vocab]; lm_head's
    # bf16 gradient [vocab, hidden] (its weight is bf16 already: no cast); the selected hidden states and
    # their gradient [tokens, hidden] in bf16; targets (int64), weights and losses per position.
    traced = chunk * vocab * (4 + 2) + vocab * hidden * 2 + 2 * tokens * hidden * 2 + tokens * (8 + 4 + 4)
    full_logits = tokens * vocab * 4  # 4.6 GiB of fp32 logits: never there
    assert traced < full_logits / 4
    # Within 10% of the trace (0.95 GiB; a second chunk's logits would add 0.87 GiB).
    assert peak == pytest.approx(traced, rel=0.10), (peak / 2**30, traced / 2**30)
