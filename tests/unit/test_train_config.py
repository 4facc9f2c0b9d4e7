"""SFTConfig: the paper's defaults, YAML and --set resolution, save schedules, the TRL bridge."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftscope.config import load_config
from sftscope.errors import InputError
from sftscope.train.config import PAPER_SAVE_STEPS, SFTConfig, to_trl_config
from sftscope.train.schedule import lr_multiplier

ROOT = Path(__file__).resolve().parents[2]


PAPER_CONFIGS = sorted(p for p in (ROOT / "configs" / "sft").glob("*.yaml") if p.stem != "lab_countdown")


def test_every_paper_config_trains_as_the_reference_did():
    assert len(PAPER_CONFIGS) >= 16
    for path in PAPER_CONFIGS:
        cfg = load_config(SFTConfig, path)
        name = path.stem
        assert (cfg.precision, cfg.loss_reduction) == ("bf16-pure", "reference"), name
        assert (cfg.reference_world_size, cfg.reference_micro_batch) == (8, 4), name
        assert (cfg.betas, cfg.weight_decay, cfg.eps, cfg.max_grad_norm) == ([0.9, 0.999], 0.01, 1e-8, 1.0), (
            name
        )
        assert (cfg.warmup_ratio, cfg.min_lr_ratio, cfg.max_length, cfg.shuffle) == (
            0.1,
            0.0,
            20000,
            False,
        ), name
        assert cfg.fsdp and not cfg.trust_remote_code and cfg.model.startswith("Qwen/Qwen3-"), name
        assert cfg.lr == (1e-4 if "lr1e-4" in name else 1e-5 if "lr1e-5" in name else 5e-5), name
        assert cfg.schedule == ("constant" if "constlr" in name else "cosine"), name
        assert cfg.batch_size == (32 if "bs32" in name else 256), name
        assert cfg.epochs == (16 if "ep16" in name else 1 if "ep1" in name.replace("ep16", "") else 8), name
        assert cfg.max_rows == (2560 if "2.5k" in name else 0), name
        rows = cfg.max_rows or 20480
        total = cfg.epochs * -(-rows // cfg.batch_size)
        expected = [10, 20, 40, 80, 160, 320, 480, 640] + ([800, 960, 1120, 1280] if total == 1280 else [])
        assert cfg.resolved_save_steps(total) == [s for s in expected if s <= total] + (
            [] if total in expected else [total]
        ), name


def test_defaults_are_the_papers_recipe():
    cfg = SFTConfig()
    assert (cfg.lr, cfg.warmup_ratio, cfg.schedule, cfg.max_grad_norm) == (5e-5, 0.1, "cosine", 1.0)
    assert (cfg.betas, cfg.weight_decay, cfg.eps) == ([0.9, 0.999], 0.01, 1e-8)
    assert (cfg.batch_size, cfg.epochs, cfg.shuffle, cfg.max_length) == (256, 8, False, 20000)
    assert cfg.loss_reduction == "token_mean"
    assert cfg.resolved_save_steps(640) == list(PAPER_SAVE_STEPS)


def test_yaml_then_set_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("lr: 1e-5\nepochs: 1\nschedule: constant\n", encoding="utf-8")
    cfg = load_config(SFTConfig, path, ["epochs=2", "save_steps=[5, 10]"])
    assert (cfg.lr, cfg.epochs, cfg.schedule, cfg.save_steps) == (1e-5, 2, "constant", [5, 10])
    with pytest.raises(InputError, match="unknown config key 'learning_rate'"):
        load_config(SFTConfig, None, ["learning_rate=1"])
    with pytest.raises(InputError, match="schedule"):
        load_config(SFTConfig, None, ["schedule=linear"])
    with pytest.raises(InputError, match="warmup_ratio"):
        load_config(SFTConfig, None, ["warmup_ratio=1.5"])


def test_save_schedules():
    assert SFTConfig().resolved_save_steps(80) == [1, 2, 5, 10, 20, 40, 60, 80]
    assert SFTConfig(save_every=30).resolved_save_steps(100) == [30, 60, 90, 100]
    assert SFTConfig(save_steps=[3], save_final=False).resolved_save_steps(10) == [3]
    with pytest.raises(ValueError, match=r"save_steps \[12\] are past the last step 10"):
        SFTConfig(save_steps=[5, 12]).resolved_save_steps(10)


def test_warmup_is_verls_and_the_first_update_uses_lr_zero():
    for schedule in ("cosine", "constant", "wsd"):
        multiplier = lr_multiplier(schedule, 100, 0.1)
        assert [multiplier(k) for k in range(11)] == [k / 10 for k in range(10)] + [1.0]  # lr * k / warmup
    assert lr_multiplier("cosine", 33, 0.1)(3) == 1.0  # warmup = int(3.3) = 3 steps, rounded down as verl
    assert lr_multiplier("cosine", 9, 0.1)(0) == 1.0  # int(0.9) = 0: no warmup at all


def test_schedules():
    cosine = lr_multiplier("cosine", 100, 0.1)
    assert cosine(0) == 0.0 < cosine(9) < 1.0 and cosine(10) == pytest.approx(1.0)
    assert cosine(99) < 0.001 and cosine(55) == pytest.approx(0.5, abs=0.02)
    constant = lr_multiplier("constant", 100, 0.1)
    assert constant(5) < 1.0 and constant(10) == constant(99) == 1.0
    wsd = lr_multiplier("wsd", 100, 0.1, decay_ratio=0.2)
    assert wsd(79) == 1.0 and wsd(90) == pytest.approx(0.5) and wsd(99) < 0.1


def test_to_trl_config_carries_the_same_hyperparameters(tmp_path):
    import trl

    cfg = SFTConfig(
        lr=1e-5, epochs=2, batch_size=32, micro_batch_size=4, schedule="constant", max_length=4096
    )
    out = to_trl_config(cfg, str(tmp_path / "trl"))
    assert isinstance(out, trl.SFTConfig)
    assert (out.learning_rate, out.num_train_epochs, out.per_device_train_batch_size) == (1e-5, 2, 4)
    assert out.gradient_accumulation_steps == 8
    assert getattr(out.lr_scheduler_type, "value", out.lr_scheduler_type) == "constant_with_warmup"
    assert (out.weight_decay, out.adam_beta1, out.adam_beta2, out.adam_epsilon) == (0.01, 0.9, 0.999, 1e-8)
    assert (out.max_grad_norm, out.max_length, out.completion_only_loss) == (1.0, 4096, True)
    assert out.warmup_steps == 0.1 and out.train_sampling_strategy == "sequential"
    with pytest.raises(ValueError, match="not a multiple"):
        to_trl_config(SFTConfig(batch_size=30, micro_batch_size=4), str(tmp_path / "x"))
