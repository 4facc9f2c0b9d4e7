"""The data order and the micro-batches of each optimizer step.

Order: step k of an epoch uses rows [k*B, (k+1)*B) of that epoch's order, which is the file order (the
paper) or, with `shuffle`, a permutation seeded by (seed, epoch). The order is a pure function of the step
number, so a resumed run sees exactly the rows an uninterrupted run would.

Micro-batches never pad to max_length. With packing (`SFTConfig.packs`: on by default only with a
flash-attention backend, whose varlen kernels make it pay; see `SFTConfig.packing`) the rows of a micro-batch are
concatenated into one sequence and position_ids restart at 0 for each row; transformers turns that into a
block-diagonal causal mask (SDPA) or varlen kernels (flash-attention), so rows never attend to each other.
Without packing, rows are length-sorted before they are grouped and padded to the longest in the group.
Every rank builds the plan for the whole step, so all ranks agree on the number of micro-steps and on the
step's loss-token count without communicating.
"""

from __future__ import annotations

import math
import random
from typing import Any

from sftscope.train.encoding import Encoded

IGNORE = -100


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    return math.ceil(n_rows / batch_size)


def epoch_order(n_rows: int, epoch: int, shuffle: bool, seed: int) -> list[int]:
    order = list(range(n_rows))
    if shuffle:
        random.Random(f"order:{seed}:{epoch}").shuffle(order)
    return order


def step_rows(n_rows: int, step: int, batch_size: int, shuffle: bool, seed: int) -> tuple[int, list[int]]:
    """(epoch, row indices) for 0-based optimizer step `step`; epochs repeat the order when shuffle is off."""
    per_epoch = steps_per_epoch(n_rows, batch_size)
    epoch, k = divmod(step, per_epoch)
    order = epoch_order(n_rows, epoch, shuffle, seed)
    return epoch, order[k * batch_size : (k + 1) * batch_size]


def plan_step(
    rows: list[Encoded], world: int, micro_batch_size: int, micro_batch_tokens: int = 0
) -> list[list[list[Encoded]]]:
    """Split one step's rows into per-rank lists of micro-batches, all ranks with the same count.

    A rank with fewer micro-batches gets empty ones, which run a zero-loss forward so that collective
    gradient syncs still line up.
    """
    if micro_batch_tokens > 0:
        # Longest first, dealt round-robin: ranks get similar token loads and neighbours similar lengths.
        ranked = sorted(rows, key=lambda e: -len(e.ids))
        per_rank = [ranked[r::world] for r in range(world)]
        plans = [_fill_by_tokens(rank_rows, micro_batch_tokens) for rank_rows in per_rank]
    else:
        per_rank = [rows[r::world] for r in range(world)]
        plans = [
            [rank_rows[i : i + micro_batch_size] for i in range(0, len(rank_rows), micro_batch_size)]
            for rank_rows in per_rank
        ]
    n_micro = max(1, *(len(p) for p in plans))
    return [p + [[] for _ in range(n_micro - len(p))] for p in plans]


def _fill_by_tokens(rows: list[Encoded], budget: int) -> list[list[Encoded]]:
    batches: list[list[Encoded]] = []
    current: list[Encoded] = []
    used = 0
    for enc in rows:
        if current and used + len(enc.ids) > budget:
            batches.append(current)
            current, used = [], 0
        current.append(enc)
        used += len(enc.ids)
    if current:
        batches.append(current)
    return batches


def collate(
    micro: list[Encoded],
    packing: bool,
    pad_id: int,
    filler: Encoded | None = None,
    scales: list[float] | None = None,
) -> dict[str, Any]:
    """Tensors for one forward: input_ids, position_ids (packed) or attention_mask, targets, weights,
    loss_index, and scales when given.

    targets[t] is the token that position t predicts, or IGNORE; weights[t] is that row's weight and
    scales[t] its loss scale (see sftscope.train.loss); loss_index lists the flat positions with a target.
    An empty micro-batch uses `filler` with every target ignored.
    """
    import torch

    empty = not micro
    if empty:
        if filler is None:
            raise ValueError("an empty micro-batch needs a filler row")
        micro = [filler]
    row_scales = scales if scales is not None and not empty else [0.0] * len(micro)
    seqs, tgts, wts, scs = [], [], [], []
    for enc, scale in zip(micro, row_scales):
        ids = list(enc.ids)
        tgt = [IGNORE] * len(ids)
        for t in range(max(enc.n_prompt - 1, 0), len(ids) - 1):
            tgt[t] = ids[t + 1]
        if empty:
            tgt = [IGNORE] * len(ids)
        seqs.append(ids)
        tgts.append(tgt)
        wts.append([enc.weight] * len(ids))
        scs.append([scale] * len(ids))
    if packing:
        positions = [p for s in seqs for p in range(len(s))]
        batch = {
            "input_ids": torch.tensor([[t for s in seqs for t in s]]),
            "position_ids": torch.tensor([positions]),
            "targets": torch.tensor([[t for s in tgts for t in s]]),
            "weights": torch.tensor([[w for s in wts for w in s]], dtype=torch.float32),
        }
        if scales is not None:
            batch["scales"] = torch.tensor([[c for s in scs for c in s]], dtype=torch.float32)
        batch["loss_index"] = (batch["targets"].reshape(-1) >= 0).nonzero().squeeze(1)
        return batch
    width = max(len(s) for s in seqs)

    def pad(seq: list, value: Any) -> list:
        return seq + [value] * (width - len(seq))

    batch = {
        "input_ids": torch.tensor([pad(s, pad_id) for s in seqs]),
        "attention_mask": torch.tensor([pad([1] * len(s), 0) for s in seqs]),
        "targets": torch.tensor([pad(t, IGNORE) for t in tgts]),
        "weights": torch.tensor([pad(w, 0.0) for w in wts], dtype=torch.float32),
    }
    if scales is not None:
        batch["scales"] = torch.tensor([pad(c, 0.0) for c in scs], dtype=torch.float32)
    batch["loss_index"] = (batch["targets"].reshape(-1) >= 0).nonzero().squeeze(1)
    return batch
