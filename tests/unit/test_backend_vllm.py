"""The vLLM backend against a fake `vllm` with vLLM 0.33's real signatures and errors (tests/fake_vllm.py):
greedy n > 1, per-sample seeds, the context-length budget, a clean shutdown, refused settings; and, where
vllm and a GPU exist, a real generation."""

from __future__ import annotations

import importlib.util
import weakref

import pytest

import fake_vllm
from sftscope.cli.main import main
from sftscope.errors import InputError
from sftscope.eval.backends.base import make_backend
from sftscope.records import SamplingParams
from sftscope.store.db import Store

HAS_VLLM = importlib.util.find_spec("vllm") is not None
PROMPTS = [
    [{"role": "user", "content": "What is 3 + 4?"}],
    [{"role": "user", "content": "Sort these words: apple, banana, cherry, then a few more words."}],
    [{"role": "user", "content": "Hi"}],
]


@pytest.fixture
def vllm(monkeypatch):
    return fake_vllm.install(monkeypatch)


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed")
def test_missing_vllm_is_a_clear_error():
    with pytest.raises(InputError, match="pip install 'sftscope\\[vllm\\]'"):
        make_backend("vllm", "some/model")


def test_the_fake_refuses_greedy_n_above_1_as_vllm_does(vllm):
    with pytest.raises(fake_vllm.VLLMValidationError, match="n must be 1 when using greedy sampling"):
        vllm.SamplingParams(n=3, temperature=0.0)
    with pytest.raises(TypeError, match="max_new_tokens"):
        vllm.SamplingParams(max_new_tokens=5)


def test_greedy_n_samples_are_one_request_copied_and_marked(vllm):
    backend = make_backend("vllm", "org/model")
    out = backend.generate(PROMPTS, SamplingParams(temperature=0.0, max_new_tokens=20, n=3))
    assert [len(samples) for samples in out] == [3, 3, 3]
    for first, *copies in out:
        assert all(c.text == first.text and c.n_tokens == first.n_tokens for c in copies)
        assert "replica" not in first.info and all(c.info["replica"] for c in copies)
    assert [params.n for _, params in backend.llm.requests] == [1, 1, 1]


def test_each_sample_is_its_own_seeded_request_whatever_the_batch(vllm):
    backend = make_backend("vllm", "org/model")
    params = SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=30, n=2)
    seeds = [[11, 12], [21, 22], [31, 32]]
    together = backend.generate(PROMPTS, params, seeds)
    requests = backend.llm.requests
    assert [(p.n, p.seed, p.top_p, p.max_tokens) for _, p in requests[:2]] == [
        (1, 11, 0.9, 30),
        (1, 12, 0.9, 30),
    ]
    alone = [backend.generate([PROMPTS[i]], params, [seeds[i]])[0] for i in (2, 0, 1)]
    assert [[c.text for c in s] for s in together] == [
        [c.text for c in s] for s in (alone[1], alone[2], alone[0])
    ]
    assert together[0][0].text != together[0][1].text, "two seeds, two samples"
    # Without seeds (a judge's call), the seeds come from the run seed and the prompt, not the batch.
    assert backend.generate(PROMPTS[:1], params)[0] == backend.generate(PROMPTS[:2], params)[0]


def test_budget_is_cut_to_the_context_and_reported(vllm):
    vllm.LLM.model_lengths["org/short"] = 40
    backend = make_backend("vllm", "org/short")
    out = backend.generate(PROMPTS, SamplingParams(temperature=0.0, max_new_tokens=100))
    lengths = [len(ids) for ids, _ in backend.llm.requests]
    for (completion,), prompt_tokens, (_, params) in zip(out, lengths, backend.llm.requests):
        assert params.max_tokens == 40 - prompt_tokens
        assert completion.info == {
            "max_new_tokens_effective": 40 - prompt_tokens,
            "prompt_tokens": prompt_tokens,
        }
        assert completion.n_tokens <= 40 - prompt_tokens
    short = backend.generate(PROMPTS[:1], SamplingParams(temperature=0.0, max_new_tokens=3))
    assert short[0][0].info["max_new_tokens_effective"] == 3
    too_long = [{"role": "user", "content": " ".join(["word"] * 60)}]
    with pytest.raises(InputError, match="leaves no room to generate within the context length 40"):
        backend.generate([too_long], SamplingParams(temperature=0.0))


def test_close_shuts_the_engine_down_and_lets_it_go(vllm):
    backend = make_backend("vllm", "org/model", max_model_len=64)
    engine_core = backend.llm.llm_engine.engine_core
    gone = weakref.ref(backend.llm)
    backend.close()
    assert engine_core.shutdowns == 1
    assert vllm.distributed.parallel_state.calls == [
        "destroy_model_parallel",
        "destroy_distributed_environment",
    ]
    assert gone() is None, "nothing holds the engine after close()"
    backend.close()  # twice is harmless
    assert engine_core.shutdowns == 1
    with pytest.raises(RuntimeError, match="closed"):
        backend.generate(PROMPTS, SamplingParams())


def test_settings_vllm_refuses_are_one_line_errors(vllm):
    backend = make_backend("vllm", "org/model")
    with pytest.raises(InputError, match="vLLM refuses these sampling settings: temperature must be in"):
        backend.generate(PROMPTS, SamplingParams(temperature=3.0))
    with pytest.raises(InputError, match="vLLM cannot load the model"):
        make_backend("vllm", "org/model", gpu_memory_utilization=1.5)


@pytest.mark.slow  # imports reasoning-gym and starts scorers (seconds)
def test_eval_run_with_vllm_stores_replicas_and_budgets(vllm, tmp_path):
    db = tmp_path / "r.db"
    args = [
        "eval",
        "run",
        "--model",
        "org/model",
        "--backend",
        "vllm",
        "--tasks",
        "chain_sum",
        "--limit",
        "3",
    ]
    args += ["--temperature", "0", "--n-samples", "3", "--max-new-tokens", "16", "--db", str(db)]
    assert main(args) == 0
    with Store(db) as store:
        rows = store.samples()
    assert len(rows) == 9
    for row in rows:
        assert row.sampling["max_new_tokens_effective"] == 16 and row.sampling["prompt_tokens"] > 0
        assert row.sampling.get("replica_of") == (None if row.sample_idx == 0 else 0)
    by_example = {}
    for row in rows:
        by_example.setdefault(row.example_id, set()).add(row.completion)
    assert all(len(texts) == 1 for texts in by_example.values())


@pytest.mark.skipif(not HAS_VLLM, reason="vllm is not installed (optional extra)")
@pytest.mark.gpu
def test_vllm_generates(tmp_path):
    from eval_tiny_model import build_tiny_model

    backend = make_backend("vllm", str(build_tiny_model(tmp_path / "tiny")), gpu_memory_utilization=0.2)
    out = backend.generate(
        [[{"role": "user", "content": "hi"}]], SamplingParams(temperature=0.0, max_new_tokens=5, n=2)
    )
    assert len(out[0]) == 2 and out[0][0].n_tokens <= 5 and out[0][1].info["replica"]
    backend.close()
