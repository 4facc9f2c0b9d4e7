"""HaluEval: 30,000 hallucination-recognition samples, 10,000 each for QA, dialogue and summarization (Li et
al., 2023, "HaluEval: A Large-Scale Hallucination Evaluation Benchmark").

Dataset: pminervini/HaluEval, configs `qa_samples`, `dialogue_samples`, `summarization_samples`, split
`data` (columns: knowledge, question, answer / knowledge, dialogue_history, response / document, summary;
and `hallucination`, "yes" or "no", the gold). A local folder is read through files whose path names those
three configs; each row's subset is known from its columns. Example ids are `qa-0`, `dialogue-0`, ...
Paper: general, 1 sample, yes/no accuracy over the three subsets together (equal sizes, so also their mean).

Protocol `paper`, as the reference's lm-eval fork (`evaluation/lm-evaluation-harness/lm_eval/tasks/halueval/`
`halueval.yaml`, `halueval_{qa,dialogue,summarization}.yaml` and `utils.py` in
Nebularaid2000/rethink_sft_generalization, run with --apply_chat_template and max_gen_toks 32768): the
fork's shortened instructions (their wording, quirks included) and "#Knowledge: / #Question#: / #Answer#: /
#Your Judgement#:" layout as the only user turn; decoding from the group yaml: temperature 0.6, top_p 1.0,
32,768 new tokens; the judgement read by `verify.lmeval.halueval_prediction`.
"""

from __future__ import annotations

from sftscope.errors import InputError
from sftscope.eval.datafiles import FileRule, task_rows
from sftscope.eval.spec import LMEVAL_SAMPLING, Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import Verdict
from sftscope.verify.lmeval import score_halueval

HUB_ID = "pminervini/HaluEval"
CONFIGS = {"qa": "qa_samples", "dialogue": "dialogue_samples", "summarization": "summarization_samples"}
FILES = FileRule(
    tuple(f"*{config}*" for config in CONFIGS.values()),
    "the qa_samples, dialogue_samples and summarization_samples files",
    shards=True,
)
# Which columns make a row of which subset (besides `hallucination`).
COLUMNS = {
    "qa": ("knowledge", "question", "answer"),
    "dialogue": ("knowledge", "dialogue_history", "response"),
    "summarization": ("document", "summary"),
}
_ENDING = 'You should try your best to determine if the {0} contains non-factual or hallucinated information. The answer you give MUST be "Yes" or "No"".'
_OPENING = "I want you act as {0} judge. Given {1}, your objective is to determine if the provided {2} contains non-factual or hallucinated information. You SHOULD give your judgement based on the following hallucination types and the world knowledge."
INSTRUCTIONS = {
    "qa": _OPENING.format("an answer", "a question and an answer", "answer")
    + "\n"
    + _ENDING.format("answer"),
    "dialogue": _OPENING.format("a response", "a dialogue history and a response", "response")
    + "\n"
    + _ENDING.format("response"),
    "summarization": _OPENING.format("a summary", "a document and a summary", "summary")
    + "\n"
    + _ENDING.format("summary"),
}


def subset_of(row: dict, where: object, index: int) -> str:
    for subset, columns in COLUMNS.items():
        if all(c in row for c in columns):
            return subset
    raise InputError(
        f"{where}: row {index}: not a HaluEval qa, dialogue or summarization sample (columns: "
        f"{sorted(row)}); expected {'; '.join(', '.join(c) for c in COLUMNS.values())}, plus hallucination"
    )


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        for config in CONFIGS.values():
            yield from load_dataset(HUB_ID, config, split="data")

    how = f"it is {HUB_ID} (configs {', '.join(CONFIGS.values())}) on the hub"
    rows = task_rows("halueval", data_path, hub, how, FILES)
    examples, counts = [], dict.fromkeys(COLUMNS, 0)
    for i, row in enumerate(rows):
        subset = subset_of(row, data_path or HUB_ID, i)
        if "hallucination" not in row:
            raise InputError(f"{data_path or HUB_ID}: row {i}: field 'hallucination' missing (yes or no)")
        data = {"subset": subset, **{c: str(row[c]) for c in COLUMNS[subset]}}
        gold = str(row["hallucination"]).strip().lower()
        examples.append(Example(id=f"{subset}-{counts[subset]}", gold=gold, data=data))
        counts[subset] += 1
    return examples


def prompt(example: Example) -> list[dict[str, str]]:
    data, subset = example.data, example.data["subset"]
    head = INSTRUCTIONS[subset]
    if subset == "qa":
        body = (
            f"\n\n#Knowledge: {data['knowledge']}\n#Question#: {data['question']}\n#Answer#: {data['answer']}"
        )
    elif subset == "dialogue":
        body = (
            f"\n\n#Knowledge: {data['knowledge']}\n#Dialogue History#: {data['dialogue_history']}"
            f"\n#Response#: {data['response']}"
        )
    else:
        body = f"\n\n#Document#: {data['document']}\n#Summary#: {data['summary']}"
    return [{"role": "user", "content": head + body + "\n#Your Judgement#:"}]


def score(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return score_halueval(example.gold or "", completion)


TASK = TaskSpec(
    name="halueval",
    domain="general",
    version="1",
    loader=load,
    protocols=(
        TaskProtocol(
            name="paper",
            prompt=prompt,
            score=score,
            sampling=LMEVAL_SAMPLING,
            metric="accuracy",
            scoring="inline",
            scorer_id="lm-eval halueval process_results: last Yes/No after think (reference) v1",
            description="as the reference: its prompts, T 0.6; the last Yes/No of the answer",
        ),
    ),
    source=f"{HUB_ID} (qa, dialogue, summarization samples)",
    size=30000,
    rescore_from="gold",
)
