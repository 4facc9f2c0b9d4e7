from dataclasses import dataclass, field
from typing import Literal

import pytest

from sftscope.config import load_config, save_config
from sftscope.errors import InputError


@dataclass
class Optim:
    lr: float = 5e-5
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class Demo:
    name: str = "x"
    epochs: int = 8
    schedule: Literal["cosine", "constant", "wsd"] = "cosine"
    save_steps: list[int] | int = field(default_factory=lambda: [10, 20])
    optim: Optim = field(default_factory=Optim)
    model: str | None = None


def test_defaults_then_yaml_then_set(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("# sftscope train c.yaml\nepochs: 2\noptim:\n  lr: 1e-5\n")
    cfg = load_config(Demo, path, ["optim.lr=3e-4", "schedule=wsd", "save_steps=50"])
    assert cfg.epochs == 2
    assert cfg.optim.lr == pytest.approx(3e-4)
    assert cfg.optim.betas == (0.9, 0.999)
    assert cfg.schedule == "wsd"
    assert cfg.save_steps == 50


def test_yaml_float_written_as_exponent_is_a_float(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 5e-5\n")
    assert load_config(Demo, path).optim.lr == pytest.approx(5e-5)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["optim.lrr=1"], "optim.lrr"),
        (["epochs=eight"], "epochs"),
        (["schedule=linear"], "schedule"),
        (["save_steps=[1, x]"], "save_steps"),
        (["nonsense"], "key=value"),
        (["epochs=true"], "epochs"),
    ],
)
def test_bad_keys_and_types_name_the_key(overrides, needle):
    with pytest.raises(InputError, match=needle.replace("[", r"\[")):
        load_config(Demo, None, overrides)


def test_bad_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: [1,\n")
    with pytest.raises(InputError, match=r"bad\.yaml"):
        load_config(Demo, path)


def test_save_round_trips(tmp_path):
    cfg = load_config(Demo, None, ["model=Qwen/Qwen3-4B"])
    save_config(cfg, tmp_path / "resolved.yaml")
    again = load_config(Demo, tmp_path / "resolved.yaml")
    assert again == Demo(model="Qwen/Qwen3-4B", save_steps=[10, 20], optim=Optim(betas=(0.9, 0.999)))
