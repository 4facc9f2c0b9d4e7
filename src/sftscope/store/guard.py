"""What produced a stored sample, checked before it is reused: a result is never relabelled.

A stored row is reused (not regenerated) only when it was produced by the same model, with the same sampling
settings and the same prompt. Anything else is an InputError that says what differs and how to keep both
results apart (another --run name or another --db), instead of silently passing off old completions as new:

- the model: `checkpoints.model_id` (a content fingerprint of local weights, or the hub revision) of a
  (run, step) is fixed once recorded;
- the sampling: every field of `SamplingParams` that changes outputs (all but `n`, the number of samples,
  so asking for more samples later only adds the missing ones);
- the prompt: its hash, so a changed prompt template (or another data file whose ids collide) is caught.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from sftscope.errors import InputError
from sftscope.records import CheckpointRef, SamplingParams, text_hash

if TYPE_CHECKING:
    from sftscope.store.db import Store

KEEP_APART = "use another --run name (or another --db) to keep both results"
# Sampling fields that do not change what a stored sample is.
NOT_IDENTITY = ("n",)


def check_model(store: Store, ref: CheckpointRef, model_id: str) -> None:
    held = store.checkpoint_model(ref.run, ref.step)
    if held is None or not model_id or not held[0] or held[0] == model_id:
        return
    raise InputError(
        f"{store.path}: run {ref.run!r} step {ref.step} was evaluated with another model "
        f"({held[1]}, fingerprint {held[0][:12]}) than {ref.path} (fingerprint {model_id[:12]}); {KEEP_APART}"
    )


def sampling_identity(sampling: dict[str, Any]) -> dict[str, Any]:
    """The `SamplingParams` fields that define a sample; a field missing from an older row has its default,
    and extra keys (what a backend recorded about itself) do not count."""
    defaults = dataclasses.asdict(SamplingParams())
    return {k: sampling.get(k, default) for k, default in defaults.items() if k not in NOT_IDENTITY}


def check_sample(
    where: str,
    task: str,
    key: tuple[str, int],
    stored: tuple[str, str],
    prompt: str,
    sampling: dict[str, Any],
) -> None:
    """Raise when the stored row `key` was produced from another prompt or with other sampling settings."""
    stored_hash, stored_sampling = stored
    if stored_hash != text_hash(prompt):
        raise InputError(
            f"{where}: task {task} example {key[0]!r} is stored with a different prompt (another prompt "
            f"template, or another data file with the same example ids); {KEEP_APART}"
        )
    old, new = sampling_identity(json.loads(stored_sampling)), sampling_identity(sampling)
    differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if differ:
        what = ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in differ[:3])
        raise InputError(
            f"{where}: task {task} is stored with other sampling settings ({what}); {KEEP_APART}"
        )
