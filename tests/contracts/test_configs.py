"""Every shipped config loads into SFTConfig, names the command that runs it, and fits the recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sftscope.config import load_config
from sftscope.train.config import SFTConfig

ROOT = Path(__file__).resolve().parents[2]
SFT = sorted((ROOT / "configs" / "sft").glob("*.yaml"))
ACCELERATE = sorted((ROOT / "configs" / "accelerate").glob("*.yaml"))


def test_the_paper_runs_are_all_there():
    names = {p.stem for p in SFT}
    for size in ("1.7b", "4b", "8b", "14b"):
        assert f"qwen3_{size}_math_cot" in names
    assert {"table1_20k_ep8_bs256", "table1_2.5k_ep8_bs32", "table1_20k_ep1_bs32", "lab_countdown"} <= names
    assert len(ACCELERATE) >= 2


@pytest.mark.parametrize("path", SFT, ids=lambda p: p.stem)
def test_sft_config_loads_and_first_line_is_its_command(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# ") and f"train configs/sft/{path.name}" in first
    cfg = load_config(SFTConfig, path)
    assert cfg.model and cfg.data
    if path.stem.startswith("table1"):  # Table 1: three ways to spend the same 640 steps
        rows = cfg.max_rows or 20480
        assert cfg.epochs * -(-rows // cfg.batch_size) == 640
    if "ep16" in path.stem:
        assert cfg.epochs == 16 and cfg.resolved_save_steps(1280)[-1] == 1280
    if "constlr" in path.stem:
        assert cfg.schedule == "constant"


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.stem)
def test_accelerate_configs_are_fsdp2_bf16(path):
    assert path.read_text(encoding="utf-8").startswith("# ")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["distributed_type"] == "FSDP" and data["mixed_precision"] == "bf16"
    assert data["fsdp_config"]["fsdp_version"] == 2 and data["fsdp_config"]["fsdp_reshard_after_forward"]
