"""Checkpoints a sweep can read: a full Hugging Face model dir per saved step, which appears atomically.

`RunDir.checkpoint(step)` holds config.json, the safetensors weights, the tokenizer with its chat template
and `sftscope.json` {step, epoch, tokens_seen, loss}, written last. Under FSDP every rank takes part in
gathering the full state and the main process writes it. The dir is built under a hidden temp name and
renamed into place, so a sweep watching the run never sees half of one.

Tied weights: a model whose config ties lm_head to the embedding is saved without the lm_head tensor.
`save_pretrained(state_dict=...)` would otherwise keep a second copy; transformers re-ties on load, but a
loader that reads lm_head (vLLM may) must not find a stale one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from sftscope.atomic import write_json
from sftscope.rundir import RunDir
from sftscope.train.distributed import Dist, barrier, full_model_state
from sftscope.train.model import tied_targets


def save_checkpoint(
    run: RunDir,
    dist: Dist,
    module: Any,
    model: Any,
    tokenizer: Any,
    step: int,
    meta: dict[str, Any],
    dtype: Any,
) -> Path:
    """Write the checkpoint for `step` (a collective under FSDP: every rank calls it); returns its path."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per shard write would bury the training bar
    state = full_model_state(module, dist)
    final = run.checkpoint(step)
    if dist.main:
        for target in tied_targets(model):
            state.pop(target, None)
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        tmp = run.checkpoint_tmp(step)
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, state_dict=state)
        tokenizer.save_pretrained(tmp)
        write_json(RunDir.checkpoint_meta(tmp), meta)
        if final.exists():  # re-created after a resume from an earlier state: same step, same weights
            shutil.rmtree(final)
        os.replace(tmp, final)
    barrier(dist)
    return final
