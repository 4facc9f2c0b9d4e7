"""Evaluation speed: hf backend throughput, rescoring 10k stored math completions, and a resumed re-run.

    .venv/bin/python benchmarks/eval_backend.py [--model DIR] [--prompts 64] [--max-new-tokens 64] [--rows 10000]

- generate: new tokens/s of the hf backend on lab-suite prompts, batched (`--batch-size`, length-sorted) vs
  batch size 1 as the baseline, measured in the same run on the same model. Without `--model` it builds the
  lab's `tiny` preset (1.7 M params, random weights: outputs run to `--max-new-tokens`, which is what a
  throughput measurement wants).
- rescore: seconds for `eval rescore` (Math-Verify in 2 scoring worker processes) over `--rows` stored math500
  completions of ~1.5k characters (target: <= 60 s for 10k).
- resume: an eval of the lab suite, then the same eval again; the re-run must generate 0 tokens.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from sftscope.eval.backends.base import make_backend
from sftscope.eval.config import EvalConfig
from sftscope.eval.runner import evaluate
from sftscope.eval.scoring import rescore
from sftscope.eval.spec import ScoreContext
from sftscope.eval.tasks import resolve_suite
from sftscope.records import CheckpointRef, SampleRecord, SamplingParams
from sftscope.store.db import Store

THINK = "Let me think. First compute the sum, then check it. Wait, let me verify the last step again. " * 12


def build_lab_model(out: Path) -> str:
    from sftscope.train.lab_model import build_model, build_tokenizer, tokenizer_corpus

    tokenizer = build_tokenizer(tokenizer_corpus(0, n_countdown=200, n_procedural=50))
    model = build_model("tiny", tokenizer)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    return str(out)


def lab_prompts(n: int) -> list[list[dict[str, str]]]:
    prompts = []
    for spec in resolve_suite("lab"):
        prompts += [spec.default_protocol.prompt(ex) for ex in spec.load(limit=max(1, n // 5 + 1))]
    return prompts[:n]


def bench_generate(model: str, n_prompts: int, max_new: int, batch_size: int) -> dict:
    prompts = lab_prompts(n_prompts)
    params = SamplingParams(temperature=0.6, top_p=0.95, max_new_tokens=max_new, seed=0)
    rates = {}
    for label, bs, subset in (
        ("batched", batch_size, prompts),
        ("batch1", 1, prompts[: max(4, n_prompts // 8)]),
    ):
        backend = make_backend("hf", model, batch_size=bs)
        backend.generate(subset[:2], SamplingParams(temperature=0.0, max_new_tokens=4))  # warm-up
        start = time.perf_counter()
        out = backend.generate(subset, params)
        seconds = time.perf_counter() - start
        tokens = sum(c.n_tokens for cs in out for c in cs)
        rates[label] = {
            "prompts": len(subset),
            "tokens": tokens,
            "seconds": round(seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1),
        }
    rates["speedup_vs_batch1"] = round(rates["batched"]["tokens_per_s"] / rates["batch1"]["tokens_per_s"], 2)
    return rates


def bench_rescore(rows: int, workers: int) -> dict:
    rng = random.Random(0)
    records = []
    for i in range(rows):
        a, b = rng.randint(1, 999), rng.randint(1, 999)
        answer = f"\\frac{{{a}}}{{{b}}}" if i % 3 == 0 else str(a + b)
        shown = answer if rng.random() < 0.7 else str(a + b + 1)
        completion = f"<think>{THINK}</think>So the result is $\\boxed{{{shown}}}$."
        records.append(
            SampleRecord(
                run="bench",
                checkpoint="step-0",
                step=0,
                task="math500",
                task_version="1",
                domain="in_domain",
                example_id=f"q{i // 3}",
                sample_idx=i % 3,
                prompt="p",
                gold=answer,
                completion=completion,
                extracted=None,
                correct=False,
                score=0.0,
                n_tokens=400,
            )
        )
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "r.db") as store:
        store.add_samples(records)
        start = time.perf_counter()
        (report,) = rescore(store, task="math500", ctx=ScoreContext(threads=workers))
        seconds = time.perf_counter() - start
        correct = sum(r.correct for r in store.samples(task="math500"))
    return {
        "rows": rows,
        "workers": workers,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds, 1),
        "correct": correct,
        "changed": report.changed,
        "target_s": 60,
    }


class Counting:
    def __init__(self, inner):
        self.inner, self.name, self.tokens = inner, inner.name, 0

    def describe(self):
        return self.inner.describe()

    def generate(self, prompts, params, seeds=None):
        out = self.inner.generate(prompts, params, seeds)
        self.tokens += sum(c.n_tokens for cs in out for c in cs)
        return out


def bench_resume(model: str, limit: int, max_new: int) -> dict:
    tasks = resolve_suite("lab")
    cfg = EvalConfig(limit=limit, max_new_tokens=max_new)
    ref = CheckpointRef(run="bench", step=0, path=model)
    result = {}
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "r.db") as store:
        for label in ("first", "rerun"):
            backend = Counting(make_backend("hf", model, batch_size=64))
            start = time.perf_counter()
            summary = evaluate(backend, tasks, store, ref, cfg)
            result[label] = {
                "seconds": round(time.perf_counter() - start, 2),
                "generated": summary.generated,
                "tokens": backend.tokens,
            }
    assert result["rerun"]["tokens"] == 0, "a finished eval must generate nothing on re-run"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="model dir (default: build the lab tiny preset, random weights)")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or build_lab_model(Path(tmp) / "lab-tiny")
        results = {
            "generate": bench_generate(model, args.prompts, args.max_new_tokens, args.batch_size),
            "resume": bench_resume(model, limit=20, max_new=args.max_new_tokens),
            "rescore": bench_rescore(args.rows, args.workers),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
