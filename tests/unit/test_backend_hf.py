"""The transformers backend on a tiny random Qwen3 model (CPU): batching, greedy, seeds, EOS and length."""

from __future__ import annotations

import pytest

from eval_tiny_model import build_tiny_model
from sftscope.errors import InputError
from sftscope.eval.backends.base import make_backend
from sftscope.records import Generator, SamplingParams

pytestmark = pytest.mark.slow
PROMPTS = [
    [{"role": "user", "content": "What is 3 + 4?"}],
    [
        {
            "role": "user",
            "content": "Sort these words: apple, banana, cherry, and then some more words please.",
        }
    ],
    [{"role": "user", "content": "Hi"}],
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def backend(tiny):
    return make_backend("hf", tiny, batch_size=4)


def test_is_a_generator_and_greedy_is_batch_independent(backend, tiny):
    assert isinstance(backend, Generator)
    params = SamplingParams(temperature=0.0, max_new_tokens=8, n=2)
    out = backend.generate(PROMPTS, params)
    assert [len(c) for c in out] == [2, 2, 2]
    assert all(c[0].text == c[1].text for c in out), "greedy samples are identical"
    assert all("replica" not in c[0].info and c[1].info["replica"] for c in out), "copies say so"
    one_by_one = make_backend("hf", tiny, batch_size=1).generate(PROMPTS, params)
    assert [[c.text for c in cs] for cs in out] == [[c.text for c in cs] for cs in one_by_one]
    for cs in out:
        assert cs[0].n_tokens == 8 and cs[0].finish_reason == "length"


def test_a_sample_is_the_same_whatever_its_batch_size_and_order(backend, tiny):
    """Each row samples from its own seed: batching, order and neighbours do not change a sample."""
    params = SamplingParams(temperature=1.0, top_p=0.95, top_k=40, max_new_tokens=10, n=2)
    seeds = [[101, 102], [201, 202], [301, 302]]
    together = backend.generate(PROMPTS, params, seeds)
    single = make_backend("hf", tiny, batch_size=1)
    reversed_ = single.generate(PROMPTS[::-1], params, seeds[::-1])[::-1]
    middle_alone = backend.generate(PROMPTS[1:2], params, seeds[1:2])
    texts = [[c.text for c in cs] for cs in together]
    assert texts == [[c.text for c in cs] for cs in reversed_]
    assert texts[1] == [c.text for c in middle_alone[0]]
    assert len({t for row in texts for t in row}) == 6, "six seeds, six different samples"


def test_top_k_1_sampling_is_greedy_and_penalties_change_tokens(backend):
    greedy = backend.generate(PROMPTS, SamplingParams(temperature=0.0, max_new_tokens=12))
    top1 = backend.generate(PROMPTS, SamplingParams(temperature=1.3, top_k=1, max_new_tokens=12))
    assert [c[0].text for c in top1] == [c[0].text for c in greedy]
    penalised = backend.generate(
        PROMPTS,
        SamplingParams(temperature=0.0, max_new_tokens=12, repetition_penalty=1.5, frequency_penalty=1.0),
    )
    assert [c[0].text for c in penalised] != [c[0].text for c in greedy]


def test_row_sampler_pipeline_on_known_logits():
    import torch

    from sftscope.eval.backends.rowsampler import RowSampler

    logits = torch.tensor([[4.0, 1.0, 0.5, -1.0, -2.0]])
    prompt = torch.tensor([[1, 3]])  # tokens 1 and 3 are in the prompt
    mask = torch.ones_like(prompt)

    def chosen(params, input_ids=prompt):
        scores = RowSampler(params, [7], mask)(input_ids, logits.clone())
        assert (scores == 0).sum() == 1 and torch.isinf(scores).sum() == 4, "one token left, the rest -inf"
        return int(scores.argmax())

    assert chosen(SamplingParams(temperature=0.0)) == 0
    # Repetition penalty (prompt and output, vLLM's rule): 4.0 is not seen; seen 1.0 -> 0.5, -1.0 -> -2.0.
    assert chosen(SamplingParams(temperature=0.0, repetition_penalty=10.0)) == 0
    seen = RowSampler(SamplingParams(repetition_penalty=2.0), [7], mask)._penalised(prompt, logits.clone())
    assert seen.tolist() == [[4.0, 0.5, 0.5, -2.0, -2.0]]
    # Frequency and presence penalties count generated tokens only: token 0 twice after the prompt.
    generated = torch.tensor([[1, 3, 0, 0]])
    out = RowSampler(SamplingParams(frequency_penalty=1.0, presence_penalty=0.5), [7], mask)._penalised(
        generated, logits.clone()
    )
    assert out.tolist() == [[1.5, 1.0, 0.5, -1.0, -2.0]]
    # top_p keeps only the most likely token when it alone has the mass; top_k=2 never leaves the top two.
    assert {chosen(SamplingParams(temperature=1.0, top_p=0.5, seed=s)) for s in range(20)} == {0}
    picks = set()
    for seed in range(40):
        scores = RowSampler(SamplingParams(temperature=5.0, top_k=2), [seed], mask)(prompt, logits.clone())
        picks.add(int(scores.argmax()))
    assert picks == {0, 1}


def test_budget_is_cut_to_the_context_length(tiny):
    short = make_backend("hf", tiny, batch_size=4, max_model_len=70)
    out = short.generate(PROMPTS, SamplingParams(temperature=0.0, max_new_tokens=20))
    prompt_tokens = [len(ids) for ids in short.encode(PROMPTS)]
    for (completion,), n in zip(out, prompt_tokens):
        budget = min(20, 70 - n)
        assert completion.info == {"max_new_tokens_effective": budget, "prompt_tokens": n}
        assert completion.n_tokens == budget and completion.finish_reason == "length"
    assert min(20, 70 - max(prompt_tokens)) < 20, "the long prompt's budget was cut"
    with pytest.raises(InputError, match="leaves no room to generate within the context length 30"):
        make_backend("hf", tiny, max_model_len=30).generate(PROMPTS, SamplingParams(temperature=0.0))


def test_sampling_is_seeded(backend):
    params = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=12, n=3, seed=7)
    first = backend.generate(PROMPTS[:2], params)
    assert backend.generate(PROMPTS[:2], params) == first
    assert len({c.text for c in first[0]}) > 1, "sampled completions differ from each other"
    other = backend.generate(
        PROMPTS[:2], SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=12, n=3, seed=8)
    )
    assert other != first


def test_stops_at_eos(tmp_path):
    eos_model = make_backend("hf", str(build_tiny_model(tmp_path / "eos", eos_first=True)))
    out = eos_model.generate(PROMPTS, SamplingParams(temperature=0.0, max_new_tokens=20))
    for (completion,) in out:
        assert completion.finish_reason == "stop" and completion.n_tokens == 1 and completion.text == ""


def test_describe_and_bad_inputs(backend, tmp_path, tiny):
    info = backend.describe()
    assert info["backend"] == "hf" and info["device"] == "cpu" and info["max_model_len"] == 4096
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="--device cuda: this machine has no cuda device"):
            make_backend("hf", tiny, device="cuda")
    with pytest.raises(InputError, match="not a device"):
        make_backend("hf", tiny, device="bogus")
    with pytest.raises(InputError, match="--dtype 'float33'"):
        make_backend("hf", tiny, dtype="float33")
    with pytest.raises(InputError, match="not found"):
        make_backend("hf", str(tmp_path / "missing" / "model"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="cannot load"):
        make_backend("hf", str(empty))
    with pytest.raises(InputError, match="unknown backend"):
        make_backend("tgi", "x")


def test_close_frees_the_model(tiny):
    import weakref

    closing = make_backend("hf", tiny)
    model = weakref.ref(closing.model)
    closing.close()
    assert model() is None
    with pytest.raises(RuntimeError, match="closed"):
        closing.generate(PROMPTS, SamplingParams())
