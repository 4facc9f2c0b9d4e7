"""Data order and micro-batches: fixed order, same plan on every rank, never padded to max_length."""

from __future__ import annotations

from sftscope.train.batches import IGNORE, collate, epoch_order, plan_step, step_rows, steps_per_epoch
from sftscope.train.encoding import Encoded


def enc(n: int, n_prompt: int = 2, row: int = 0, weight: float = 1.0) -> Encoded:
    return Encoded(tuple(range(10, 10 + n)), n_prompt, weight, row)


def test_fixed_order_repeats_every_epoch_and_shuffle_is_seeded():
    assert steps_per_epoch(10, 4) == 3
    assert step_rows(10, 0, 4, False, 0) == (0, [0, 1, 2, 3])
    assert step_rows(10, 2, 4, False, 0) == (0, [8, 9])
    assert step_rows(10, 3, 4, False, 0) == (1, [0, 1, 2, 3])
    assert epoch_order(10, 1, True, 7) == epoch_order(10, 1, True, 7)
    assert epoch_order(10, 1, True, 7) != epoch_order(10, 2, True, 7)
    assert sorted(epoch_order(10, 1, True, 7)) == list(range(10))


def test_plan_gives_every_rank_the_same_number_of_micro_batches():
    rows = [enc(5 + i, row=i) for i in range(5)]
    plans = plan_step(rows, world=2, micro_batch_size=2)
    assert [len(p) for p in plans] == [2, 2]
    assert plans[1][1] == []  # rank 1 has 2 rows: one real micro-batch and one empty
    flat = [e.row for p in plans for m in p for e in m]
    assert sorted(flat) == list(range(5))
    by_tokens = plan_step(rows, world=1, micro_batch_size=1, micro_batch_tokens=12)
    assert all(sum(len(e.ids) for e in m) <= 12 or len(m) == 1 for m in by_tokens[0])
    assert sorted(e.row for m in by_tokens[0] for e in m) == list(range(5))


def test_packed_collate_restarts_positions_and_masks_prompts():
    a, b = enc(4, n_prompt=2, weight=2.0), enc(3, n_prompt=1)
    batch = collate([a, b], packing=True, pad_id=0)
    assert batch["input_ids"].shape == (1, 7)
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1, 2]]
    # a: positions 1,2 predict its response tokens 12,13; b: positions 0,1 predict 11,12; no cross-row target
    assert batch["targets"].tolist() == [[IGNORE, 12, 13, IGNORE, 11, 12, IGNORE]]
    assert batch["weights"][0, 1].item() == 2.0


def test_padded_collate_pads_to_the_longest_row_only_and_empty_uses_filler():
    batch = collate([enc(4), enc(2, n_prompt=1)], packing=False, pad_id=0)
    assert batch["input_ids"].shape == (2, 4)
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    empty = collate([], packing=True, pad_id=0, filler=enc(3))
    assert (empty["targets"] == IGNORE).all()
