"""IFEval: 541 prompts with verifiable formatting instructions (Zhou et al., 2023, "Instruction-Following
Evaluation for Large Language Models").

Dataset: google/IFEval, split `train` (columns: key, prompt, instruction_id_list, kwargs).
Paper: general, 1 sample; the think part is stripped before checking.
Answer format: free text. `correct` is prompt-level strict accuracy (every instruction followed);
`extracted` records strict/loose prompt-level and the instruction-level fraction.

Checkers: Google's instruction checkers as packaged by `if-verifiable` (optional extra:
`pip install 'sftscope[ifeval]'`); we do not rewrite them. Two of them (number_sentences,
capital_word_frequency) need NLTK's `punkt`/`punkt_tab` data, a separate download that is not on PyPI. This
task therefore refuses to run until that data is installed (`python -m nltk.downloader punkt punkt_tab`)
rather than silently mis-scoring those prompts. On a machine with no internet, IFEval is unavailable.
"""

from __future__ import annotations

from sftscope.errors import InputError
from sftscope.eval.datasource import hub_rows, require
from sftscope.eval.spec import Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import SamplingParams, Verdict

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

    rows = hub_rows("ifeval", data_path, hub, f"it is {HUB_ID} on the Hugging Face hub")
    examples = []
    for i, row in enumerate(rows):
        require(row, ("key", "prompt", "instruction_id_list", "kwargs"), data_path or HUB_ID, i)
        examples.append(
            Example(
                id=str(row["key"]),
                gold=None,
                data={
                    "prompt": row["prompt"],
                    "instruction_id_list": list(row["instruction_id_list"]),
                    "kwargs": [dict(k or {}) for k in row["kwargs"]],
                },
            )
        )
    return examples


def prompt(example: Example) -> list[dict[str, str]]:
    return [{"role": "user", "content": example.data["prompt"]}]


def score(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    from if_verifiable.common import evaluate_instructions

    data = example.data
    _, scores = evaluate_instructions(
        completion, data["instruction_id_list"], data["kwargs"], data["prompt"], checkers()
    )
    strict = scores.binary_strict == 1.0
    summary = (
        f"strict={int(strict)} loose={int(scores.binary_loose)} instructions={scores.partial_strict:.3f}"
    )
    return Verdict(strict, summary, "followed" if strict else "not_followed", score=float(strict))


TASK = TaskSpec(
    name="ifeval",
    domain="general",
    version="1",
    loader=load,
    protocols=(
        TaskProtocol(
            name="strict",
            prompt=prompt,
            score=score,
            sampling=SamplingParams(temperature=0.6, top_p=0.95, max_new_tokens=32768),
            n_samples=1,
            metric="ifeval",
            scoring="inline",
            scorer_id="if-verifiable checkers, after </think>",
        ),
    ),
    source=f"{HUB_ID} (checkers: if-verifiable)",
    size=541,
)
