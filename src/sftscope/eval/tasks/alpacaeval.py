"""AlpacaEval: 805 open-ended instructions (Li et al., 2023, "AlpacaEval: An Automatic Evaluator of
Instruction-following Models"), scored by a reward model.

Dataset: tatsu-lab/alpaca_eval, its file `alpaca_eval.json` (columns: instruction, output, generator,
dataset); the hub repo's loading script no longer runs under datasets >= 4, so the JSON file is read through
the `hf://` file system. A local folder is read through its `alpaca_eval.json` only (the repo also holds
model outputs and annotations).
Paper: general, 1 sample, metric "reward": `score` is the reward model's scalar (`correct` is unused, False).

Protocol `paper`, as the reference (`evaluation/alpaca_eval/code/generate_alpaca.py` and
`evaluate_reward.py` in Nebularaid2000/rethink_sft_generalization): the instruction as the only user turn;
temperature 0.7, top_k 50, top_p 0.9, presence and frequency penalty 0.1 each, 16,384 new tokens; the
answer is the text after the last `</think>`, stripped (the whole response, stripped, without one); any
Hugging Face sequence-classification reward model scores (instruction, answer) through `eval.reward`
(the paper: `--reward-model allenai/Llama-3.1-8B-Instruct-RM-RB2`).
"""

from __future__ import annotations

from sftscope.errors import InputError
from sftscope.eval.datafiles import FileRule, task_rows
from sftscope.eval.datasource import require
from sftscope.eval.spec import Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import SCORED, SamplingParams, Verdict

HUB_ID = "tatsu-lab/alpaca_eval"
FILES = FileRule(("alpaca_eval.json|*/alpaca_eval.json",), "alpaca_eval.json")
SAMPLING = SamplingParams(
    temperature=0.7,
    top_p=0.9,
    top_k=50,
    presence_penalty=0.1,
    frequency_penalty=0.1,
    max_new_tokens=16384,
)


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        return load_dataset("json", data_files=f"hf://datasets/{HUB_ID}/alpaca_eval.json", split="train")

    rows = task_rows("alpacaeval", data_path, hub, f"it is {HUB_ID} (alpaca_eval.json) on the hub", FILES)
    examples = []
    for i, row in enumerate(rows):
        require(row, ("instruction",), data_path or HUB_ID, i)
        data = {"instruction": str(row["instruction"]), "dataset": row.get("dataset")}
        examples.append(Example(id=str(i), gold=None, data=data))
    return examples


def instruction(example: Example) -> str:
    # Loaded examples and `eval score` rows carry `instruction`; a rescore rebuilds it from the stored prompt.
    return example.data.get("instruction", example.data.get("prompt", ""))


def prompt(example: Example) -> list[dict[str, str]]:
    return [{"role": "user", "content": instruction(example)}]


def answer(completion: str) -> str:
    """The reference's `extract_answer`: after the last `</think>` when there is one, stripped."""
    return completion.split("</think>")[-1].strip()


def score_paper(examples: list[Example], completions: list[str], ctx: ScoreContext) -> list[Verdict]:
    if ctx.reward_model is None:
        raise InputError("alpacaeval is scored by a reward model: pass --reward-model MODEL")
    prompts = [[{"role": "user", "content": instruction(ex)}] for ex in examples]
    rewards = ctx.reward_model.score(prompts, [answer(c) for c in completions])
    return [Verdict(False, None, SCORED, score=r, details={"reward": r}) for r in rewards]


TASK = TaskSpec(
    name="alpacaeval",
    domain="general",
    version="1",
    loader=load,
    protocols=(
        TaskProtocol(
            name="paper",
            prompt=prompt,
            score_batch=score_paper,
            sampling=SAMPLING,
            metric="reward",
            needs=("reward_model",),
            scorer_id="reward model logit on (instruction, answer after </think>) (reference) v1",
            description="as the reference: its sampling; the reward of the answer after the last </think>",
        ),
    ),
    source=f"{HUB_ID} (alpaca_eval.json)",
    size=805,
    rescore_from="gold",
)
