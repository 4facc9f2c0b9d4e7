"""Training throughput and memory: our trainer vs TRL's SFTTrainer on the same rows, in the same run.

    .venv/bin/python benchmarks/train_throughput.py                    # CPU: the tiny lab model, 2 threads
    .venv/bin/python benchmarks/train_throughput.py --mode cpu-vocab   # CPU: ~40M Qwen3 shape, real vocabulary
    python benchmarks/train_throughput.py --mode gpu                   # CUDA: Qwen3-1.7B shape, 8k and 16k rows

Every figure is printed as soon as it is measured. Useful (non-padding) tokens/s exclude the first
`--warmup` steps. On GPU: ours in the recipe's precision (bf16 autocast over fp32 master weights) and in
bf16-pure, TRL with bf16 weights as in docs/baselines; peak is `torch.cuda.max_memory_allocated`; MFU
counts 6*N + 6*L*s*(heads*head_dim) FLOPs per token (N parameters, L layers, s the row length) against
989 TFLOP/s, the H100/H200 dense bf16 peak. On CPU, peak is the process's maximum RSS, so `cpu-vocab` runs
each trainer in its own subprocess. TRL reads its rows from `datasets.IterableDataset.from_generator`,
which avoids the `Dataset.from_list` pickling trap of Python 3.12; without TRL or datasets (a bare GPU
image) its rows are skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from sftscope.data.countdown import generate_rows
from sftscope.train.config import SFTConfig, to_trl_config
from sftscope.train.encoding import Encoded, encode_rows
from sftscope.train.lab_model import build_model, build_tokenizer
from sftscope.train.metrics import read_metrics
from sftscope.train.trainer import TrainInputs, train

PEAK_FLOPS = 989e12
VOCAB = 151_936
# cpu-vocab: a Qwen3 shape of ~42M parameters, 39M of them the real vocabulary's tied embedding.
VOCAB_SHAPE = {"hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 4, "num_attention_heads": 4,
               "num_key_value_heads": 2, "head_dim": 64}  # fmt: skip


def flops_per_token(config: Any, n_params: int, seq: int) -> float:
    return 6 * n_params + 6 * config.num_hidden_layers * seq * config.num_attention_heads * config.head_dim


def trl_missing() -> str | None:
    """Why TRL's baseline cannot run here, or None."""
    import importlib

    try:
        for name in ("trl", "datasets"):
            importlib.import_module(name)
    except Exception as exc:  # an ImportError, or a broken install raising anything at import
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return None


def _fresh_accelerate_state() -> None:
    """TRL's Trainer sets up accelerate's process-wide state; a second TRL run in the process needs it anew."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=False)


def ours(model: Any, tokenizer: Any, encoded: list[Encoded], cfg: SFTConfig, warmup: int) -> dict:
    """Our trainer as `sftscope train` runs it, with the model and rows handed in (TrainInputs)."""
    with tempfile.TemporaryDirectory() as tmp:
        _reset_peak()
        inputs = TrainInputs(model=model, tokenizer=tokenizer, encoded=encoded)
        result = train(cfg, Path(tmp) / "run", inputs=inputs, progress=False)
        rate, last = measured_rate(Path(tmp) / "run", warmup)
    return {"tokens_per_s": rate, "peak_gb": peak_gb(), "final_loss": last["loss"], "losses": result.losses}


def measured_rate(run: Path, warmup: int) -> tuple[float, dict]:
    """Tokens/s over the steps after the first `warmup` ones, from the run's metrics log; and its last record."""
    logs = [m for m in read_metrics(run) if "loss" in m]
    first, last = logs[warmup - 1], logs[-1]
    return (last["tokens_seen"] - first["tokens_seen"]) / (last["elapsed"] - first["elapsed"]), last


def trl_baseline(model: Any, tokenizer: Any, encoded: list[Encoded], cfg: SFTConfig, warmup: int) -> dict:
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
        _reset_peak()
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
    return {"tokens_per_s": measured / (stamps[-1] - stamps[warmup - 1]), "peak_gb": peak_gb()}


def _reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gb() -> float:
    """GiB: CUDA's peak allocation, or on CPU the process's peak RSS (Linux reports KiB)."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def report(result: dict, out: list[dict]) -> None:
    """Print one measured setup at once and keep it for the summary."""
    if "skipped" in result:
        print(f"{result['setup']}: skipped ({result['skipped']})", flush=True)
    else:
        mfu = f", MFU {result['mfu']:.1%}" if "mfu" in result else ""
        print(f"{result['setup']}: {result['tokens_per_s']:,.0f} tokens/s, peak {result['peak_gb']:.2f} GiB{mfu}",
              flush=True)  # fmt: skip
    out.append(result)


def cpu(args) -> list[dict]:
    torch.set_num_threads(args.threads)
    rows = generate_rows(512, seed=0, style=args.style)
    tokenizer = build_tokenizer([r.messages[0]["content"] + r.response for r in rows])
    encoded, _ = encode_rows(tokenizer, rows, 1024)
    cfg = _cpu_config(args)
    results: list[dict] = []
    for name, run in (("ours", ours), ("trl", trl_baseline)):
        setup = f"{name} tiny lab model, 16 rows/step, {args.threads} threads"
        if name == "trl" and (args.no_trl or trl_missing()):
            report({"setup": setup, "skipped": "--no-trl" if args.no_trl else trl_missing()}, results)
            continue
        model = build_model("tiny", tokenizer, seed=0)
        report({"setup": setup, **run(model, tokenizer, encoded, cfg, args.warmup)}, results)
    return results


def _cpu_config(args) -> SFTConfig:
    return SFTConfig(max_steps=args.steps, batch_size=16, micro_batch_size=16, lr=1e-3, precision="fp32",
                     save_steps=[], save_final=False, state_every=10**6, shuffle=False)  # fmt: skip


def cpu_vocab(args) -> list[dict]:
    """The large-vocabulary CPU setup; each trainer in a subprocess, so each RSS peak is its own."""
    results: list[dict] = []
    for name in ("ours", "trl"):
        setup = f"{name} Qwen3 ~42M, vocab {VOCAB:,}, 16 CoT rows/step, {args.threads} threads (RSS)"
        if name == "trl" and (args.no_trl or trl_missing()):
            report({"setup": setup, "skipped": "--no-trl" if args.no_trl else trl_missing()}, results)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            cmd = [
                sys.executable,
                __file__,
                "--mode",
                "cpu-vocab-one",
                "--which",
                name,
                "--json",
                str(out),
                "--steps",
                str(args.steps),
                "--warmup",
                str(args.warmup),
                "--threads",
                str(args.threads),
            ]
            subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
            report({"setup": setup, **json.loads(out.read_text())[0]}, results)
    return results


def cpu_vocab_one(args) -> list[dict]:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.set_num_threads(args.threads)
    rows = generate_rows(512, seed=0, style="cot")
    tokenizer = build_tokenizer([r.messages[0]["content"] + r.response for r in rows])
    encoded, stats = encode_rows(tokenizer, rows, 1024)
    config = Qwen3Config(vocab_size=VOCAB, tie_word_embeddings=True, max_position_embeddings=4096,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **VOCAB_SHAPE)  # fmt: skip
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    run = ours if args.which == "ours" else trl_baseline
    result = run(model, tokenizer, encoded, _cpu_config(args), args.warmup)
    result["tokens_per_row"] = stats.tokens / stats.rows
    result["params"] = sum(p.numel() for p in model.parameters())
    return [result]


def qwen3_1_7b() -> Any:
    sys.path.insert(0, str(Path(__file__).parent))
    from qwen3_shapes import qwen3_config

    return qwen3_config("Qwen3-1.7B")


def random_rows(seq: int, n: int) -> list[Encoded]:
    """n rows of `seq` random tokens, loss on all but a 512-token prompt."""
    gen = torch.Generator().manual_seed(seq)
    return [
        Encoded(tuple(torch.randint(0, VOCAB, (seq,), generator=gen).tolist()), 512, 1.0, i) for i in range(n)
    ]


def gpu_config(seq: int, steps: int, precision: str) -> SFTConfig:
    return SFTConfig(max_steps=steps, batch_size=1, micro_batch_size=1, max_length=seq, lr=1e-5,
                     precision=precision, activation_checkpointing=True, save_steps=[], save_final=False,
                     state_every=10**6)  # fmt: skip


def gpu_model(config: Any, precision: str) -> Any:
    """A randomly initialised model, built on the GPU: the recipe keeps fp32 master weights, bf16-pure not."""
    from transformers import Qwen3ForCausalLM

    torch.manual_seed(0)
    dtype = torch.float32 if precision in ("bf16", "fp32") else torch.bfloat16
    with torch.device("cuda"):
        return Qwen3ForCausalLM(config).to(dtype)


def gpu_setup(name: str, precision: str, seq: int, args, config: Any, tokenizer: Any) -> dict:
    """One measured setup on the GPU: ours in `precision`, or TRL (bf16 weights)."""
    setup = f"{name} {precision} Qwen3-1.7B shape, 1 x {seq:,} tokens/step"
    if name == "trl" and (args.no_trl or trl_missing()):
        return {"setup": setup, "skipped": "--no-trl" if args.no_trl else trl_missing()}
    model = gpu_model(config, precision)
    n_params = sum(p.numel() for p in model.parameters())
    run = ours if name == "ours" else trl_baseline
    try:
        out = run(
            model,
            tokenizer,
            random_rows(seq, args.steps),
            gpu_config(seq, args.steps, precision),
            args.warmup,
        )
    except torch.cuda.OutOfMemoryError as exc:
        return {"setup": setup, "skipped": f"out of memory ({str(exc).splitlines()[0][:120]})"}
    finally:
        del model
        torch.cuda.empty_cache()
    out["mfu"] = out["tokens_per_s"] * flops_per_token(config, n_params, seq) / PEAK_FLOPS
    return {"setup": setup, "name": name, "precision": precision, "seq": seq, **out}


def gpu(args) -> list[dict]:
    config = qwen3_1_7b()
    rows = generate_rows(32, seed=0, style="direct")
    tokenizer = build_tokenizer([r.messages[0]["content"] + r.response for r in rows])  # save/pad only
    results: list[dict] = []
    for seq in args.seq_lens:
        for name, precision in (("ours", "bf16"), ("ours", "bf16-pure"), ("trl", "bf16-pure")):
            report(gpu_setup(name, precision, seq, args, config, tokenizer), results)
    return results


def compare(results: list[dict]) -> None:
    """ours / TRL for every measured pair with the same row length (GPU) or mode (CPU)."""
    trl = {r.get("seq"): r for r in results if r["setup"].startswith("trl") and "skipped" not in r}
    for r in results:
        base = trl.get(r.get("seq"))
        if r["setup"].startswith("ours") and "skipped" not in r and base:
            speed = r["tokens_per_s"] / base["tokens_per_s"]
            memory = r["peak_gb"] / base["peak_gb"]
            print(f"ours / TRL: {speed:.2f}x tokens/s, {memory:.2f}x peak ({r['setup']})", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    modes = ("auto", "cpu", "cpu-vocab", "gpu", "cpu-vocab-one")
    parser.add_argument("--mode", choices=modes, default="auto", help="auto: gpu if CUDA, else cpu")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per setup")
    parser.add_argument("--warmup", type=int, default=2, help="steps excluded from the rates")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (cpu modes)")
    parser.add_argument("--style", default="cot", help="Countdown trace style for the cpu rows")
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[8192, 16384], help="GPU row lengths")
    parser.add_argument("--no-trl", action="store_true", help="skip the TRL SFTTrainer baseline")
    parser.add_argument("--which", choices=("ours", "trl"), help=argparse.SUPPRESS)  # cpu-vocab-one
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    mode = args.mode if args.mode != "auto" else ("gpu" if torch.cuda.is_available() else "cpu")
    if mode == "gpu" and not torch.cuda.is_available():
        print("error: --mode gpu needs CUDA", file=sys.stderr)
        return 2
    if mode == "cpu-vocab-one":
        results = cpu_vocab_one(args)
    else:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
        results = {"cpu": cpu, "cpu-vocab": cpu_vocab, "gpu": gpu}[mode](args)
        compare(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
