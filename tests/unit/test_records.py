import subprocess
import sys

import pytest

from sftscope.atomic import atomic_open
from sftscope.records import split_think


def test_split_think():
    assert split_think("<think>a</think>\nsum \\boxed{1}") == ("a", "\nsum \\boxed{1}")
    assert split_think("no think \\boxed{2}") == (None, "no think \\boxed{2}")
    assert split_think("<think>ran out") == ("ran out", "")


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
