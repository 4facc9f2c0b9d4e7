"""Checkpoint discovery on every layout, partial checkpoints, and a hub listing (monkeypatched, no network)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from sftscope.errors import InputError
from sftscope.eval import discovery
from sftscope.eval.discovery import FoundCheckpoint


def write_safetensors(path: Path, n_floats: int = 4, truncate: int = 0) -> None:
    header = json.dumps(
        {"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}}
    ).encode()
    blob = struct.pack("<Q", len(header)) + header + b"\0" * (4 * n_floats)
    path.write_bytes(blob[: len(blob) - truncate] if truncate else blob)


def make_ckpt(folder: Path, *, ours: bool = False, weights: bool = True, config: bool = True) -> Path:
    folder.mkdir(parents=True)
    if config:
        (folder / "config.json").write_text("{}")
    if weights:
        write_safetensors(folder / "model.safetensors")
    if ours:
        (folder / "sftscope.json").write_text(
            json.dumps({"step": 1, "epoch": 0.1, "tokens_seen": 10, "loss": 1.0})
        )
    return folder


def steps(found: list[FoundCheckpoint]) -> list[tuple[int, str, bool]]:
    return [(f.step, f.layout, f.complete) for f in found]


def test_our_layout_sorted_by_step(tmp_path):
    for n in (40, 5, 10):
        make_ckpt(tmp_path / "checkpoints" / f"step-{n}", ours=True)
    assert steps(discovery.discover_local(tmp_path)) == [
        (5, "sftscope", True),
        (10, "sftscope", True),
        (40, "sftscope", True),
    ]


@pytest.mark.parametrize(
    "name, layout",
    [("checkpoint-80", "hf_trainer"), ("merged_step80", "verl_merged"), ("step80", "released")],
)
def test_external_layouts(tmp_path, name, layout):
    make_ckpt(tmp_path / name)
    (tmp_path / "runs.log").write_text("not a checkpoint")
    (tmp_path / "stepx").mkdir()  # a name that only looks like one
    assert steps(discovery.discover_local(tmp_path)) == [(80, layout, True)]


def test_verl_global_step_uses_huggingface_subfolder(tmp_path):
    make_ckpt(tmp_path / "global_step_20" / "huggingface")
    (tmp_path / "global_step_20" / "model_world_size_2_rank_0.pt").write_bytes(b"x")
    shards_only = tmp_path / "global_step_40"
    shards_only.mkdir()
    (shards_only / "model_world_size_2_rank_0.pt").write_bytes(b"x")
    found = discovery.discover_local(tmp_path)
    assert steps(found) == [(20, "verl", True), (40, "verl", False)]
    assert discovery.model_folder(found[0]).endswith("global_step_20/huggingface")
    assert "model_merger" in found[1].problem


def test_merged_preferred_over_sharded_for_the_same_step(tmp_path):
    (tmp_path / "global_step_20").mkdir()
    make_ckpt(tmp_path / "merged_step20")
    assert steps(discovery.discover_local(tmp_path)) == [(20, "verl_merged", True)]


@pytest.mark.parametrize(
    "breakage, why",
    [
        ("no_weights", "no weights"),
        ("no_config", "config.json"),
        ("no_meta", "sftscope.json"),
        ("tmp_file", "being written"),
        ("truncated", "truncated"),
        ("missing_shard", "shard"),
        ("empty_bin", "empty"),
    ],
)
def test_partial_checkpoints_are_reported_not_complete(tmp_path, breakage, why):
    folder = tmp_path / "checkpoints" / "step-7"
    make_ckpt(
        folder,
        ours=breakage != "no_meta",
        weights=breakage not in ("no_weights", "missing_shard", "empty_bin"),
        config=breakage != "no_config",
    )
    if breakage == "tmp_file":
        (folder / ".model.safetensors.abc.tmp").write_bytes(b"partial")
    if breakage == "truncated":
        write_safetensors(folder / "model.safetensors", truncate=3)
    if breakage == "missing_shard":
        index = {
            "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
        }
        (folder / "model.safetensors.index.json").write_text(json.dumps(index))
        write_safetensors(folder / "model-00001-of-00002.safetensors")
    if breakage == "empty_bin":
        (folder / "pytorch_model.bin").write_bytes(b"")
    (found,) = discovery.discover_local(tmp_path)
    assert not found.complete
    assert why in found.problem


def test_sharded_index_complete_when_all_shards_present(tmp_path):
    folder = make_ckpt(tmp_path / "checkpoint-3", weights=False)
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": dict(zip("ab", shards))}))
    for shard in shards:
        write_safetensors(folder / shard)
    assert steps(discovery.discover_local(tmp_path)) == [(3, "hf_trainer", True)]


def test_temporary_folder_is_never_a_checkpoint(tmp_path):
    make_ckpt(tmp_path / "checkpoints" / "step-9.tmp", ours=True)
    assert discovery.discover_local(tmp_path) == []


def test_missing_run_dir_is_input_error(tmp_path):
    with pytest.raises(InputError, match="run directory not found"):
        discovery.discover_local(tmp_path / "nope")


def test_hub_listing_monkeypatched():
    files = [
        "README.md",
        "step10/config.json",
        "step10/model.safetensors",
        "step20/config.json",
        "step20/model-00001-of-00002.safetensors",  # shard 2 not uploaded yet
        "step40/config.json",
        "step40/model-00001-of-00002.safetensors",
        "step40/model-00002-of-00002.safetensors",
        "step80/tokenizer.json",  # no weights
    ]
    found = discovery.discover_hub("someone/Qwen3-4B-Math-CoT", list_files=lambda repo: files)
    assert steps(found) == [
        (10, "released", True),
        (20, "released", False),
        (40, "released", True),
        (80, "released", False),
    ]
    assert found[0].path == "hf://someone/Qwen3-4B-Math-CoT/step10"
    assert "model-00002-of-00002.safetensors" in found[1].problem


def test_hub_listing_uses_huggingface_hub(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(
        huggingface_hub, "list_repo_files", lambda repo: ["step5/config.json", "step5/model.safetensors"]
    )
    assert steps(discovery.discover_hub("a/b")) == [(5, "released", True)]


def test_hub_listing_failure_is_input_error():
    def boom(repo):
        raise OSError("offline")

    with pytest.raises(InputError, match="not a local run directory, and listing it as a hub repo failed"):
        discovery.discover_hub("a/b", list_files=boom)


def test_materialize_downloads_only_that_step(tmp_path):
    calls = []

    def fake_download(repo_id, allow_patterns):
        calls.append((repo_id, allow_patterns))
        return str(tmp_path)

    assert discovery.materialize("runs/x", download=fake_download) == "runs/x"
    assert discovery.materialize("hf://o/r/step40", download=fake_download) == str(tmp_path / "step40")
    assert calls == [("o/r", ["step40/*"])]


def test_parse_steps():
    assert discovery.parse_steps(None) is None
    assert discovery.parse_steps("0,40,last") == ({0, 40}, True)
    with pytest.raises(InputError, match="not a step number"):
        discovery.parse_steps("0,fourty")
