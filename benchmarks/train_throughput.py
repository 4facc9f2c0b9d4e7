"""Training throughput: our trainer vs TRL's SFTTrainer on the same data, in the same run.

    .venv/bin/python benchmarks/train_throughput.py            # CPU: the tiny lab model on 2 threads
    python benchmarks/train_throughput.py --mode gpu           # CUDA: a Qwen3-1.7B-shaped model, 8k and 16k rows

Prints useful (non-padding) tokens/s, peak memory and, on GPU, MFU. MFU counts 6*N + 6*L*s*(heads*head_dim)
FLOPs per token (N parameters, L layers, s sequence length) against 989 TFLOP/s, the H100/H200 dense bf16
peak (BASELINES.md). The first `--warmup` steps are excluded from every rate. TRL reads its rows from
`datasets.IterableDataset.from_generator`, which avoids the `Dataset.from_list` pickling trap on Python 3.12.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from sftscope.data.countdown import generate_rows
from sftscope.train.config import SFTConfig, to_trl_config
from sftscope.train.encoding import Encoded, encode_rows
from sftscope.train.lab_model import build_model, build_tokenizer
from sftscope.train.metrics import read_metrics
from sftscope.train.trainer import train

PEAK_FLOPS = 989e12


def flops_per_token(config, seq: int) -> float:
    n = config.num_parameters if hasattr(config, "num_parameters") else 0
    return 6 * n + 6 * config.num_hidden_layers * seq * config.num_attention_heads * config.head_dim


def _fresh_accelerate_state() -> None:
    """Ours and TRL ask accelerate for different mixed-precision modes; one process holds one at a time."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=False)


def ours(model, tokenizer, encoded: list[Encoded], cfg: SFTConfig, warmup: int) -> dict:
    _fresh_accelerate_state()
    with tempfile.TemporaryDirectory() as tmp:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        train(cfg, Path(tmp) / "run", model=model, tokenizer=tokenizer, encoded=encoded, progress=False)
        logs = [m for m in read_metrics(Path(tmp) / "run") if "loss" in m]
    first, last = logs[warmup - 1], logs[-1]
    rate = (last["tokens_seen"] - first["tokens_seen"]) / (last["elapsed"] - first["elapsed"])
    return {"tokens_per_s": rate, "peak_gb": _peak_gb(), "final_loss": last["loss"]}


def trl_baseline(model, tokenizer, encoded: list[Encoded], cfg: SFTConfig, warmup: int) -> dict:
    from datasets import IterableDataset
    from transformers import TrainerCallback
    from trl import SFTTrainer

    def rows():
        for e in encoded:
            yield {"input_ids": list(e.ids), "completion_mask": [0] * e.n_prompt + [1] * e.n_loss}

    stamps: list[float] = []
    _fresh_accelerate_state()

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        args = to_trl_config(cfg, tmp)
        args.save_strategy, args.logging_strategy, args.report_to, args.disable_tqdm = "no", "no", [], True
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        data = IterableDataset.from_generator(rows)
        trainer = SFTTrainer(
            model=model, args=args, train_dataset=data, processing_class=tokenizer, callbacks=[Clock()]
        )
        trainer.train()
    per_step = [
        sum(len(encoded[(s * cfg.batch_size + i) % len(encoded)].ids) for i in range(cfg.batch_size))
        for s in range(len(stamps))
    ]
    measured = sum(per_step[warmup:])
    return {"tokens_per_s": measured / (stamps[-1] - stamps[warmup - 1]), "peak_gb": _peak_gb()}


def _peak_gb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def cpu(args) -> list[dict]:
    torch.set_num_threads(args.threads)
    rows = generate_rows(512, seed=0, style=args.style)
    tokenizer = build_tokenizer([r.messages[0]["content"] + r.response for r in rows])
    encoded, _ = encode_rows(tokenizer, rows, 1024)
    cfg = SFTConfig(
        max_steps=args.steps,
        batch_size=16,
        micro_batch_size=16,
        lr=1e-3,
        precision="fp32",
        save_steps=[],
        save_final=False,
        state_every=10**6,
        shuffle=False,
    )
    results = []
    for name, run in (("ours", ours), ("trl", trl_baseline)):
        if name == "trl" and args.no_trl:
            continue
        model = build_model("tiny", tokenizer, seed=0)
        out = run(model, tokenizer, encoded, cfg, args.warmup)
        results.append({"setup": f"{name} tiny lab model, 16 rows/step, {args.threads} threads", **out})
    return results


def gpu(args) -> list[dict]:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=151936,
        hidden_size=2048,
        intermediate_size=6144,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        tie_word_embeddings=True,
        max_position_embeddings=40960,
    )
    rows = generate_rows(32, seed=0, style="direct")
    tokenizer = build_tokenizer([r.messages[0]["content"] + r.response for r in rows])  # save/pad only
    results = []
    for seq in args.seq_lens:
        gen = torch.Generator().manual_seed(seq)
        encoded = [
            Encoded(tuple(torch.randint(0, 151936, (seq,), generator=gen).tolist()), 512, 1.0, i)
            for i in range(args.steps)
        ]
        cfg = SFTConfig(
            max_steps=args.steps,
            batch_size=1,
            micro_batch_size=1,
            max_length=seq,
            lr=1e-5,
            precision="bf16-pure",
            activation_checkpointing=True,
            save_steps=[],
            save_final=False,
            state_every=10**6,
        )
        for name, run in (("ours", ours), ("trl", trl_baseline)):
            if name == "trl" and args.no_trl:
                continue
            torch.manual_seed(0)
            model = Qwen3ForCausalLM(config).to(torch.bfloat16)
            config.num_parameters = sum(p.numel() for p in model.parameters())
            out = run(model, tokenizer, encoded, cfg, args.warmup)
            out["mfu"] = out["tokens_per_s"] * flops_per_token(config, seq) / PEAK_FLOPS
            results.append({"setup": f"{name} Qwen3-1.7B shape, 1 x {seq} tokens/step", **out})
            del model
            torch.cuda.empty_cache()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("auto", "cpu", "gpu"), default="auto", help="auto: gpu if CUDA")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per setup")
    parser.add_argument("--warmup", type=int, default=2, help="steps excluded from the rates")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (cpu mode)")
    parser.add_argument("--style", default="cot", help="Countdown trace style for the CPU rows")
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[8192, 16384], help="GPU row lengths")
    parser.add_argument("--no-trl", action="store_true", help="skip the TRL SFTTrainer baseline")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    mode = args.mode if args.mode != "auto" else ("gpu" if torch.cuda.is_available() else "cpu")
    results = gpu(args) if mode == "gpu" else cpu(args)
    for r in results:
        mfu = f", MFU {r['mfu']:.1%}" if "mfu" in r else ""
        print(f"{r['setup']}: {r['tokens_per_s']:,.0f} tokens/s, peak {r['peak_gb']:.2f} GB{mfu}")
    if len(results) >= 2 and not args.no_trl:
        for a, b in zip(results[::2], results[1::2]):
            print(f"ours / TRL: {a['tokens_per_s'] / b['tokens_per_s']:.2f}x ({a['setup']})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
