"""Per-row sampling for `transformers` generation: each row of a batch draws from its own seed.

transformers samples a whole batch from one global RNG, so a sample depends on the batch it was generated
in, and it has no presence or frequency penalty. `RowSampler` is the last logits processor of a *greedy*
`generate` call: it applies vLLM's sampling pipeline itself (repetition penalty over prompt and output,
frequency and presence penalties over the output, temperature, top-k, top-p), picks each row's token by
inverse-CDF sampling with a uniform drawn from that row's own CPU generator, and returns scores that are
-inf everywhere but the chosen token, so transformers' own argmax takes it. A row's tokens then depend only
on its prompt and its seed, whatever the batch size, the order of the rows or the device.

`RowBudget` stops each row at its own token budget (see `backends.base.generation_budget`).
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor, StoppingCriteria

from sftscope.records import SamplingParams


class RowSampler(LogitsProcessor):
    def __init__(self, params: SamplingParams, seeds: list[int], prompt_mask: torch.Tensor):
        self.params = params
        self.width = prompt_mask.shape[1]
        self.prompt_mask = prompt_mask.bool()  # left padding is not part of the prompt
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = self._penalised(input_ids, scores.float())
        p = self.params
        if p.greedy:
            choice = logits.argmax(dim=-1)
        else:
            choice = self._sample(_top_p(_top_k(logits / p.temperature, p.top_k), p.top_p))
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, choice.unsqueeze(1), 0.0)

    def _penalised(self, input_ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        p = self.params
        if p.repetition_penalty != 1.0:
            generated = torch.ones_like(input_ids[:, self.width :], dtype=torch.bool)
            valid = torch.cat([self.prompt_mask.to(input_ids.device), generated], dim=1)
            seen = torch.zeros_like(logits).scatter_add_(1, input_ids, valid.to(logits.dtype)) > 0
            scaled = torch.where(logits > 0, logits / p.repetition_penalty, logits * p.repetition_penalty)
            logits = torch.where(seen, scaled, logits)
        if p.frequency_penalty or p.presence_penalty:
            output = input_ids[:, self.width :]
            counts = torch.zeros_like(logits).scatter_add_(
                1, output, torch.ones_like(output, dtype=logits.dtype)
            )
            logits = (
                logits - p.frequency_penalty * counts - p.presence_penalty * (counts > 0).to(logits.dtype)
            )
        return logits

    def _sample(self, logits: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(logits.double(), dim=-1)
        cdf = probs.cumsum(dim=-1)
        uniform = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in self.generators])
        target = uniform.to(cdf.device).unsqueeze(1) * cdf[:, -1:]
        choice = torch.searchsorted(cdf, target, right=True).squeeze(1)
        return choice.clamp_(max=logits.shape[-1] - 1)


def _top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def _top_p(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability reaches top_p (at least one)."""
    if top_p >= 1.0:
        return logits
    ascending, order = torch.sort(logits, dim=-1)
    cumulative = torch.softmax(ascending, dim=-1).cumsum(dim=-1)
    drop = cumulative <= 1 - top_p
    drop[:, -1] = False
    return logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))


class RowBudget(StoppingCriteria):
    """Done when a row has generated its own number of tokens."""

    def __init__(self, budgets: list[int], width: int):
        self.budgets = torch.tensor(budgets)
        self.width = width

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        generated = input_ids.shape[1] - self.width
        return (generated >= self.budgets).to(input_ids.device)
