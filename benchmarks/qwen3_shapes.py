"""Qwen3 dense models' published shapes (their config.json on the hub), built locally with no download.

The GPU benchmarks and the memory-plan table train or trace these shapes with random weights.
"""

from __future__ import annotations

from typing import Any

# name: (hidden, layers, ffn, heads, kv heads, tied embeddings); all: head_dim 128, vocab 151,936
SHAPES: dict[str, tuple[int, int, int, int, int, bool]] = {
    "Qwen3-1.7B": (2048, 28, 6144, 16, 8, True),
    "Qwen3-4B": (2560, 36, 9728, 32, 8, True),
    "Qwen3-8B": (4096, 36, 12288, 32, 8, False),
    "Qwen3-14B": (5120, 40, 17408, 40, 8, False),
}


def qwen3_config(name: str) -> Any:
    from transformers import Qwen3Config

    hidden, layers, ffn, heads, kv, tied = SHAPES[name]
    return Qwen3Config(
        vocab_size=151_936,
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        head_dim=128,
        tie_word_embeddings=tied,
        max_position_embeddings=40960,
        rope_theta=1_000_000.0,
    )
