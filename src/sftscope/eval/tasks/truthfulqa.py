"""TruthfulQA (generation): 817 questions that some humans answer falsely (Lin et al., 2022), judged for
truthfulness and informativeness.

Dataset: truthfulqa/truthful_qa, config `generation`, split `validation` (columns: type, category, question,
best_answer, correct_answers, incorrect_answers, source). A local folder is read through its `generation`
files only (the repo also holds `multiple_choice`). The gold stored with each sample is `best_answer`
(shown in reports; the judges do not read it).
Paper: general, 1 sample, metric "truthfulqa": `correct` = the truth judge says yes; `details` holds `info`
(the informativeness judge says yes) and both judges' replies.

Protocol `paper`, as the reference's lm-eval fork (`evaluation/lm-evaluation-harness/lm_eval/tasks/
truthfulqa/truthfulqa_gen.yaml` and `utils.py` in Nebularaid2000/rethink_sft_generalization, run with
--apply_chat_template and max_gen_toks 32768): the user turn is "\\n\\nQ: " + the stripped question (the fork
removed the upstream few-shot preamble); temperature 0.6, top_p 1.0, 32,768 new tokens; both judges
(`eval.truthjudge`, the paper: allenai/truthfulqa-truth-judge-llama2-7B and -info-judge-llama2-7B behind
OpenAI-compatible completion servers) read "Q:{question}A:{answer after the last </think>}".
"""

from __future__ import annotations

from sftscope.errors import InputError
from sftscope.eval.datafiles import FileRule, task_rows
from sftscope.eval.datasource import require
from sftscope.eval.spec import LMEVAL_SAMPLING, Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import CORRECT, WRONG, Verdict

HUB_ID = "truthfulqa/truthful_qa"
FILES = FileRule(("*generation*",), "the generation config's file", shards=True)
QUESTION_PREFIX = "\n\nQ: "


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        return load_dataset(HUB_ID, "generation", split="validation")

    rows = task_rows("truthfulqa", data_path, hub, f"it is {HUB_ID} (config generation) on the hub", FILES)
    examples = []
    for i, row in enumerate(rows):
        require(row, ("question",), data_path or HUB_ID, i)
        gold = row.get("best_answer")
        data = {"question": str(row["question"]).strip(), "category": row.get("category")}
        examples.append(Example(id=str(i), gold=None if gold is None else str(gold), data=data))
    return examples


def question(example: Example) -> str:
    # Loaded examples and `eval score` rows carry `question`; a rescore rebuilds it from the stored prompt.
    if "question" in example.data:
        return str(example.data["question"]).strip()
    return str(example.data.get("prompt", "")).removeprefix(QUESTION_PREFIX)


def prompt(example: Example) -> list[dict[str, str]]:
    return [{"role": "user", "content": QUESTION_PREFIX + question(example)}]


def score_paper(examples: list[Example], completions: list[str], ctx: ScoreContext) -> list[Verdict]:
    judges = ctx.truthfulqa_judges
    if judges is None:
        raise InputError(
            "truthfulqa is scored by two judges: pass --truth-judge MODEL and --info-judge MODEL"
        )
    verdicts = []
    for judgement in judges.judge([question(ex) for ex in examples], completions):
        details = {
            "info": judgement.informative,
            "truth_reply": judgement.truth_reply,
            "info_reply": judgement.info_reply,
        }
        label = "truthful" if judgement.truthful else "untruthful"
        reason = CORRECT if judgement.truthful else WRONG
        verdicts.append(Verdict(judgement.truthful, label, reason, details=details))
    return verdicts


TASK = TaskSpec(
    name="truthfulqa",
    domain="general",
    version="1",
    loader=load,
    protocols=(
        TaskProtocol(
            name="paper",
            prompt=prompt,
            score_batch=score_paper,
            sampling=LMEVAL_SAMPLING,
            metric="truthfulqa",
            needs=("truthfulqa_judges",),
            scorer_id="truth/info judges: 'Q:..A:..True:'/'Helpful:', yes anywhere (reference) v1",
            description="as the reference: '\\n\\nQ: question', T 0.6; truth and info judges",
        ),
    ),
    source=f"{HUB_ID} (generation)",
    size=817,
    rescore_from="gold",
)
