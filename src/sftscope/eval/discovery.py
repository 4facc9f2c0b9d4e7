"""Find the checkpoints of a run: ours, HF Trainer's, verl's and the paper's released `step<N>/` folders.

Layouts (docs/design.md § Run directory), searched in the run dir and in its `checkpoints/` folder:

    checkpoints/step-<N>/     ours (written by `sftscope train`, with sftscope.json)
    checkpoint-<N>/           Hugging Face Trainer
    merged_step<N>/           verl, merged to Hugging Face format
    global_step_<N>/          verl (HF weights in the folder itself or in its huggingface/ subfolder)
    step<N>/                  the paper's released repos (local or on the hub)

The base model is step 0: `--base`, or the `model` of the run's config (`RunDir.base_model`).

A checkpoint counts only when it is complete: config.json, weights whose files are whole (every shard that an
index names is there, and a safetensors file is as long as its header says), no temp/incomplete marker, and
for our layout `sftscope.json`. A checkpoint that is still being written is reported as pending, never
half-evaluated; `--watch` retries it on the next poll.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sftscope.errors import InputError
from sftscope.rundir import CHECKPOINT_PATTERN, RunDir

HUB_PREFIX = "hf://"

# Pattern -> layout name, in order of preference when two layouts hold the same step (merged beats sharded).
LAYOUTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("sftscope", re.compile(rf"^{CHECKPOINT_PATTERN.pattern}$")),
    ("verl_merged", re.compile(r"^merged_step_?(\d+)$")),
    ("released", re.compile(r"^step(\d+)$")),
    ("hf_trainer", re.compile(r"^checkpoint-(\d+)$")),
    ("verl", re.compile(r"^global_step_(\d+)$")),
)
_PREFERENCE = {name: i for i, (name, _) in enumerate(LAYOUTS)}
INCOMPLETE_SUFFIXES = (".tmp", ".incomplete", ".partial", ".lock")
INCOMPLETE_MARKERS = ("INCOMPLETE", ".incomplete", "_INCOMPLETE")


@dataclass(frozen=True)
class FoundCheckpoint:
    """One checkpoint folder. `problem` is None when it is complete, else why it cannot be evaluated yet."""

    step: int
    path: str  # a local folder, or hf://owner/repo/subfolder for a hub checkpoint (downloaded lazily)
    layout: str
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.problem is None


def weights_problem(folder: Path) -> str | None:
    """Why the Hugging Face weights in `folder` are not loadable yet, or None when they look whole."""
    if not (folder / "config.json").is_file():
        return "no config.json"
    names = {p.name for p in folder.iterdir()}
    stray = sorted(n for n in names if n.endswith(INCOMPLETE_SUFFIXES) or n in INCOMPLETE_MARKERS)
    if stray:
        return f"still being written ({stray[0]} present)"
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if index_name in names:
            return _index_problem(folder / index_name)
    single = [n for n in ("model.safetensors", "pytorch_model.bin") if n in names]
    others = sorted(n for n in names if n.endswith(".safetensors") and n not in single)
    files = single or others
    if not files:
        return "no weights (*.safetensors or pytorch_model*.bin)"
    for name in files:
        problem = _file_problem(folder / name)
        if problem:
            return problem
    return None


def checkpoint_problem(folder: Path, layout: str) -> str | None:
    """Completeness of one checkpoint folder for its layout (see the module docstring)."""
    if folder.name.endswith(INCOMPLETE_SUFFIXES):
        return "still being written (temporary folder)"
    if layout == "verl":
        hf = folder / "huggingface"
        if (folder / "config.json").is_file():
            return weights_problem(folder)
        if hf.is_dir() and _has_weights(hf):
            return weights_problem(hf)
        return (
            "verl FSDP shards without Hugging Face weights: merge them first "
            "(python -m verl.model_merger merge --backend fsdp --local_dir ... --target_dir ...)"
        )
    problem = weights_problem(folder)
    if problem is None and layout == "sftscope":
        meta = RunDir.checkpoint_meta(folder)
        if not meta.is_file():
            return f"no {meta.name} (written last by `sftscope train`, so the save has not finished)"
        try:
            json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return f"{meta.name} is not readable JSON yet"
    return problem


def model_folder(found: FoundCheckpoint) -> str:
    """The folder that holds config.json and weights (verl keeps them in a huggingface/ subfolder)."""
    path = Path(found.path)
    if found.layout == "verl" and not (path / "config.json").is_file() and (path / "huggingface").is_dir():
        return str(path / "huggingface")
    return found.path


def discover_local(run_dir: str | Path) -> list[FoundCheckpoint]:
    """All checkpoint folders of a local run, one per step (the preferred layout wins a tie), by step."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: run directory not found (give a run dir or a hub repo id owner/name)")
    candidates: list[FoundCheckpoint] = []
    for root in (run_dir, RunDir(run_dir).checkpoints_dir):
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if not child.is_dir():
                continue
            for layout, pattern in LAYOUTS:
                match = pattern.match(child.name)
                if match:
                    step = int(match.group(1))
                    candidates.append(
                        FoundCheckpoint(step, str(child), layout, checkpoint_problem(child, layout))
                    )
                    break
    return _one_per_step(candidates)


def discover_hub(repo_id: str, list_files: Callable[[str], list[str]] | None = None) -> list[FoundCheckpoint]:
    """Checkpoint subfolders of a hub repo, from its file listing only (nothing is downloaded here).

    Files on the hub are committed whole, so a subfolder is complete when the listing has its config.json and
    weights, and every shard named like `model-0000k-of-0000n` up to n.
    """
    if list_files is None:
        from huggingface_hub import list_repo_files

        list_files = list_repo_files
    try:
        files = list_files(repo_id)
    except Exception as exc:  # the hub client raises many types (offline, 404, auth)
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise InputError(
            f"{repo_id}: not a local run directory, and listing it as a hub repo failed "
            f"({type(exc).__name__}: {first})"
        ) from None
    by_folder: dict[str, set[str]] = {}
    for name in files:
        folder, sep, rest = name.partition("/")
        if sep:
            by_folder.setdefault(folder, set()).add(rest)
    candidates = []
    for folder, names in sorted(by_folder.items()):
        for layout, pattern in LAYOUTS:
            match = pattern.match(folder)
            if match:
                step = int(match.group(1))
                path = f"{HUB_PREFIX}{repo_id}/{folder}"
                candidates.append(FoundCheckpoint(step, path, layout, _listing_problem(names)))
                break
    return _one_per_step(candidates)


def materialize(path: str, download: Callable[..., str] | None = None) -> str:
    """A local folder for a checkpoint path: hub subfolders are downloaded on first use (and then cached)."""
    if not path.startswith(HUB_PREFIX):
        return path
    repo_id, _, sub = path[len(HUB_PREFIX) :].rpartition("/")
    if download is None:
        from huggingface_hub import snapshot_download

        download = snapshot_download
    root = download(repo_id, allow_patterns=[f"{sub}/*"])
    return str(Path(root) / sub)


def parse_steps(spec: str | None) -> tuple[set[int], bool] | None:
    """`--steps 0,40,last` -> ({0, 40}, True). None selects every step."""
    if spec is None or not spec.strip():
        return None
    steps, last = set(), False
    for part in spec.split(","):
        part = part.strip()
        if part == "last":
            last = True
        elif part.isdigit():
            steps.add(int(part))
        else:
            raise InputError(
                f"--steps {spec!r}: {part!r} is not a step number or 'last' (e.g. --steps 0,40,last)"
            )
    return steps, last


def _has_weights(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))


def _index_problem(index: Path) -> str | None:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return f"{index.name} is not a readable weight index yet"
    for shard in sorted(set(weight_map.values())):
        if not (index.parent / shard).is_file():
            return f"shard {shard} named in {index.name} is missing"
        problem = _file_problem(index.parent / shard)
        if problem:
            return problem
    return None


def _file_problem(path: Path) -> str | None:
    """A truncated weights file: safetensors records its own length, so a short file is caught cheaply."""
    size = path.stat().st_size
    if size == 0:
        return f"{path.name} is empty"
    if path.suffix != ".safetensors":
        return None
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return f"{path.name} is truncated"
        (header_len,) = struct.unpack("<Q", head)
        if 8 + header_len > size:
            return f"{path.name} is truncated (header)"
        try:
            header = json.loads(handle.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return f"{path.name} has an unreadable header"
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    if 8 + header_len + max(ends, default=0) > size:
        return f"{path.name} is truncated ({size} bytes, header promises more)"
    return None


def _listing_problem(names: set[str]) -> str | None:
    if "config.json" not in names:
        return "no config.json"
    weights = [n for n in names if n.endswith(".safetensors") or re.match(r"pytorch_model.*\.bin$", n)]
    if not weights:
        return "no weights (*.safetensors or pytorch_model*.bin)"
    for name in weights:
        match = re.search(r"-(\d+)-of-(\d+)\.", name)
        if match:
            total, stem = int(match.group(2)), name[: match.start()]
            ext = name[match.end() - 1 :]
            for k in range(1, total + 1):
                shard = f"{stem}-{k:0{len(match.group(1))}d}-of-{match.group(2)}{ext}"
                if shard not in names:
                    return f"shard {shard} is missing"
    return None


def _one_per_step(candidates: list[FoundCheckpoint]) -> list[FoundCheckpoint]:
    best: dict[int, FoundCheckpoint] = {}
    for found in candidates:
        held = best.get(found.step)
        if held is None or (held.problem is not None, _PREFERENCE[held.layout]) > (
            found.problem is not None,
            _PREFERENCE[found.layout],
        ):
            best[found.step] = found
    return [best[step] for step in sorted(best)]
