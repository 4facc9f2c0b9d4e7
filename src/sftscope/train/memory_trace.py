"""The memory of one real training step, traced on fake tensors: no weights, no data, no GPU.

`trace_step` builds the configured HF model from its config under `FakeTensorMode` (tensors with shapes,
dtypes and storages but no bytes behind them), wraps it in the trainer's `LossModel` (so the loss is the
trainer's `chunked_token_loss`), and runs one micro-step and the optimizer step as the trainer does:
forward and backward under bf16 autocast (precision `bf16`: fp32 master weights), gradient clipping, fused
AdamW. A dispatch mode sees every storage the step allocates and a weak reference sees it freed, so the
trace is the byte-exact live-tensor timeline of that step, split into categories:

- params, grads, optimizer: the model's weights, `p.grad`, and AdamW's state (created by a warm-up step
  before the trace, so the traced step is a steady-state one, as every step after the first is);
- weight copies: autocast's cached bf16 casts of the weights (alive until autocast exits);
- loss chunk: what the loss allocates between the decoder's output and the gradient reaching it: the
  selected positions, each chunk's [chunk, vocab] logits, log-softmax and gradients, lm_head's gradient;
- activations: everything else (checkpointed layer inputs, one layer's recompute, attention, temporaries).

The trace runs on fake CPU tensors with CPU autocast: a CPU-only torch cannot run autograd on fake CUDA
tensors, and the two autocast policies cast the same ops (matmuls to bf16; norms and losses in fp32) in
these models. SDPA picks its flash kernel for fake CPU tensors, whose memory is O(T) as on the GPU. Not
traced: the CUDA context, cuBLAS/NCCL workspaces and allocator fragmentation; `plan.py` leaves headroom
for them. A micro-batch of one row (or packed rows under flash-attention) runs without a [T, T] mask, as on
real data; several padded rows under SDPA get the [rows, 1, T, T] mask transformers builds for them. Boolean indexing (the loss selects the positions that carry loss) has a data-dependent size, so
the trace puts loss on every position, the worst case, and answers those ops with that size.
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

from sftscope.errors import InputError
from sftscope.train.config import SFTConfig

CATEGORIES = ("params", "grads", "optimizer", "weight copies", "activations", "loss chunk")
SHARDED = ("params", "grads", "optimizer")  # what FSDP divides by the number of GPUs
UNMASKED_SDPA = "sftscope_unmasked_sdpa"


@dataclass
class StepTrace:
    """Bytes per category after every allocation of one traced step (rows of `timeline`)."""

    timeline: Any  # numpy int64 array [events, len(CATEGORIES)]
    n_params: int
    param_bytes: int
    layer_param_bytes: int  # the largest decoder layer: FSDP's unit of all-gather
    root_param_bytes: int  # parameters outside the decoder layers (embeddings, final norm, lm_head)
    output_param_bytes: int  # lm_head (the embedding when tied): its gradient comes first in the backward
    vocab: int

    def peak(self, weights: list[float], extra: int = 0) -> tuple[int, dict[str, int]]:
        """The largest weighted total over the step, and its categories (weighted) at that moment."""
        import numpy as np

        scaled = self.timeline * np.asarray(weights, dtype=np.float64)
        at = int(np.argmax(scaled.sum(axis=1)))
        parts = {name: int(np.rint(scaled[at, i])) for i, name in enumerate(CATEGORIES)}
        return sum(parts.values()) + extra, parts


def resolve_precision(cfg: SFTConfig) -> str:
    """The precision the trainer uses on a GPU (`auto` means bf16 autocast there)."""
    return "bf16" if cfg.precision == "auto" else cfg.precision


def trace_step(
    model_config: Any, cfg: SFTConfig, rows: int, seq: int, loss_chunk: int, accumulating: bool
) -> StepTrace:
    """Trace one micro-step of `rows` x `seq` tokens plus the optimizer step of `model_config` under `cfg`.

    `accumulating`: earlier micro-steps of the same optimizer step already hold every gradient.
    """
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from transformers import AutoModelForCausalLM

    from sftscope.train.trainer import LossModel

    precision = resolve_precision(cfg)
    checkpointing = cfg.activation_checkpointing if cfg.activation_checkpointing is not None else True
    dtype = torch.bfloat16 if precision == "bf16-pure" else torch.float32
    padded = rows > 1 and not cfg.packs
    with FakeTensorMode(allow_non_fake_inputs=False):
        try:
            model = AutoModelForCausalLM.from_config(
                model_config, dtype=dtype, attn_implementation="sdpa" if padded else _unmasked_sdpa()
            )
        except (ValueError, ImportError) as exc:
            raise InputError(f"cannot build the model from its config.json ({exc})") from None
        model.config.use_cache = False
        if checkpointing:  # as the trainer's _load_model does (newer transformers renamed it: not our news)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        wrapper = LossModel(model, loss_chunk)
        params = [p for p in wrapper.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay, fused=True
        )
        for p in params:  # a warm-up step creates AdamW's state, as any step after the first has it
            p.grad = torch.zeros_like(p)
        optimizer.step()
        if not accumulating:
            optimizer.zero_grad(set_to_none=True)
        batch = {
            "input_ids": torch.zeros(rows, seq, dtype=torch.long),
            "targets": torch.zeros(rows, seq, dtype=torch.long),
            "weights": torch.ones(rows, seq, dtype=torch.float32),
        }
        if padded:
            batch["attention_mask"] = torch.ones(rows, seq, dtype=torch.long)
        tracer = _tracer_class()()
        tracer.watch_loss(model.get_decoder())
        tracer.register(list(wrapper.parameters()) + list(wrapper.buffers()), "params")
        tracer.register([p.grad for p in params if p.grad is not None], "grads")
        tracer.register([t for s in optimizer.state.values() for t in s.values()], "optimizer")
        autocast = (
            torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
        )
        try:
            with tracer:
                # Mirrors one micro-step of trainer.train: backward runs inside autocast there too.
                with autocast:
                    summed = wrapper(**batch)
                    (summed * (1.0 / (rows * seq))).backward()
                del summed
                tracer.label([p.grad for p in params], "grads")
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm or float("inf"))
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        except (RuntimeError, NotImplementedError) as exc:  # a data-dependent op, e.g. MoE routing
            raise InputError(
                f"cannot trace this architecture's training step on fake tensors ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:160]}); the plan supports dense decoder models"
            ) from None
        layers = _decoder_layers(model)
        layer_bytes = max((_bytes(m.parameters()) for m in layers), default=0)
        total = _bytes(wrapper.parameters())
        return StepTrace(
            timeline=tracer.timeline(),
            n_params=sum(p.numel() for p in wrapper.parameters()),
            param_bytes=total,
            layer_param_bytes=layer_bytes,
            root_param_bytes=total - sum(_bytes(m.parameters()) for m in layers),
            output_param_bytes=_bytes(model.get_output_embeddings().parameters()),
            vocab=model_config.get_text_config().vocab_size,
        )


def _unmasked_sdpa() -> str:
    """SDPA without a materialized mask, as transformers runs one unpadded row (or flash-attention's varlen).

    On real data transformers sees that the positions are contiguous and passes `is_causal` instead of a
    [T, T] mask; on fake tensors it cannot look, and would build the mask. Registering SDPA under a name
    that has no mask function skips mask creation, which is what happens on the real step.
    """
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    AttentionInterface.register(UNMASKED_SDPA, sdpa_attention_forward)
    return UNMASKED_SDPA


def _decoder_layers(model: Any) -> list[Any]:
    names = set(getattr(model, "_no_split_modules", None) or [])
    return [m for m in model.modules() if type(m).__name__ in names]


def _bytes(params: Any) -> int:
    seen: dict[int, int] = {}
    for p in params:  # tied weights are one storage, counted once
        seen[id(p.untyped_storage())] = p.untyped_storage().nbytes()
    return sum(seen.values())


def _tracer_class() -> type:
    """Built on first use, so importing this module does not import torch."""
    import numpy as np
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    aten = torch.ops.aten
    index_puts = (aten.index_put.default, aten.index_put_.default, aten._index_put_impl_.default)

    class StorageTracer(TorchDispatchMode):
        """Every storage an op creates, with its category, and when it is freed.

        Hand-written rather than torch.distributed._tools.MemTracker: that private class keeps only the
        peak snapshot, while the plan needs the whole timeline to re-weigh sharded categories per GPU
        count, plus the weight-copy and loss-chunk categories.
        """

        def __init__(self) -> None:
            super().__init__()
            self.in_loss = False
            self.keys: dict[int, tuple[int, Any]] = {}  # id(storage) -> (key, weakref)
            self.category: list[int] = []  # by key
            self.events: list[tuple[int, int]] = []  # (key, +bytes | -bytes)
            self.param_keys: set[int] = set()

        def register(self, tensors: list[Any], category: str) -> None:
            for t in tensors:
                key = self._track(t, category)
                if key is not None and category == "params":
                    self.param_keys.add(key)

        def label(self, tensors: list[Any], category: str) -> None:
            for t in tensors:
                if t is not None:
                    key = self._track(t, category)
                    if key is not None:
                        self.category[key] = CATEGORIES.index(category)

        def timeline(self) -> Any:
            deltas = np.zeros((len(self.events), len(CATEGORIES)), dtype=np.int64)
            for i, (key, nbytes) in enumerate(self.events):
                deltas[i, self.category[key]] = nbytes
            running = np.cumsum(deltas, axis=0)
            grows = np.fromiter((n > 0 for _, n in self.events), dtype=bool, count=len(self.events))
            return running[grows]  # a peak is always right after an allocation

        def _key(self, t: Any) -> int | None:
            st = t.untyped_storage()
            found = self.keys.get(id(st))
            if found is not None and found[1]() is st:
                return found[0]
            return None

        def _track(self, t: Any, category: str) -> int | None:
            key = self._key(t)
            if key is not None:
                return key
            st = t.untyped_storage()
            nbytes = st.nbytes()
            key = len(self.category)
            self.category.append(CATEGORIES.index(category))
            self.events.append((key, nbytes))
            self.keys[id(st)] = (key, weakref.ref(st, lambda _ref, k=key, n=nbytes: self._free(k, n)))
            return key

        def _free(self, key: int, nbytes: int) -> None:
            self.events.append((key, -nbytes))

        def watch_loss(self, decoder: Any) -> None:
            """The loss runs from the decoder's output until the gradient reaches that output."""

            def leave(grad: Any) -> None:
                self.in_loss = False

            def enter(_module: Any, _args: Any, output: Any) -> None:
                self.in_loss = True
                output.last_hidden_state.register_hook(leave)

            decoder.register_forward_hook(enter)

        def _classify(self, func: Any, args: tuple) -> str:
            copies_weight = func is aten._to_copy.default and isinstance(args[0], torch.Tensor)
            if copies_weight and self._key(args[0]) in self.param_keys:
                return "weight copies"
            return "loss chunk" if self.in_loss else "activations"

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            masks = args[1] if func is aten.index.Tensor or func in index_puts else ()
            if any(m is not None and m.dtype == torch.bool for m in masks):
                out = self._all_true_index(func, args)
            else:
                out = func(*args, **kwargs)
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor) and self._key(t) is None:
                    self._track(t, self._classify(func, args))
            return out

        @staticmethod
        def _all_true_index(func: Any, args: tuple) -> Any:
            """x[mask] and its backward when every mask entry is true (see the module docstring)."""
            src, masks = args[0], args[1]
            if func is aten.index.Tensor:
                k = next(i for i, m in enumerate(masks) if m is not None)
                shape = (*src.shape[:k], masks[k].numel(), *src.shape[k + masks[k].dim() :])
                return torch.empty(shape, dtype=src.dtype, device=src.device)
            return src if func is not aten.index_put.default else torch.empty_like(src)

    return StorageTracer
