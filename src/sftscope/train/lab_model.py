"""The mini-lab base model, built locally with no downloads: tokenizer, Qwen3 architecture, base stage.

1. A byte-level BPE tokenizer (vocab 512) trained on the lab's own data mix (Countdown traces and the
   procedural base-stage items). Digits are always single tokens, so arithmetic is not hidden inside merges
   (docs/lab.md). The chat template is Qwen-style; `<|im_end|>` ends a turn and is the EOS.
2. A Qwen3-architecture causal LM from a preset: `tiny` = hidden 192, 4 layers, FFN 512, 4 heads / 2 KV heads,
   tied embeddings, 1.72 M parameters (docs/lab.md's measured sweet spot on 2 cores); `small` = 384 x 8, ~13 M.
3. A short base-capability stage with our own trainer on `base_stage_rows(LAB_FAMILIES, ...)` (loss on the
   boxed answer only), so that SFT starts from a model that can already do something.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftscope.data import countdown
from sftscope.data.procedural import LAB_FAMILIES, base_stage_rows, generate_items
from sftscope.data.procedural import build_prompt as procedural_prompt
from sftscope.errors import InputError
from sftscope.rundir import RunDir
from sftscope.train.config import SFTConfig
from sftscope.verify.boxed import last_boxed

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK_TOKENS = ["<think>", "</think>"]
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)


@dataclass(frozen=True)
class Preset:
    hidden: int
    layers: int
    ffn: int
    heads: int
    kv_heads: int


PRESETS: dict[str, Preset] = {
    "tiny": Preset(hidden=192, layers=4, ffn=512, heads=4, kv_heads=2),  # 1.72 M, ~10k tokens/s on 2 cores
    "small": Preset(hidden=384, layers=8, ffn=1024, heads=6, kv_heads=2),  # ~13 M, for GPUs or patient CPUs
    "micro": Preset(hidden=32, layers=2, ffn=64, heads=2, kv_heads=1),  # ~40 k, for fast tests only
}

# Base stage: ~24 short rows (~1k tokens) per step learn fastest on 2 cores (docs/lab.md); a from-scratch model
# needs a far higher lr than the paper's fine-tuning 5e-5.
BASE_STAGE = {
    "shuffle": True,
    "batch_size": 24,
    "micro_batch_size": 24,
    "lr": 2e-3,
    "warmup_ratio": 0.05,
    "weight_decay": 0.01,
}


def build_tokenizer(texts: list[str], vocab_size: int = 512) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(THINK_TOKENS),
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>", model_max_length=4096
    )
    tokenizer.add_tokens(THINK_TOKENS)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_model(preset: str, tokenizer: Any, seed: int = 0) -> Any:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    p = PRESETS[preset]
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=p.hidden,
        intermediate_size=p.ffn,
        num_hidden_layers=p.layers,
        num_attention_heads=p.heads,
        num_key_value_heads=p.kv_heads,
        head_dim=p.hidden // p.heads,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def tokenizer_corpus(seed: int, n_countdown: int = 1500, n_procedural: int = 300) -> list[str]:
    """Texts in the lab's mix: Countdown prompts with search and direct traces, and procedural items."""
    texts = []
    for style in ("cot", "direct"):
        for row in countdown.generate_rows(n_countdown, seed, style=style):
            texts.append(row.messages[0]["content"] + "\n" + row.response)
    for row in base_stage_rows(LAB_FAMILIES, n_procedural, seed):
        texts.append(row.messages[0]["content"] + "\n" + row.response)
    return texts


def init_lab_model(
    out: str | Path,
    preset: str = "tiny",
    base_steps: int = 1500,
    seed: int = 0,
    n_per_family: int = 3000,
    overwrite: bool = False,
    progress: bool = True,
    corpus_size: tuple[int, int] = (1500, 300),
) -> dict[str, Any]:
    """Build the lab base model into `out` (an HF model dir); returns a summary for the CLI."""
    from sftscope.train.trainer import TrainInputs, train

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out}: the output dir already exists (pass --overwrite to replace it)")
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    if base_steps < 0:
        raise InputError(f"--base-steps must be >= 0, got {base_steps}")
    tokenizer = build_tokenizer(tokenizer_corpus(seed, *corpus_size))
    model = build_model(preset, tokenizer, seed)
    summary: dict[str, Any] = {
        "preset": preset,
        "params": sum(p.numel() for p in model.parameters()),
        "vocab": len(tokenizer),
        "base_steps": base_steps,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        if base_steps > 0:
            rows = base_stage_rows(LAB_FAMILIES, n_per_family, seed)
            cfg = SFTConfig(
                epochs=1,
                max_steps=base_steps,
                seed=seed,
                save_steps=[],
                save_final=False,
                state_every=base_steps,
                max_length=512,
                log_every=10,
                **BASE_STAGE,
            )
            stage = RunDir(tmp / "base_stage")
            inputs = TrainInputs(model=model, tokenizer=tokenizer, rows=rows)
            result = train(cfg, stage.path, inputs=inputs, progress=progress)
            model = result.model
            shutil.rmtree(stage.state_dir, ignore_errors=True)  # nobody resumes a base stage
            summary.update(
                base_loss=result.losses[-1],
                base_tokens_per_s=round(result.tokens_per_s),
                base_seconds=round(result.seconds, 1),
                base_rows=len(rows),
            )
        model.config.use_cache = True
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


def quick_check(model: Any, tokenizer: Any, n: int = 50, seed: int = 0, batch: int = 50) -> dict[str, float]:
    """Greedy accuracy on held-out items: each LAB family (boxed answer) and Countdown (the verifier)."""
    from sftscope.verify.countdown import score_countdown

    cases: dict[str, list[tuple[list[dict[str, str]], Any]]] = {}
    for name, family in LAB_FAMILIES.items():
        items = generate_items(family, n, seed, "eval")
        cases[name] = [(procedural_prompt(e["question"]), str(e["answer"])) for e in items]
    problems = countdown.eval_problems(n, seed)
    cases["countdown"] = [(countdown.build_prompt(p["numbers"], p["target"]), p) for p in problems]
    scores = {}
    for name, pairs in cases.items():
        texts = generate(model, tokenizer, [m for m, _ in pairs], 96 if name == "countdown" else 24, batch)
        if name == "countdown":
            ok = [score_countdown(t, g["numbers"], g["target"]).correct for t, (_, g) in zip(texts, pairs)]
        else:
            ok = [(last_boxed(t) or "").strip() == g.strip() for t, (_, g) in zip(texts, pairs)]
        scores[name] = sum(ok) / max(len(ok), 1)
    return scores


def generate(
    model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], max_new: int, batch: int
) -> list[str]:
    import torch

    tokenizer.padding_side = "left"
    model.eval()
    outs = []
    for start in range(0, len(prompts), batch):
        texts = [
            tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            for p in prompts[start : start + batch]
        ]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            ids = model.generate(
                **enc,
                max_new_tokens=max_new,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        outs += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return outs
