"""The GPU check: everything that needs CUDA in one run, each figure printed as soon as it is measured.

    make gpu-wheels                               # here (network): TRL and its missing needs as wheels in .whl/
    make gpu-check                                # on the GPU machine, carrying .whl/: installs them, runs this
    python benchmarks/gpu_check.py --dry-run      # anywhere: what would run, with sizes
    python benchmarks/gpu_check.py --smoke        # any machine: every section on a micro model (tests this file)

In order: 1. tests/gpu; 2. our trainer on a Qwen3-1.7B-shaped model at 8k and 16k-token rows, in the
recipe's precision (bf16 autocast over fp32 master weights) and in bf16-pure: tokens/s, MFU and peak memory
against `sftscope train --plan`'s prediction; 3. TRL's SFTTrainer on the same rows (bf16 weights, as in
docs/baselines), skipped with the reason when TRL cannot be imported; 4. a short FSDP2 run on one GPU
through the trainer (`fsdp: true`); 5. a vLLM smoke test, when vllm imports. Targets: MFU >= 40% and >= 1.3x TRL's tokens/s at 8k, and
the plan within 10% of the measured peak. Exit status 1 when a section fails or a target is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import train_throughput as bench
from qwen3_shapes import qwen3_config

REPO = Path(__file__).resolve().parents[1]
MFU_TARGET, TRL_TARGET, PLAN_TOLERANCE = 0.40, 1.3, 0.10
MICRO = {"vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16}  # fmt: skip


@dataclass
class Settings:
    config: Any
    model_name: str
    seq_lens: list[int]
    steps: int
    warmup: int
    gpu_memory_gib: float
    smoke: bool


def settings(args: argparse.Namespace) -> Settings:
    if args.smoke:
        from transformers import Qwen3Config

        config = Qwen3Config(tie_word_embeddings=True, max_position_embeddings=4096, **MICRO)
        return Settings(config, "micro Qwen3", [256], 3, 1, args.gpu_memory, True)
    return Settings(qwen3_config("Qwen3-1.7B"), "Qwen3-1.7B shape", args.seq_lens, args.steps, args.warmup,
                    args.gpu_memory, False)  # fmt: skip


def count_params(config: Any) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())


def vllm_missing() -> str | None:
    try:
        import vllm  # noqa: F401
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return None


def dry_run(s: Settings) -> None:
    n = count_params(s.config)
    rows = " and ".join(f"{seq:,}" for seq in s.seq_lens)
    trl = bench.trl_missing()
    vllm = vllm_missing()
    print(f"gpu-check plan: {s.model_name} ({n / 1e9:.2f} B parameters, vocab {s.config.vocab_size:,}), "
          f"rows of {rows} tokens, {s.steps} steps per setup ({s.warmup} warm-up)")  # fmt: skip
    print("1. tests/gpu: pytest -q tests/gpu")
    print(f"2. ours at {rows} tokens, precision bf16 (autocast, fp32 master weights) and bf16-pure: "
          "tokens/s, MFU at 989 TFLOP/s, peak memory vs --plan (traced on fake tensors)")  # fmt: skip
    print(
        f"3. TRL SFTTrainer (bf16 weights) on the same rows: {'ready' if trl is None else 'would skip: ' + trl}"
    )
    print(f"4. one FSDP2 run on 1 GPU through the trainer (fsdp: true: fully_shard per decoder layer + root, "
          f"bf16 params, fp32 reduce), {s.steps} steps of {s.seq_lens[0]:,} tokens, tied embeddings kept as one "
          "tensor")  # fmt: skip
    print(
        f"5. vLLM smoke, 4 prompts x 16 new tokens on a micro model: {'ready' if vllm is None else 'would skip: ' + vllm}"
    )
    print(f"targets: MFU >= {MFU_TARGET:.0%} and ours/TRL tokens/s >= {TRL_TARGET}x at {s.seq_lens[0]:,} tokens; "
          f"plan within {PLAN_TOLERANCE:.0%} of the measured peak")  # fmt: skip


def section_tests(s: Settings, targets: list) -> None:
    import torch

    if not torch.cuda.is_available():
        print("1. tests/gpu: skipped (no CUDA)", flush=True)
        return
    print("1. tests/gpu", flush=True)
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/gpu"], cwd=REPO
    )
    targets.append(("tests/gpu pass", code == 0, f"pytest exit {code}"))


def section_trainers(s: Settings, targets: list) -> None:
    import torch

    from sftscope.train.lab_model import build_tokenizer
    from sftscope.train.plan import plan_memory

    tokenizer = build_tokenizer(["What is 2+3? \\boxed{5}"] * 50)  # pad/save only: the rows are token ids
    args = argparse.Namespace(steps=s.steps, warmup=s.warmup, no_trl=False)
    cuda = torch.cuda.is_available()
    print(f"2-3. ours and TRL, {s.model_name}", flush=True)
    for seq in s.seq_lens:
        measured: dict[str, dict] = {}
        for name, precision in (("ours", "bf16"), ("ours", "bf16-pure"), ("trl", "bf16-pure")):
            result = setup(name, precision, seq, args, s, tokenizer)
            bench.report(result, [])
            if "skipped" in result:
                continue
            measured[f"{name} {precision}"] = result
            if name == "ours":
                cfg = bench.gpu_config(seq, s.steps, precision)
                plan = plan_memory(cfg, 1, s.gpu_memory_gib, model_config=s.config, search=False)
                if cuda:
                    off = plan.peak_gib / result["peak_gb"] - 1
                    print(f"   plan {plan.peak_gib:.2f} GiB vs measured {result['peak_gb']:.2f} GiB ({off:+.1%})",
                          flush=True)  # fmt: skip
                    targets.append(
                        (f"plan within 10% ({precision}, {seq:,})", abs(off) <= PLAN_TOLERANCE, f"{off:+.1%}")
                    )
                else:
                    print(
                        f"   plan {plan.peak_gib:.2f} GiB (no CUDA: the peak above is RSS, not compared)",
                        flush=True,
                    )
        trl = measured.get("trl bf16-pure")
        for key in ("ours bf16", "ours bf16-pure"):
            if key in measured and trl:
                ratio = measured[key]["tokens_per_s"] / trl["tokens_per_s"]
                print(f"   {key} / TRL: {ratio:.2f}x tokens/s at {seq:,} tokens", flush=True)
        if seq != s.seq_lens[0] or not cuda:
            continue
        for key in ("ours bf16", "ours bf16-pure"):
            if key in measured:
                mfu = measured[key]["mfu"]
                targets.append((f"MFU >= 40% ({key}, {seq:,})", mfu >= MFU_TARGET, f"{mfu:.1%}"))
            if key in measured and trl:
                ratio = measured[key]["tokens_per_s"] / trl["tokens_per_s"]
                targets.append((f"ours/TRL >= 1.3x ({key}, {seq:,})", ratio >= TRL_TARGET, f"{ratio:.2f}x"))
        if not trl:
            targets.append((f"ours/TRL >= 1.3x ({seq:,})", None, "TRL skipped"))


def setup(name: str, precision: str, seq: int, args: argparse.Namespace, s: Settings, tokenizer: Any) -> dict:
    import torch

    if torch.cuda.is_available():
        return bench.gpu_setup(name, precision, seq, args, s.config, tokenizer)
    # --smoke without CUDA: the same calls on CPU, on the micro model
    label = f"{name} {precision} {s.model_name}, 1 x {seq:,} tokens/step (CPU)"
    if name == "trl" and bench.trl_missing():
        return {"setup": label, "skipped": bench.trl_missing()}
    cfg = bench.gpu_config(seq, s.steps, precision)
    run = bench.ours if name == "ours" else bench.trl_baseline
    out = run(_cpu_model(s.config, precision), tokenizer, _rows(s, seq), cfg, s.warmup)
    return {"setup": label, "name": name, "precision": precision, "seq": seq, **out}


def _cpu_model(config: Any, precision: str) -> Any:
    """The micro model on CPU for --smoke: fp32 master weights for bf16 autocast, bf16 for bf16-pure."""
    import torch
    from transformers import Qwen3ForCausalLM

    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    return model if precision == "bf16" else model.to(torch.bfloat16)


def _rows(s: Settings, seq: int) -> list:
    """One random row per step (the micro model's vocabulary under --smoke), loss after a short prompt."""
    rows = bench.random_rows(seq, s.steps)
    if not s.smoke:
        return rows
    return [bench.Encoded(tuple(r % s.config.vocab_size for r in e.ids), 16, 1.0, e.row) for e in rows]


def section_fsdp(s: Settings, targets: list) -> None:
    """One process, world size 1, through the trainer with `fsdp: true`: FSDP2's fully_shard per decoder layer
    and on the root (as torchtitan applies it), bf16 compute over fp32 shards, gradients reduced in fp32."""
    import torch

    from sftscope.train.lab_model import build_tokenizer
    from sftscope.train.metrics import read_metrics
    from sftscope.train.trainer import TrainInputs, train

    cuda = torch.cuda.is_available()
    seq = s.seq_lens[0]
    print(
        f"4. FSDP2, 1 {'GPU' if cuda else 'CPU process (gloo)'}, {s.model_name}, 1 x {seq:,} tokens",
        flush=True,
    )
    tokenizer = build_tokenizer(["What is 2+3? \\boxed{5}"] * 50)  # pad/save only: the rows are token ids
    model = bench.gpu_model(s.config, "bf16") if cuda else _cpu_model(s.config, "bf16")
    cfg = dataclasses.replace(bench.gpu_config(seq, s.steps, "bf16"), fsdp=True)
    rows = _rows(s, seq)
    with tempfile.TemporaryDirectory() as tmp:
        bench._reset_peak()
        result = train(
            cfg, Path(tmp) / "run", inputs=TrainInputs(model, tokenizer, encoded=rows), progress=False
        )
        rate, _ = bench.measured_rate(Path(tmp) / "run", s.warmup)
        setup = read_metrics(Path(tmp) / "run")[0]  # what the trainer says it ran
    print(f"   trainer: fsdp {setup['fsdp']}, world {setup['world']}, precision {setup['precision']}, "
          f"device {setup['device']}", flush=True)  # fmt: skip
    targets.append(("FSDP2 through the trainer", setup["fsdp"] is True, ""))
    trained = result.model
    tied = trained.lm_head.weight is trained.model.embed_tokens.weight
    print(f"   tied embeddings after fully_shard: {'one tensor' if tied else 'TWO tensors'}", flush=True)
    targets.append(("FSDP2 keeps tied weights as one tensor", tied, ""))
    mfu = rate * bench.flops_per_token(s.config, count_params(s.config), seq) / bench.PEAK_FLOPS
    peak = f"peak {bench.peak_gb():.2f} GiB, " if cuda else ""
    losses = result.losses
    print(f"   {rate:,.0f} tokens/s, {peak}MFU {mfu:.1%}, losses {', '.join(f'{x:.3f}' for x in losses)}",
          flush=True)  # fmt: skip
    finite = len(losses) == s.steps and all(math.isfinite(x) and abs(x) < 1e4 for x in losses)
    targets.append(("FSDP2 step runs with finite losses", finite, ""))
    del result, trained, model
    if cuda:
        torch.cuda.empty_cache()


def section_vllm(s: Settings, targets: list) -> None:
    reason = vllm_missing()
    if reason:
        print(f"5. vLLM smoke: skipped ({reason})", flush=True)
        return
    import torch
    from vllm import LLM, SamplingParams

    from sftscope.train.lab_model import build_model, build_tokenizer

    print("5. vLLM smoke", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = build_tokenizer(["What is 2+3? \\boxed{5}"] * 50)
        build_model("micro", tokenizer).to(torch.bfloat16).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        llm = LLM(
            model=tmp, dtype="bfloat16", gpu_memory_utilization=0.2, enforce_eager=True, max_model_len=512
        )
        started = time.perf_counter()
        outs = llm.generate(
            ["What is 2+3?"] * 4, SamplingParams(temperature=0.0, max_tokens=16, ignore_eos=True)
        )
        new = sum(len(o.outputs[0].token_ids) for o in outs)
        print(f"   {new} new tokens in {time.perf_counter() - started:.2f} s", flush=True)
        targets.append(("vLLM generates 4 x 16 tokens", new == 64, f"{new}"))
        del llm


SECTIONS = (section_tests, section_trainers, section_fsdp, section_vllm)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would run, with sizes, and stop")
    parser.add_argument("--smoke", action="store_true", help="a micro model and short rows (CPU or GPU)")
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[8192, 16384], help="row lengths")
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per setup")
    parser.add_argument("--warmup", type=int, default=2, help="steps excluded from the rates")
    parser.add_argument(
        "--gpu-memory", type=float, default=141.0, help="GiB per GPU for the plan (H200: 141)"
    )
    args = parser.parse_args(argv)
    s = settings(args)
    if args.dry_run:
        dry_run(s)
        return 0
    import torch

    if not torch.cuda.is_available() and not args.smoke:
        print("error: the GPU check needs CUDA (use --dry-run or --smoke here)", file=sys.stderr)
        return 2
    print(f"gpu-check: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA'}, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    targets: list[tuple[str, bool | None, str]] = []
    failed = []
    for section in SECTIONS:
        try:
            section(s, targets)
        except Exception as exc:  # one broken section must not hide the figures of the next ones
            failed.append(section.__name__)
            print(f"   {section.__name__} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                  flush=True)  # fmt: skip
    print("targets:", flush=True)
    for name, ok, detail in targets:
        print(f"  {'n/a ' if ok is None else 'PASS' if ok else 'FAIL'} {name} {detail}".rstrip(), flush=True)
    return 1 if failed or any(ok is False for _, ok, _ in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
