"""The runner: skips stored keys (a finished eval re-runs with 0 generated tokens), writes per batch, stores
scoring errors instead of aborting, and honours n_samples and sampling overrides."""

from __future__ import annotations

import pytest

from sftscope.eval.runner import evaluate
from sftscope.eval.spec import Example, TaskSpec
from sftscope.records import CheckpointRef, Completion, SamplingParams, Verdict
from sftscope.store.db import Store


class CountingBackend:
    """Answers `\\boxed{<the number in the prompt>}`; counts calls, prompts and tokens; can die on call N."""

    name = "counting"

    def __init__(self, die_on_call: int | None = None):
        self.calls, self.prompts, self.tokens, self.params = 0, 0, 0, []
        self.die_on_call = die_on_call

    def describe(self):
        return {"backend": self.name}

    def generate(self, prompts, params):
        self.calls += 1
        if self.die_on_call == self.calls:
            raise KeyboardInterrupt  # a kill in the middle of an eval
        self.params.append(params)
        self.prompts += len(prompts)
        out = []
        for messages in prompts:
            number = messages[0]["content"].split()[-1]
            out.append([Completion(f"\\boxed{{{number}}}", n_tokens=3) for _ in range(params.n)])
            self.tokens += 3 * params.n
        return out


def make_task(name="echo", n_samples=2, size=10, fail_on: str | None = None) -> TaskSpec:
    def load(limit, data_path):
        return [Example(id=f"q{i}", gold=str(i) if i % 3 else "wrong") for i in range(size)]

    def score(example, completion):
        if example.id == fail_on:
            raise RuntimeError("scorer bug")
        got = completion.removeprefix("\\boxed{").removesuffix("}")
        return Verdict(got == example.gold, got)

    return TaskSpec(
        name=name,
        domain="cross_domain",
        version="1",
        loader=load,
        prompt_fn=lambda ex: [{"role": "user", "content": f"echo {ex.id[1:]}"}],
        score_fn=score,
        n_samples=n_samples,
        sampling=SamplingParams(temperature=0.6, max_new_tokens=100),
    )


REF = CheckpointRef(run="r", step=5, path="/ckpt")


def test_rerun_of_a_finished_eval_generates_nothing(tmp_path):
    task = make_task()
    with Store(tmp_path / "r.db") as store:
        first = CountingBackend()
        summary = evaluate(first, [task], store, REF, batch_size=4)
        assert summary.generated == 20 and first.tokens == 60 and summary.checkpoint == "step-5"
        rows = store.samples(run="r", task="echo")
        assert len(rows) == 20 and {r.sample_idx for r in rows} == {0, 1}
        assert sum(r.correct for r in rows) == 12  # q0, q3, q6, q9 have gold "wrong"
        assert rows[0].sampling["n"] == 2 and rows[0].step == 5 and rows[0].prompt == "echo 0"
        again = CountingBackend()
        summary = evaluate(again, [task], store, REF, batch_size=4)
        assert again.calls == 0 and again.tokens == 0 and summary.generated == 0
        assert summary.tasks[0].skipped == 20


def test_kill_loses_at_most_one_batch_and_resume_completes(tmp_path):
    task = make_task(n_samples=1)
    with Store(tmp_path / "r.db") as store:
        with pytest.raises(KeyboardInterrupt):
            evaluate(CountingBackend(die_on_call=3), [task], store, REF, batch_size=3)
        assert len(store.samples()) == 6  # two whole batches of 3
        resumed = CountingBackend()
        evaluate(resumed, [task], store, REF, batch_size=3)
        assert resumed.prompts == 4 and len(store.samples()) == 10


def test_more_samples_later_generates_only_the_new_indices(tmp_path):
    with Store(tmp_path / "r.db") as store:
        evaluate(CountingBackend(), [make_task(n_samples=1)], store, REF)
        more = CountingBackend()
        evaluate(more, [make_task(n_samples=1)], store, REF, n_samples=3)
        assert more.tokens == 10 * 2 * 3 and all(p.n == 2 for p in more.params)
        assert len(store.samples()) == 30


def test_scoring_error_is_stored_not_raised(tmp_path):
    with Store(tmp_path / "r.db") as store:
        summary = evaluate(CountingBackend(), [make_task(fail_on="q1")], store, REF)
        assert summary.tasks[0].score_errors == 2
        bad = [r for r in store.samples() if r.example_id == "q1"]
        assert all(r.error == "RuntimeError: scorer bug" and not r.correct and r.completion for r in bad)


def test_overrides_limit_and_progress(tmp_path):
    seen = []
    backend = CountingBackend()
    with Store(tmp_path / "r.db") as store:
        evaluate(
            backend,
            [make_task(), make_task("other")],
            store,
            REF,
            limit=4,
            progress=lambda task, done, total: seen.append((task, done, total)),
            sampling={"temperature": 0.0, "max_new_tokens": 7, "top_p": None},
        )
        assert {p.temperature for p in backend.params} == {0.0} and {
            p.max_new_tokens for p in backend.params
        } == {7}
        assert len(store.samples(task="other")) == 8
        assert store.tasks()[0]["sampling"]["max_new_tokens"] == 7
    assert seen[0] == ("echo", 0, 8) and seen[-1] == ("other", 8, 8)
