"""A model's identity, stored with its results: `model_fingerprint(model)`.

- A local directory: sha256 over every file's relative name and size, the full content of small files
  (config, tokenizer, chat template, index) and, for weight files, their header plus 1 MiB read at 16 evenly
  spaced offsets. Hashing every byte of a 28 GB checkpoint would cost a minute per checkpoint; two different
  trainings of the same architecture differ in every tensor, so sampled content tells them apart, while the
  same files always give the same fingerprint.
- A hub id: the repository's commit (`hub:<id>@<sha>`) when it can be resolved (the local cache is
  consulted first, so this works offline after a download), else `hub:<id>`.
- Anything served over HTTP: `served:<name>@<base_url>` (we cannot see its weights).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

SMALL = 8 << 20  # files up to 8 MiB are hashed whole
SAMPLES = 16
SAMPLE_BYTES = 1 << 20
_CACHE: dict[tuple[str, float, int], str] = {}


def model_fingerprint(model: str, *, served_at: str | None = None) -> str:
    if served_at is not None:
        return f"served:{model}@{served_at}"
    path = Path(os.path.expanduser(model))
    if path.is_dir():
        return "sha256:" + _folder_digest(path)
    return _hub_identity(model)


def _folder_digest(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    stat = [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime) for p in files]
    key = (str(folder.resolve()), max((m for _, _, m in stat), default=0.0), sum(s for _, s, _ in stat))
    if key in _CACHE:
        return _CACHE[key]
    digest = hashlib.sha256()
    for (name, size, _), path in zip(stat, files):
        digest.update(f"{name}\0{size}\0".encode())
        with open(path, "rb") as handle:
            if size <= SMALL:
                digest.update(handle.read())
                continue
            digest.update(handle.read(SAMPLE_BYTES))  # the header (safetensors keeps its index up front)
            for k in range(1, SAMPLES + 1):
                handle.seek(max(0, size * k // (SAMPLES + 1) - SAMPLE_BYTES // 2))
                digest.update(handle.read(SAMPLE_BYTES))
    _CACHE[key] = digest.hexdigest()
    return _CACHE[key]


def _hub_identity(repo_id: str) -> str:
    try:
        from huggingface_hub import model_info, try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, "config.json")
        if isinstance(cached, str):
            # .../models--owner--name/snapshots/<sha>/config.json
            return f"hub:{repo_id}@{Path(cached).parent.name}"
        return f"hub:{repo_id}@{model_info(repo_id).sha}"
    except Exception:  # offline, gated, or not a hub id: the name is all we know
        return f"hub:{repo_id}"
