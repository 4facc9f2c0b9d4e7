"""The memory plan's table: Qwen3 1.7B-14B at 16k and 32k-token rows, from a fake-tensor trace of each step.

    .venv/bin/python benchmarks/memory_plan.py                 # 8 x 80 GB, the recipe's defaults
    .venv/bin/python benchmarks/memory_plan.py --gpus 1 --precision bf16-pure

Same numbers as `sftscope train CONFIG --plan --gpus 8` with `max_length` set to the row length and one row
per micro-batch; needs no GPU and downloads nothing (the shapes are in qwen3_shapes.py).
"""

from __future__ import annotations

import argparse
import sys
import time

from qwen3_shapes import SHAPES, qwen3_config
from sftscope.train.config import SFTConfig
from sftscope.train.plan import parse_memory, plan_memory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--gpu-memory", default="80GB")
    parser.add_argument("--precision", default="auto", help="auto (bf16 autocast), bf16-pure or fp32")
    parser.add_argument("--models", nargs="+", default=list(SHAPES))
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[16384, 32768])
    args = parser.parse_args(argv)
    memory = parse_memory(args.gpu_memory)
    print(
        f"per-GPU peak on {args.gpus} x {memory:g} GiB, precision {args.precision}, batch 256, one row per micro-batch"
    )
    print(
        "| model | row | params | grads | optimizer | weight copies | activations | loss chunk | fsdp buffers "
        "| peak GiB | fits | would fit (micro-batch tokens / loss chunk) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.models:
        for seq in args.seq_lens:
            t0 = time.perf_counter()
            cfg = SFTConfig(model=name, max_length=seq, micro_batch_size=1, precision=args.precision)
            plan = plan_memory(cfg, args.gpus, memory, model_config=qwen3_config(name))
            c = plan.categories_gib
            cells = [
                c.get(k, 0.0)
                for k in (
                    "params",
                    "grads",
                    "optimizer",
                    "weight copies",
                    "activations",
                    "loss chunk",
                    "fsdp buffers",
                )
            ]
            fit = (
                f"{plan.fit_micro_batch_tokens:,} / {plan.fit_loss_chunk_tokens:,}"
                if plan.fit_micro_batch_tokens
                else "none"
            )
            print(
                f"| {name} | {seq // 1024}k | "
                + " | ".join(f"{x:.1f}" for x in cells)
                + f" | {plan.peak_gib:.1f} | {'yes' if plan.fits else 'NO'} | {fit} |",
                flush=True,
            )
            print(f"  ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
