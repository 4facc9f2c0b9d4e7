"""`sftscope model init`: the mini-lab base model, built locally (tokenizer, Qwen3 config, base stage).

sftscope model init --preset tiny --out runs/lab/base          # ~1.7 M params, a few minutes on 2 cores
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("model", help="build the mini-lab base model")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    init = verbs.add_parser(
        "init",
        help="train a tokenizer, build a Qwen3-architecture model and give it base capability",
        description="Train a byte-level BPE tokenizer (vocab 512, single-digit tokens, Qwen-style chat "
        "template) on the lab's data, build a Qwen3 model from a preset and pre-train it briefly on "
        "short-answer procedural items (loss on the answer only). Nothing is downloaded.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    init.add_argument(
        "--preset",
        choices=("tiny", "small"),
        default="tiny",
        help="tiny: 192x4, 1.72M params; small: 384x8, ~13M params",
    )
    init.add_argument("--out", required=True, help="output dir (an HF model dir usable by from_pretrained)")
    init.add_argument(
        "--base-steps",
        type=int,
        default=1500,
        help="optimizer steps of the base stage (~24 rows, ~1k tokens each); 0 skips it",
    )
    init.add_argument(
        "--n-per-family",
        type=int,
        default=3000,
        help="distinct training items per procedural family for the base stage",
    )
    init.add_argument("--seed", type=int, default=0, help="seed for the data, the tokenizer and the weights")
    init.add_argument(
        "--check",
        type=int,
        default=0,
        metavar="N",
        help="after building, greedy accuracy on N held-out items per task (0: skip)",
    )
    init.add_argument("--overwrite", action="store_true", help="replace an existing --out dir")
    init.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    init.set_defaults(handler=run_init)
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)


def run_init(args: argparse.Namespace) -> int:
    from sftscope.train.lab_model import init_lab_model, quick_check

    summary = init_lab_model(
        args.out,
        preset=args.preset,
        base_steps=args.base_steps,
        seed=args.seed,
        n_per_family=args.n_per_family,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(f"{args.out}: {args.preset} model, {summary['params']:,} params, vocab {summary['vocab']}")
    if "base_loss" in summary:
        print(
            f"base stage: {summary['base_steps']} steps on {summary['base_rows']} rows, final loss "
            f"{summary['base_loss']:.4f}, {summary['base_tokens_per_s']:,} tokens/s, {summary['base_seconds']} s"
        )
    if args.check > 0:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(args.out)
        scores = quick_check(model, AutoTokenizer.from_pretrained(args.out), n=args.check, seed=args.seed)
        print("greedy accuracy (held-out): " + ", ".join(f"{k} {v:.1%}" for k, v in scores.items()))
    return 0
