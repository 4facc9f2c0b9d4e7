import subprocess
import sys

import pytest

import sftscope.records as records
from sftscope.atomic import atomic_open
from sftscope.records import REASONS, Verdict, split_think


def test_split_think():
    assert split_think("<think>a</think>\nsum \\boxed{1}") == ("a", "\nsum \\boxed{1}")
    assert split_think("no think \\boxed{2}") == (None, "no think \\boxed{2}")
    assert split_think("<think>ran out") == ("ran out", "")


def test_a_verdict_reason_is_one_of_the_codes():
    with pytest.raises(ValueError, match=r"unknown verdict reason 'no_boxed' .*known: correct, wrong"):
        Verdict(False, None, "no_boxed")
    with pytest.raises(ValueError, match="judge score 5"):
        Verdict(True, "5", "judge score 5")
    # A scorer that says nothing more than right or wrong gets that code, so no verdict is without one.
    assert (Verdict(True).reason, Verdict(False, "7").reason) == ("correct", "wrong")
    assert Verdict(False, None, "unparsed", details={"why": "no_boxed"}).reason == "unparsed"


def test_the_codes_are_listed_once_with_a_one_line_meaning():
    constants = {v for k, v in vars(records).items() if k.isupper() and isinstance(v, str) and v in REASONS}
    assert constants == set(REASONS)  # every code has its constant, and the other way round
    assert all(code.isidentifier() and code.islower() for code in REASONS)
    assert all(meaning and "\n" not in meaning for meaning in REASONS.values())


def test_atomic_open_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("new")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize(
    "module",
    ["sftscope.records", "sftscope.config", "sftscope.verify", "sftscope.store", "sftscope.analysis"],
)
def test_light_layers_import_without_torch(module):
    code = f"import sys, importlib, pkgutil; m = importlib.import_module('{module}'); "
    code += "[importlib.import_module(i.name) for i in pkgutil.walk_packages(getattr(m, '__path__', []), m.__name__ + '.')]; "
    code += (
        "heavy = [h for h in ('torch', 'transformers', 'vllm', 'trl', 'accelerate') if h in sys.modules]; "
    )
    code += "print(heavy); sys.exit(1 if heavy else 0)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
