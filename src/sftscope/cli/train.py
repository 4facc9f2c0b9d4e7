"""`sftscope train CONFIG.yaml`: long-CoT SFT with the paper's recipe (see configs/sft/ for the runs).

sftscope train configs/sft/lab_countdown.yaml --out runs/lab          # a fresh run
sftscope train configs/sft/lab_countdown.yaml --out runs/lab --resume # continue a killed run
torchrun --nproc_per_node 8 -m sftscope.cli.main train X.yaml --set fsdp=true   # FSDP2 on 8 GPUs (or CPUs)
accelerate launch --config_file configs/accelerate/fsdp2_1node.yaml -m sftscope.cli.main train X.yaml
sftscope train configs/sft/qwen3_14b_math_cot.yaml --plan --gpus 8   # per-GPU memory, from config.json only
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sftscope.train.config import SFTConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a model on SFT rows; checkpoints on the paper's schedule",
        description="Fine-tune a causal LM on SFT rows (loss on the response and EOS only). Writes the run "
        "dir: the resolved config, a Hugging Face checkpoint per saved step, the state --resume needs, the "
        "metrics log, and a finished marker at the end (layout: docs/design.md, Run directory).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", help="YAML file of SFTConfig overrides (see configs/sft/)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set lr=1e-5 (repeatable)",
    )
    parser.add_argument("--out", default=None, help="run dir (default: runs/<config file stem>)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last state (starts fresh if there is none)",
    )
    mode.add_argument(
        "--overwrite",
        action="store_true",
        help="delete an existing run dir made by sftscope train and start over (never any other dir)",
    )
    parser.add_argument(
        "--chat-template",
        default=None,
        metavar="FILE",
        help="Jinja chat template for a tokenizer that has none (same as chat_template: in YAML)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    plan = parser.add_argument_group("memory plan (needs only the model's config.json; trains nothing)")
    plan.add_argument("--plan", action="store_true", help="print the per-GPU peak memory of one step")
    plan.add_argument("--gpus", type=int, default=1, help="GPUs to shard over with FSDP (default 1)")
    plan.add_argument("--gpu-memory", default="80GB", help="memory per GPU (default 80GB)")
    plan.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    parser.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from sftscope.config import load_config
    from sftscope.train.config import SFTConfig
    from sftscope.train.trainer import train

    overrides = list(args.overrides)
    if args.chat_template:
        overrides.append(f"chat_template={args.chat_template}")
    cfg = load_config(SFTConfig, args.config, overrides)
    if args.plan:
        return print_plan(cfg, args.gpus, args.gpu_memory, args.json)
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    result = train(cfg, out, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun / accelerate launch, rank 0 reports
        return 0
    stats = result.stats
    if stats is not None and (stats.truncated or stats.dropped):
        print(f"rows over max_length={cfg.max_length}: {stats.truncated} truncated, {stats.dropped} dropped")
    loss = f"{result.losses[-1]:.4f}" if result.losses else "n/a"
    print(
        f"{out}: step {result.last_step}/{result.total_steps}, loss {loss}, "
        f"{result.tokens_per_s:,.0f} tokens/s, {len(result.checkpoints)} checkpoints written"
    )
    if result.skipped_updates:
        print(f"{result.skipped_updates} updates skipped for a non-finite gradient norm (see logs/)")
    return 0


def print_plan(cfg: SFTConfig, gpus: int, gpu_memory: str, as_json: bool) -> int:
    import json

    from sftscope.train.plan import format_plan, parse_memory, plan_memory

    plan = plan_memory(cfg, gpus=gpus, gpu_memory_gib=parse_memory(gpu_memory))
    print(json.dumps(plan.to_dict()) if as_json else format_plan(plan))
    return 0
