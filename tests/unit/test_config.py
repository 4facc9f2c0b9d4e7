from dataclasses import dataclass, field
from typing import Literal

import pytest

from sftscope.config import is_hub_id, load_config, load_yaml, looks_like_local_path, save_config
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


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("epochs: 2\n".encode("utf-16"), "UTF-16 text, not UTF-8"),
        (b"name: caf\xe9\n", r"line 1, column 10: not valid UTF-8"),
        (b"epochs: 2\nname: a\nepochs: 3\n", r"line 3: invalid YAML \(found duplicate key 'epochs'"),
        (b"optim:\n  lr: 1.0\n  lr: 2.0\n", r"line 3: invalid YAML \(found duplicate key 'lr'"),
        (b"optim: {lr: 1, lr: 2}\n", "duplicate key 'lr'"),
        (b"x: " + b"[" * 600 + b"]" * 600 + b"\n", "nested too deeply"),
    ],
)
def test_malformed_yaml_is_a_one_line_error_naming_the_file(tmp_path, data, needle):
    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    with pytest.raises(InputError, match=needle) as info:
        load_config(Demo, path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_merge_keys_may_still_be_overridden():
    assert load_yaml("a: &x {lr: 1}\noptim:\n  <<: *x\n  lr: 2\n", "c.yaml")["optim"] == {"lr": 2}


@pytest.mark.parametrize("item", ["optim.betas=[0.9", "optim.betas={a: 1, a: 2}", "name='unclosed"])
def test_malformed_set_value_is_a_one_line_error(item):
    with pytest.raises(InputError, match=r"--set .*invalid YAML") as info:
        load_config(Demo, None, [item])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "hub"),
    [
        ("gpt2", True),
        ("Qwen/Qwen3-4B", True),
        ("HuggingFaceH4/MATH-500", True),
        ("owner/name.v2", True),
        ("./model", False),
        ("/abs/model", False),
        ("~/model", False),
        ("runs/a/checkpoints", False),
        ("data.jsonl", False),
        ("owner/train.parquet", False),
        ("a--b/c", False),
        ("hf:owner/name", False),
        ("", False),
        ("C:\\models\\x", False),
    ],
)
def test_is_hub_id_is_one_rule(text, hub):
    assert is_hub_id(text) is hub
    if hub:
        assert not looks_like_local_path(text)


def test_existing_paths_and_local_owner_folders_are_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert is_hub_id("gpt2") and is_hub_id("owner/name")
    (tmp_path / "gpt2").mkdir()
    (tmp_path / "owner").mkdir()
    assert not is_hub_id("gpt2") and not is_hub_id("owner/name") and looks_like_local_path("owner/name")
