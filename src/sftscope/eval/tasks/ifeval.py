"""IFEval: 541 prompts with verifiable formatting instructions (Zhou et al., 2023, "Instruction-Following
Evaluation for Large Language Models").

Dataset: google/IFEval, split `train` (columns: key, prompt, instruction_id_list, kwargs).
Paper: general, 1 sample. Metric "ifeval": `correct` is prompt-level strict accuracy; `details` holds
prompt_loose (bool), inst_strict and inst_loose (fractions of the prompt's instructions), n_inst (their
count, for the instruction-level micro average) and seed (see below).

Protocols:
- `paper`, as the reference's lm-eval fork (`evaluation/lm-evaluation-harness/lm_eval/tasks/ifeval/
  ifeval.yaml` and `utils.py` in Nebularaid2000/rethink_sft_generalization, run with --apply_chat_template
  and max_gen_toks 32768): one user turn `"Question: " + prompt + "\\nAnswer:"`, temperature 0.6, top_p 1.0,
  32,768 new tokens; the response after the LAST `</think>` (an unclosed think block is left as is), checked
  by `verify.instructions` (falsy kwargs dropped, 8 loose variants).
- `strict`: the raw prompt, top_p 0.95; `if-verifiable`'s own scoring (text after the first `</think>`; an
  unclosed think block is an empty answer).
Randomness: two prompts (keys 1122 and 1129) leave a checker value open, which Google's checkers draw from
Python's `random`. Both protocols seed it per example (`verify.instructions.check_seed`, stored in details).

Checkers: Google's instruction checkers as packaged by `if-verifiable` (optional extra:
`pip install 'sftscope[ifeval]'`); we do not rewrite them. Two of them (number_sentences,
capital_word_frequency) need NLTK's `punkt`/`punkt_tab` data, a separate download that is not on PyPI. This
task therefore refuses to run until that data is installed (`python -m nltk.downloader punkt punkt_tab`)
rather than silently mis-scoring those prompts. On a machine with no internet, IFEval is unavailable.
"""

from __future__ import annotations

from sftscope.errors import InputError
from sftscope.eval.datafiles import task_rows
from sftscope.eval.datasource import require
from sftscope.eval.spec import LMEVAL_SAMPLING, PAPER_SAMPLING, Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import CORRECT, WRONG, Verdict
from sftscope.verify.instructions import check_instructions, check_seed, seeded

HUB_ID = "google/IFEval"
NLTK_RESOURCES = ("tokenizers/punkt", "tokenizers/punkt_tab")


def checkers() -> dict:
    try:
        from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT
    except ImportError:
        raise InputError(
            "IFEval needs the instruction checkers of `if-verifiable` (pip install 'sftscope[ifeval]')"
        ) from None
    return INSTRUCTION_DICT


def check_nltk_data() -> None:
    import nltk

    missing = []
    for resource in NLTK_RESOURCES:
        try:
            nltk.data.find(resource)
        except LookupError:
            missing.append(resource.split("/")[-1])
    if missing:
        raise InputError(
            f"IFEval is unavailable here: its sentence/word checkers need NLTK data ({', '.join(missing)}) that "
            f"is not installed; with internet access run `python -m nltk.downloader {' '.join(missing)}`"
        )


def load(limit: int | None, data_path: str | None) -> list[Example]:
    checkers()
    check_nltk_data()

    def hub():
        from datasets import load_dataset

        return load_dataset(HUB_ID, split="train")

    rows = task_rows("ifeval", data_path, hub, f"it is {HUB_ID} on the Hugging Face hub")
    examples = []
    for i, row in enumerate(rows):
        require(row, ("key", "prompt", "instruction_id_list", "kwargs"), data_path or HUB_ID, i)
        examples.append(
            Example(
                id=str(row["key"]),
                gold=None,
                data={
                    "key": row["key"],
                    "prompt": row["prompt"],
                    "instruction_id_list": list(row["instruction_id_list"]),
                    "kwargs": [dict(k or {}) for k in row["kwargs"]],
                },
            )
        )
    return examples


def paper_prompt(example: Example) -> list[dict[str, str]]:
    return [{"role": "user", "content": "Question: " + example.data["prompt"] + "\nAnswer:"}]


def strict_prompt(example: Example) -> list[dict[str, str]]:
    return [{"role": "user", "content": example.data["prompt"]}]


def _verdict(strict: list[bool], loose: list[bool], seed: int) -> Verdict:
    n = len(strict)
    details = {
        "prompt_loose": all(loose),
        "inst_strict": sum(strict) / n if n else 0.0,
        "inst_loose": sum(loose) / n if n else 0.0,
        "n_inst": n,
        "seed": seed,
    }
    followed = all(strict)
    summary = f"{sum(strict)}/{n} strict, {sum(loose)}/{n} loose"
    return Verdict(followed, summary, CORRECT if followed else WRONG, details=details)


def _key(example: Example):
    return example.data.get("key", example.id)


def score_paper(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    data = example.data
    seed = check_seed(_key(example))
    scores = check_instructions(
        completion, data["instruction_id_list"], data["kwargs"], data["prompt"], checkers(), seed
    )
    return _verdict(list(scores.strict), list(scores.loose), seed)


def score_strict(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    from if_verifiable.common import evaluate_instructions

    data = example.data
    seed = check_seed(_key(example))
    with seeded(seed):
        results, _ = evaluate_instructions(
            completion, data["instruction_id_list"], data["kwargs"], data["prompt"], checkers()
        )
    if not results:  # an empty answer: if-verifiable returns no per-instruction results
        results_strict = [False] * len(data["instruction_id_list"])
        return _verdict(results_strict, results_strict, seed)
    return _verdict([r.strict_pass for r in results], [r.loose_pass for r in results], seed)


TASK = TaskSpec(
    name="ifeval",
    domain="general",
    version="2",
    loader=load,
    protocols=(
        TaskProtocol(
            name="paper",
            prompt=paper_prompt,
            score=score_paper,
            sampling=LMEVAL_SAMPLING,
            n_samples=1,
            metric="ifeval",
            scoring="inline",
            scorer_id="lm-eval ifeval process_results: after the last </think>, seeded checkers (reference) v1",
            description="as the reference: 'Question: ...\\nAnswer:', top_p 1.0, text after the last </think>",
        ),
        TaskProtocol(
            name="strict",
            prompt=strict_prompt,
            score=score_strict,
            sampling=PAPER_SAMPLING,
            n_samples=1,
            metric="ifeval",
            scoring="inline",
            scorer_id="if-verifiable checkers, after </think>, seeded",
            description="raw prompt, top_p 0.95; text after the first </think> (unclosed: empty)",
        ),
    ),
    source=f"{HUB_ID} (checkers: if-verifiable)",
    size=541,
)
