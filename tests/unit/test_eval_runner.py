"""The runner: skips stored keys (a finished eval re-runs with 0 generated tokens), writes per batch, stores
scoring errors instead of aborting, honours n_samples and sampling overrides, draws each sample from its own
seed, and never reuses a stored sample made by another model, prompt or sampling."""

from __future__ import annotations

import pytest

from sftscope.errors import InputError
from sftscope.eval.config import BackendOptions, EvalConfig
from sftscope.eval.runner import evaluate
from sftscope.eval.spec import Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import CheckpointRef, Completion, SamplingParams, Verdict, sample_seed
from sftscope.store.db import Store


class CountingBackend:
    """Answers `\\boxed{<the number in the prompt>}`; counts calls, prompts and tokens; can die on call N."""

    name = "counting"

    def __init__(self, die_on_call: int | None = None):
        self.calls, self.prompts, self.tokens, self.params, self.seeds = 0, 0, 0, [], {}
        self.die_on_call = die_on_call

    def describe(self):
        return {"backend": self.name}

    def generate(self, prompts, params, seeds=None):
        self.calls += 1
        if self.die_on_call == self.calls:
            raise KeyboardInterrupt  # a kill in the middle of an eval
        self.params.append(params)
        self.prompts += len(prompts)
        out = []
        for messages, row_seeds in zip(prompts, seeds):
            number = messages[0]["content"].split()[-1]
            self.seeds.setdefault(number, []).extend(row_seeds)
            out.append([Completion(f"\\boxed{{{number}}}", n_tokens=3) for _ in range(params.n)])
            self.tokens += 3 * params.n
        return out


def make_task(name="echo", n_samples=2, size=10, fail_on: str | None = None, word="echo") -> TaskSpec:
    def load(limit, data_path):
        return [Example(id=f"q{i}", gold=str(i) if i % 3 else "wrong") for i in range(size)]

    def score(example, completion, ctx):
        if example.id == fail_on:
            raise RuntimeError("scorer bug")
        got = completion.removeprefix("\\boxed{").removesuffix("}")
        return Verdict(got == example.gold, got)

    def prompt(ex):
        return [{"role": "user", "content": f"{word} {ex.id[1:]}"}]

    sampling = SamplingParams(temperature=0.6, max_new_tokens=100)
    return TaskSpec(
        name=name,
        domain="cross_domain",
        version="1",
        loader=load,
        protocols=(
            TaskProtocol("strict", prompt, sampling, n_samples=n_samples, score=score, scorer_id="echo v1"),
            TaskProtocol("paper", prompt, sampling, n_samples=1, score=score, scorer_id="echo paper"),
        ),
    )


REF = CheckpointRef(run="r", step=5, path="/ckpt")


def config(batch: int = 64, **kw) -> EvalConfig:
    return EvalConfig(backend_options=BackendOptions(batch_size=batch), **kw)


def test_rerun_of_a_finished_eval_generates_nothing(tmp_path):
    task = make_task()
    with Store(tmp_path / "r.db") as store:
        first = CountingBackend()
        summary = evaluate(first, [task], store, REF, config(4), model_id="m1")
        assert summary.generated == 20 and first.tokens == 60 and summary.checkpoint == "step-5"
        rows = store.samples(run="r", task="echo")
        assert len(rows) == 20 and {r.sample_idx for r in rows} == {0, 1}
        assert sum(r.correct for r in rows) == 12  # q0, q3, q6, q9 have gold "wrong"
        assert rows[0].sampling["n"] == 2 and rows[0].step == 5 and rows[0].prompt == "echo 0"
        assert rows[0].protocol == "strict" and rows[0].metric == "accuracy" and rows[0].model_id == "m1"
        assert rows[0].scorer == {"scorer": "echo v1", "protocol": "strict", "backend": "counting"}
        again = CountingBackend()
        summary = evaluate(again, [task], store, REF, config(4), model_id="m1")
        assert again.calls == 0 and again.tokens == 0 and summary.generated == 0
        assert summary.tasks[0].skipped == 20


def test_kill_loses_at_most_one_batch_and_resume_completes(tmp_path):
    task = make_task(n_samples=1)
    with Store(tmp_path / "r.db") as store:
        with pytest.raises(KeyboardInterrupt):
            evaluate(CountingBackend(die_on_call=3), [task], store, REF, config(3))
        assert len(store.samples()) == 6  # two whole batches of 3
        resumed = CountingBackend()
        evaluate(resumed, [task], store, REF, config(3))
        assert resumed.prompts == 4 and len(store.samples()) == 10


def test_more_samples_later_generates_only_the_new_indices(tmp_path):
    with Store(tmp_path / "r.db") as store:
        evaluate(CountingBackend(), [make_task(n_samples=1)], store, REF)
        more = CountingBackend()
        evaluate(more, [make_task(n_samples=1)], store, REF, config(n_samples=3))
        assert more.tokens == 10 * 2 * 3 and all(p.n == 2 for p in more.params)
        assert len(store.samples()) == 30


def test_each_sample_has_its_own_seed_whatever_the_batching(tmp_path):
    seen = []
    for batch in (1, 7, 64):
        backend = CountingBackend()
        with Store(tmp_path / f"{batch}.db") as store:
            evaluate(backend, [make_task(n_samples=3)], store, REF, config(batch, seed=11))
        seen.append({k: sorted(v) for k, v in backend.seeds.items()})
    assert seen[0] == seen[1] == seen[2]
    assert seen[0]["4"] == sorted(sample_seed(11, "echo", "q4", i) for i in range(3))
    assert len({s for seeds in seen[0].values() for s in seeds}) == 30  # all distinct


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
            config(limit=4, temperature=0.0, max_new_tokens=7),
            progress=lambda task, done, total: seen.append((task, done, total)),
        )
        assert {p.temperature for p in backend.params} == {0.0}
        assert {p.max_new_tokens for p in backend.params} == {7}
        rows = store.samples(task="other")
        assert len(rows) == 8 and rows[0].sampling["max_new_tokens"] == 7
    assert seen[0] == ("echo", 0, 8) and seen[-1] == ("other", 8, 8)


def test_protocols_are_stored_apart(tmp_path):
    with Store(tmp_path / "r.db") as store:
        evaluate(CountingBackend(), [make_task()], store, REF)
        paper = CountingBackend()
        evaluate(paper, [make_task()], store, REF, config(protocol="paper"))
        assert paper.prompts == 10  # nothing reused across protocols
        assert len(store.samples(protocol="strict")) == 20 and len(store.samples(protocol="paper")) == 10
        with pytest.raises(InputError, match="no protocol 'exact'"):
            evaluate(CountingBackend(), [make_task()], store, REF, config(protocol="exact"))


def test_a_stored_sample_is_never_relabelled(tmp_path):
    """Another model, other sampling or another prompt under the same run/step is refused, not reused."""
    with Store(tmp_path / "r.db") as store:
        evaluate(CountingBackend(), [make_task()], store, REF, model_id="sha256:aaa")
        other_model = CountingBackend()
        with pytest.raises(InputError, match="another model"):
            evaluate(other_model, [make_task()], store, REF, model_id="sha256:bbb")
        with pytest.raises(InputError, match=r"other sampling settings \(temperature 0.6 -> 0.0"):
            evaluate(
                CountingBackend(), [make_task()], store, REF, config(temperature=0.0), model_id="sha256:aaa"
            )
        with pytest.raises(InputError, match="different prompt"):
            evaluate(CountingBackend(), [make_task(word="say")], store, REF, model_id="sha256:aaa")
        assert other_model.calls == 0 and len(store.samples()) == 20
        # Another run name keeps both results.
        evaluate(
            CountingBackend(), [make_task()], store, CheckpointRef("r2", 5, "/other"), model_id="sha256:bbb"
        )
        assert len(store.samples(run="r2")) == 20


def test_a_missing_judge_fails_before_any_generation(tmp_path):
    def batch(examples, completions, ctx):
        return [Verdict(True) for _ in examples]

    judged = TaskSpec(
        name="judged",
        domain="safety",
        version="1",
        loader=lambda limit, path: [Example("a", None, {"prompt": "x"})],
        protocols=(
            TaskProtocol(
                "paper",
                lambda ex: [{"role": "user", "content": "x 1"}],
                SamplingParams(),
                score_batch=batch,
                needs=("judge",),
                metric="attack_success",
            ),
        ),
    )
    backend = CountingBackend()
    with Store(tmp_path / "r.db") as store, pytest.raises(InputError, match="pass --judge MODEL"):
        evaluate(backend, [judged], store, REF)
    assert backend.calls == 0
    with Store(tmp_path / "r.db") as store:
        summary = evaluate(backend, [judged], store, REF, context=ScoreContext(judge=backend))
        assert summary.generated == 1 and store.samples()[0].metric == "attack_success"


class ReportingBackend(CountingBackend):
    """Reports a budget per prompt and, for greedy calls, marks copies as the local backends do."""

    def generate(self, prompts, params, seeds=None):
        from sftscope.eval.backends.base import replicate_greedy

        out = super().generate(prompts, params, seeds)
        for i, samples in enumerate(out):
            info = {"max_new_tokens_effective": params.max_new_tokens - i, "prompt_tokens": 7}
            samples[:] = [Completion(c.text, c.n_tokens, info=info) for c in samples]
            if params.greedy:
                samples[:] = replicate_greedy(samples[0], params.n)
        return out


def test_sampling_json_holds_the_backends_report_and_each_seed(tmp_path):
    with Store(tmp_path / "r.db") as store:
        evaluate(ReportingBackend(), [make_task(n_samples=3)], store, REF, config(seed=4, temperature=0.0))
        rows = store.samples()
        assert len(rows) == 30
        for row in rows:
            assert row.sampling["sample_seed"] == sample_seed(4, "echo", row.example_id, row.sample_idx)
            assert row.sampling["prompt_tokens"] == 7 and row.sampling["max_new_tokens_effective"] <= 100
            assert row.sampling.get("replica_of") == (None if row.sample_idx == 0 else 0)
        # A later call that adds samples 3-4 copies sample 3, the first one it generated.
        evaluate(
            ReportingBackend(),
            [make_task(n_samples=3)],
            store,
            REF,
            config(seed=4, temperature=0.0, n_samples=5),
        )
        added = [r for r in store.samples() if r.sample_idx >= 3]
        assert {r.sampling.get("replica_of") for r in added if r.sample_idx == 4} == {3}
        # What the backend reported is not part of a sample's identity: a re-run reuses every row.
        again = ReportingBackend()
        evaluate(again, [make_task(n_samples=3)], store, REF, config(seed=4, temperature=0.0, n_samples=5))
        assert again.calls == 0


def test_shards_split_the_examples_and_store_the_same_rows(tmp_path):
    from sftscope.eval.runner import shard_of

    task = make_task(n_samples=2, size=40)
    owners = [shard_of("echo", f"q{i}", 3) for i in range(40)]
    assert set(owners) == {0, 1, 2} and owners == [shard_of("echo", f"q{i}", 3) for i in range(40)]
    with Store(tmp_path / "one.db") as store:
        evaluate(CountingBackend(), [task], store, REF, config(7, seed=3))
        whole = [(r.example_id, r.sample_idx, r.completion, r.sampling) for r in store.samples()]
    with Store(tmp_path / "shards.db") as store:
        results = [
            evaluate(CountingBackend(), [task], store, REF, config(7, seed=3), shard=(k, 3)).tasks[0]
            for k in range(3)
        ]
        sharded = [(r.example_id, r.sample_idx, r.completion, r.sampling) for r in store.samples()]
    assert sharded == whole and len(whole) == 80
    assert [r.generated for r in results] == [2 * owners.count(k) for k in range(3)]
    assert all(r.examples == 40 for r in results), "a shard reports the task's full count"


def test_a_count_other_than_the_benchmarks_size_is_warned_about(tmp_path):
    from dataclasses import replace

    from sftscope.eval.runner import count_warning

    task = replace(make_task(size=8), size=10)
    with Store(tmp_path / "r.db") as store:
        result = evaluate(CountingBackend(), [task], store, REF).tasks[0]
    assert "8 examples loaded, but the benchmark holds 10" in result.warning
    assert count_warning(task, 5, limit=5) is None, "--limit explains it"
    assert "(--limit 9)" in count_warning(task, 8, limit=9)
    assert count_warning(replace(task, size=None), 3, None) is None


def test_needs_are_checked_from_the_config_without_building_anything():
    from dataclasses import replace

    from sftscope.eval.runner import check_configured_needs

    task = make_task()
    judged = replace(task.default_protocol, needs=("judge",))
    with pytest.raises(InputError, match="pass --judge MODEL"):
        check_configured_needs(task, judged, EvalConfig())
    check_configured_needs(task, judged, EvalConfig(judge="gpt-4.1"))  # named: enough for a dry run
    sandboxed = replace(task.default_protocol, needs=("sandbox",))
    check_configured_needs(task, sandboxed, EvalConfig(unsafe_code_exec=True))  # the user opted in
