"""A tiny random Qwen3 model with a byte-level BPE tokenizer and a chat template, built in a temp dir.

Used by the eval tests (backends, runner, CLI). Building takes about a second; nothing is downloaded.
`eos_first=True` zeroes the final norm, so every logit is 0 and greedy decoding picks token 0, which is
the EOS: a model that always stops at once, for testing EOS handling.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|im_end|>", "<|endoftext|>", "<|im_start|>"]  # <|im_end|> = id 0 = EOS
CORPUS = [
    "Using the numbers 2, 8, 9, make 5. Put your final answer within \\boxed{}.",
    "What is 3 + 4? The answer is \\boxed{7}. Calculate 5 - 3 - 6.",
    "def add(a, b):\n    return a + b\n",
    "Sort these words: apple, banana, cherry. Decrypt this Caesar cipher text.",
] * 20


def build_tiny_model(out: Path, *, eos_first: bool = False, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    model = Qwen3ForCausalLM(config)
    if eos_first:
        with torch.no_grad():
            model.model.norm.weight.zero_()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    return out
