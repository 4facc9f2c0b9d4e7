"""Rows to token ids and a loss mask, exactly as the reference trainer builds them.

The prompt goes through the model's own chat template with the generation prompt; the response is
tokenized without special tokens and the model's EOS is appended. Only response tokens and that EOS carry
loss: `n_prompt` marks where the trained span starts. Rows longer than `max_length` are truncated (the
response is cut, the prompt kept) or dropped, and the counts are returned for the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftscope.errors import InputError
from sftscope.records import SFTRow


@dataclass(frozen=True)
class Encoded:
    """One tokenized row: ids = prompt + response + EOS; loss on ids[n_prompt:]."""

    ids: tuple[int, ...]
    n_prompt: int
    weight: float = 1.0
    row: int = 0  # index of the source row, so the data order is traceable

    @property
    def n_loss(self) -> int:
        return len(self.ids) - self.n_prompt

    @property
    def n_targets(self) -> int:
        """Positions that carry loss once shifted (a row without a prompt cannot predict its first token)."""
        return min(self.n_loss, len(self.ids) - 1)


@dataclass
class EncodeStats:
    rows: int = 0
    truncated: int = 0
    dropped: int = 0
    tokens: int = 0
    loss_tokens: int = 0
    dropped_rows: list[int] = field(default_factory=list)


def prepare_tokenizer(tokenizer: Any, source: str, chat_template: str | None = None) -> Any:
    """Check that the tokenizer can build prompts; `chat_template` (a file) fills in a missing template."""
    if chat_template:
        path = Path(chat_template)
        if not path.is_file():
            raise InputError(f"{path}: chat template file not found (pass a Jinja file to --chat-template)")
        tokenizer.chat_template = path.read_text(encoding="utf-8")
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(
            f"{source}: the tokenizer has no chat template (pass one with --chat-template FILE "
            "or chat_template: in the config)"
        )
    if tokenizer.eos_token_id is None:
        raise InputError(f"{source}: the tokenizer has no EOS token (set eos_token in tokenizer_config.json)")
    return tokenizer


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """The chat-templated prompt with the generation prompt, as the model sees it at evaluation time."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # The template already holds any BOS it wants; a second one would shift every position.
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_row(tokenizer: Any, row: SFTRow, index: int = 0) -> Encoded:
    prompt = prompt_ids(tokenizer, row.messages)
    response = tokenizer(row.response, add_special_tokens=False)["input_ids"]
    return Encoded(tuple(prompt + response + [tokenizer.eos_token_id]), len(prompt), float(row.weight), index)


def encode_rows(
    tokenizer: Any, rows: list[SFTRow], max_length: int, overlong: str = "truncate", source: str = "data"
) -> tuple[list[Encoded], EncodeStats]:
    """Tokenize every row; apply the overlong policy; raise InputError when nothing trainable is left."""
    if not rows:
        raise InputError(f"{source}: the data set is empty (no rows to train on)")
    stats = EncodeStats(rows=len(rows))
    out: list[Encoded] = []
    for i, row in enumerate(rows):
        enc = encode_row(tokenizer, row, i)
        if len(enc.ids) > max_length:
            if overlong == "truncate" and enc.n_prompt < max_length:
                enc = Encoded(enc.ids[:max_length], enc.n_prompt, enc.weight, i)
                stats.truncated += 1
            else:
                stats.dropped += 1
                stats.dropped_rows.append(i)
                continue
        stats.tokens += len(enc.ids)
        stats.loss_tokens += enc.n_loss
        out.append(enc)
    if not out:
        raise InputError(
            f"{source}: every one of the {len(rows)} rows is longer than max_length={max_length} "
            "(raise max_length, or use overlong: truncate)"
        )
    return out, stats
