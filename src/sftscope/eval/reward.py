"""A reward model as a scorer: any Hugging Face sequence-classification model (AlpacaEval's paper metric).

Reference: `evaluation/alpaca_eval/code/evaluate_reward.py` in Nebularaid2000/rethink_sft_generalization,
which runs `allenai/Llama-3.1-8B-Instruct-RM-RB2` through a transformers `pipeline("sentiment-analysis")`
with `function_to_apply="none"`, `return_all_scores=True`, batch size 1, bf16. Its rules, which `score`
follows with the model and tokenizer directly (the pipeline adds nothing else):
- the (user, assistant) pair goes through the reward model's chat template as text, without a generation
  prompt, and every BOS string is removed from that text (the tokenizer adds its own BOS back);
- the text is tokenized whole (no truncation) and scored alone (batch 1, so no padding ever changes it);
- the reward is the raw logit of the first label.

    rm = HFRewardModel("allenai/Llama-3.1-8B-Instruct-RM-RB2")
    rm.score([[{"role": "user", "content": "Hi"}]], ["Hello!"])  # -> [float]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sftscope.errors import InputError
from sftscope.records import Messages


class HFRewardModel:
    name = "hf-reward"

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str = "auto",
        trust_remote_code: bool = False,
    ):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.model_id = model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # The reference scores in bf16 on GPU; on CPU, fp32 (bf16 matmuls there are slow and no closer).
        if dtype == "auto":
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        try:
            torch_dtype = getattr(torch, dtype)
            self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                model, dtype=torch_dtype, trust_remote_code=trust_remote_code
            )
        except (OSError, ValueError, AttributeError) as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise InputError(
                f"--reward-model {model}: cannot load it as a sequence-classification model ({first}); "
                "pass a Hugging Face model id or folder such as allenai/Llama-3.1-8B-Instruct-RM-RB2"
            ) from None
        if self.tokenizer.chat_template is None:
            raise InputError(
                f"--reward-model {model}: its tokenizer has no chat template to format pairs with"
            )
        self.model.to(self.device).eval()
        self.dtype = dtype

    def describe(self) -> dict[str, Any]:
        return {"reward_model": self.model_id, "device": self.device, "dtype": self.dtype}

    def text(self, prompt: Messages, response: str) -> str:
        """The text the model scores: the chat-templated pair with every BOS string removed."""
        chat = [*prompt, {"role": "assistant", "content": response}]
        text = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=False)
        bos = self.tokenizer.bos_token
        return text.replace(bos, "") if bos else text

    def score(self, prompts: Sequence[Messages], responses: Sequence[str]) -> list[float]:
        import torch

        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        rewards = []
        with torch.inference_mode():
            for prompt, response in zip(prompts, responses):
                encoded = self.tokenizer(self.text(prompt, response), return_tensors="pt").to(self.device)
                logits = self.model(**encoded).logits
                rewards.append(float(logits[0, 0].float()))
        return rewards
