"""The options of an evaluation, shared by `eval run` and `sweep`, and their resolution into `EvalConfig`.

Resolution is the package's one way: EvalConfig defaults, then `--config FILE.yaml`, then `--set key=value`,
then the flags given on the command line (a flag left out changes nothing).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sftscope.errors import InputError

# flag dest -> EvalConfig key (dotted for the nested backend options)
FLAG_KEYS = {
    "suite": "suite",
    "backend": "backend",
    "protocol": "protocol",
    "limit": "limit",
    "n_samples": "n_samples",
    "temperature": "temperature",
    "top_p": "top_p",
    "max_new_tokens": "max_new_tokens",
    "seed": "seed",
    "judge": "judge",
    "judge_backend": "judge_backend",
    "judge_base_url": "judge_base_url",
    "reward_model": "reward_model",
    "reward_model_device": "reward_model_device",
    "reward_model_dtype": "reward_model_dtype",
    "truth_judge": "truth_judge",
    "truth_judge_base_url": "truth_judge_base_url",
    "info_judge": "info_judge",
    "info_judge_base_url": "info_judge_base_url",
    "workers": "workers",
    "db": "db",
    "run": "run",
    "batch_size": "backend_options.batch_size",
    "device": "backend_options.device",
    "dtype": "backend_options.dtype",
    "base_url": "backend_options.base_url",
    "concurrency": "backend_options.concurrency",
    "retries": "backend_options.retries",
    "timeout": "backend_options.timeout",
    "tensor_parallel_size": "backend_options.tensor_parallel_size",
    "max_model_len": "backend_options.max_model_len",
    "data_parallel": "backend_options.data_parallel",
    "gpu_memory_utilization": "backend_options.gpu_memory_utilization",
}


JSON_BY_TASK = (
    "keyed by task, each with protocol, examples, n_samples, samples, max_new_tokens, max_generated_tokens, "
    "warning and error (and stored, missing when the DB exists)"
)


def add_eval_options(
    parser: argparse.ArgumentParser, *, default_db: str, json_shape: str = JSON_BY_TASK
) -> None:
    """Every option of an evaluation (defaults come from EvalConfig; None here means 'not given')."""
    what = parser.add_argument_group("what to evaluate")
    what.add_argument(
        "--suite", help="suite(s) and/or task names, comma-separated: paper, general, safety, lab, offline"
    )
    what.add_argument("--tasks", help="comma-separated task names (added to --suite)")
    what.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="first N examples of each task (MMLU-Pro: a stable random subset)",
    )
    what.add_argument(
        "--data-path",
        action="append",
        default=[],
        metavar="TASK=PATH",
        help="local copy of a task's data set (repeatable), e.g. hexphi=./HEx-PHI",
    )
    sampling = parser.add_argument_group("sampling (default: each task protocol's own)")
    sampling.add_argument("--n-samples", type=int, metavar="K", help="samples per example (avg@k)")
    sampling.add_argument("--temperature", type=float, metavar="T", help="0 = greedy")
    sampling.add_argument("--top-p", type=float, metavar="P", help="nucleus sampling mass, in (0, 1]")
    sampling.add_argument("--max-new-tokens", type=int, metavar="N", help="generation budget per sample")
    sampling.add_argument(
        "--seed", type=int, metavar="N", help="run-level seed; each sample derives its own from it"
    )
    backend = parser.add_argument_group("backend")
    backend.add_argument(
        "--backend", choices=("hf", "vllm", "openai"), help="generation backend (default: hf)"
    )
    backend.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="samples (prompt x sample rows) per backend call (default: 64)",
    )
    backend.add_argument("--device", help="hf: torch device (default: cuda if available, else cpu)")
    backend.add_argument("--dtype", help="hf, vllm: weights dtype (default: auto)")
    backend.add_argument(
        "--base-url", metavar="URL", help="openai: server URL, e.g. http://127.0.0.1:8000/v1"
    )
    backend.add_argument(
        "--concurrency", type=int, metavar="N", help="openai: parallel requests (default: 8)"
    )
    backend.add_argument("--retries", type=int, metavar="N", help="openai: tries per request (default: 4)")
    backend.add_argument(
        "--timeout", type=float, metavar="S", help="openai: seconds per request (default: 600)"
    )
    backend.add_argument(
        "--tensor-parallel-size", type=int, metavar="N", help="vllm: GPUs per engine (default: 1)"
    )
    backend.add_argument(
        "--gpu-memory-utilization",
        type=float,
        metavar="F",
        help="vllm: share of GPU memory to use (default: 0.9)",
    )
    backend.add_argument(
        "--max-model-len",
        type=int,
        metavar="N",
        help="hf, vllm: context length (default: the model's); a sample generates at most this minus its "
        "prompt's tokens, and that budget is stored with it",
    )
    backend.add_argument(
        "--data-parallel",
        type=int,
        metavar="N",
        help="hf, vllm: N engines in N processes, each on its own GPU(s) (hf on CPU: its own process), "
        "sharing the examples and the results DB (default: 1)",
    )
    backend.add_argument(
        "--backend-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any backend option (repeatable)",
    )
    add_scoring_options(parser.add_argument_group("scoring"))
    where = parser.add_argument_group("results")
    where.add_argument("--db", help=f"SQLite results file (default: {default_db})")
    where.add_argument("--run", help="run name stored with every sample")
    plan = parser.add_argument_group("dry run")
    plan.add_argument(
        "--dry-run",
        action="store_true",
        help="load no model, write nothing: print per task the examples, samples, max new tokens and an "
        "upper bound on the tokens to generate (sweep: also what each checkpoint misses), then exit",
    )
    plan.add_argument(
        "--json",
        action="store_true",
        help=f"with --dry-run: print one JSON object instead: {json_shape}",
    )
    config = parser.add_argument_group("config")
    config.add_argument("--config", metavar="FILE", help="YAML file of EvalConfig keys (flags override it)")
    config.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key",
    )


def add_scoring_options(group: argparse._ActionsContainer) -> None:
    """The scoring path's options (also `eval rescore`'s)."""
    group.add_argument(
        "--protocol",
        help="paper (as the reference code prompts, samples and scores) or strict (answer after </think>; an "
        "unclosed think block is wrong); default: each task's own (paper for the paper and safety suites)",
    )
    group.add_argument(
        "--judge", metavar="MODEL", help="judge model for judge-scored protocols (HEx-PHI paper)"
    )
    group.add_argument(
        "--judge-backend", choices=("hf", "vllm", "openai"), help="judge backend (default: openai)"
    )
    group.add_argument(
        "--judge-base-url", metavar="URL", help="openai judge: server URL, e.g. http://127.0.0.1:8000/v1"
    )
    group.add_argument(
        "--reward-model",
        metavar="MODEL",
        help="AlpacaEval paper metric: a HF sequence-classification reward model, e.g. "
        "allenai/Llama-3.1-8B-Instruct-RM-RB2",
    )
    group.add_argument(
        "--reward-model-device", metavar="DEVICE", help="reward model device (default: cuda if available)"
    )
    group.add_argument(
        "--reward-model-dtype", metavar="DTYPE", help="reward model dtype (default: auto = bf16 on GPU)"
    )
    group.add_argument(
        "--truth-judge",
        metavar="MODEL",
        help="TruthfulQA truth judge served at /v1/completions, e.g. allenai/truthfulqa-truth-judge-llama2-7B",
    )
    group.add_argument(
        "--truth-judge-base-url", metavar="URL", help="truth judge server URL, e.g. http://127.0.0.1:8001/v1"
    )
    group.add_argument(
        "--info-judge",
        metavar="MODEL",
        help="TruthfulQA informativeness judge, e.g. allenai/truthfulqa-info-judge-llama2-7B",
    )
    group.add_argument(
        "--info-judge-base-url", metavar="URL", help="info judge server URL, e.g. http://127.0.0.1:8002/v1"
    )
    group.add_argument("--workers", type=int, metavar="N", help="parallel scorers (default: 2)")
    group.add_argument(
        "--unsafe-code-exec",
        action="store_true",
        default=None,
        help="run generated code where no sandbox holds (no bubblewrap and not root); also "
        "SFTSCOPE_SANDBOX=unsafe. Only for code you trust",
    )


SCORING_FLAGS = (
    "protocol",
    "judge",
    "judge_backend",
    "judge_base_url",
    "reward_model",
    "reward_model_device",
    "reward_model_dtype",
    "truth_judge",
    "truth_judge_base_url",
    "info_judge",
    "info_judge_base_url",
    "workers",
)


def scoring_config(args: argparse.Namespace) -> Any:
    """The EvalConfig of a command that only scores (`eval rescore`, `eval score`): its scoring flags,
    checked by EvalConfig's own validation."""
    from sftscope.config import build
    from sftscope.eval.config import EvalConfig

    values = {
        FLAG_KEYS.get(d, d): getattr(args, d) for d in SCORING_FLAGS if getattr(args, d, None) is not None
    }
    if args.unsafe_code_exec:
        values["unsafe_code_exec"] = True
    return build(EvalConfig, values)


def parse_pairs(items: list[str], flag: str, example: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {flag} {example}")
        pairs[key.strip()] = value.strip()
    return pairs


def eval_values(args: argparse.Namespace, *, prefix: str = "") -> dict[str, Any]:
    """The EvalConfig keys that flags set, as a nested dict (under `prefix` for SweepConfig's `eval`)."""
    from sftscope.config import load_yaml

    values: dict[str, Any] = {}
    suite = ",".join(x for x in (args.suite, args.tasks) if x)
    if suite:
        _assign(values, f"{prefix}suite", suite)
    for dest, key in FLAG_KEYS.items():
        if dest != "suite" and getattr(args, dest, None) is not None:
            _assign(values, prefix + key, getattr(args, dest))
    if args.unsafe_code_exec:
        _assign(values, f"{prefix}unsafe_code_exec", True)
    paths = parse_pairs(args.data_path, "--data-path", "hexphi=./HEx-PHI")
    if paths:
        _assign(values, f"{prefix}data_paths", paths)
    for key, raw in parse_pairs(args.backend_opt, "--backend-opt", "batch_size=64").items():
        _assign(values, f"{prefix}backend_options.{key}", load_yaml(raw, f"--backend-opt {key}={raw}"))
    return values


def resolve(cls: type, args: argparse.Namespace, flags: dict[str, Any]) -> Any:
    """defaults <- --config <- --set <- flags, checked key by key (an unknown key is an error)."""
    from sftscope.config import load_config

    return load_config(cls, args.config, args.overrides, flags)


def _assign(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = tree.setdefault(key, {})
        if not isinstance(node, dict):
            raise InputError(f"config key {dotted!r}: '{key}' is not a section")
        tree = node
    tree[keys[-1]] = value


def check_json_flag(args: argparse.Namespace) -> None:
    if args.json and not args.dry_run:
        raise InputError("--json goes with --dry-run (a run prints its table; the DB holds every sample)")


def report_plan_notes(plans: list, *, errors: bool) -> None:
    """The dry run's warnings (and, when the table did not show them, its errors) on stderr."""
    for plan in plans:
        if plan.warning:
            print(f"warning: {plan.warning}", file=sys.stderr)
        if errors and plan.error:
            named = plan.error if plan.task in plan.error else f"task {plan.task}: {plan.error}"
            print(f"error: {named}", file=sys.stderr)
