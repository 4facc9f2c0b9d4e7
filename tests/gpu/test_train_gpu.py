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
    from sftscope.train.trainer import train

    tokenizer = build_tokenizer(["What is 2+3? \\boxed{5}"] * 50)
    model = build_model("tiny", tokenizer)
    gen = torch.Generator().manual_seed(0)
    encoded = [
        Encoded(tuple(torch.randint(0, 300, (2048,), generator=gen).tolist()), 64, 1.0, i) for i in range(4)
    ]
    cfg = SFTConfig(max_steps=20, batch_size=4, micro_batch_size=2, lr=1e-3, max_length=4096, save_steps=[20])
    result = train(cfg, tmp_path / "run", model=model, tokenizer=tokenizer, encoded=encoded, progress=False)
    assert result.losses[-1] < result.losses[0]
    assert model.is_gradient_checkpointing  # auto: on with CUDA
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
    chunk_gib = 1024 * vocab * 4 / 2**30  # one fp32 [chunk, vocab] tensor: 0.58 GiB
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    chunked_token_loss(h, head, targets, weights, chunk=1024).backward()
    peak_gib = (torch.cuda.max_memory_allocated() - base) / 2**30
    # Traced (sftscope.train.memory_trace): 1.90 GiB, i.e. three fp32 [chunk, vocab] tensors in the chunk's
    # backward (log-softmax, its gradient, the logits' gradient) plus the bf16 pieces and lm_head's gradient.
    # Unchunked, the backward would hold three fp32 [8192, vocab] tensors: 13.9 GiB (24 chunks' worth).
    assert peak_gib < 4 * chunk_gib, peak_gib
