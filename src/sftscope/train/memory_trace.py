"""The memory of one real training step, traced on fake tensors: no weights, no data, no GPU.

`trace_step` builds the configured HF model from its config under `FakeTensorMode` (tensors with shapes,
dtypes and storages but no bytes behind them) and runs the trainer's own code on it: `load_model`'s
preparation (bf16-pure cast, activation checkpointing), `wrap` (the `LossModel` with the chunked loss, and on
N > 1 GPUs torch's FSDP2 over a fake process group of N ranks, so every tensor has its per-GPU shape),
`make_optimizer`, a micro-batch from `collate`, `forward_backward` (autocast around the forward only),
`clip_gradients` and the AdamW step. A dispatch mode sees every storage the step allocates (and FSDP's
storage resizes), and a weak reference sees it freed, so the trace is the byte-exact live-tensor timeline
of one GPU's step, split into categories:

- params, grads, optimizer: the model's weights (this GPU's shards), `p.grad`, and AdamW's state (made by a
  warm-up step before the trace: every step after the first has it) plus its update's temporaries;
- weight copies: autocast's cached bf16 casts of the weights (alive until the forward's autocast exits);
- loss chunk: what the chunked loss allocates between the decoder's output and the gradient reaching it:
  the selected positions, the bf16 cast of lm_head, each chunk's logits and gradient, and the gradients it
  computes in its forward for the hidden states and lm_head;
- fsdp buffers: FSDP2's all-gathered parameters, the unsharded gradients before their reduce-scatter, and
  the collectives' staging buffers;
- activations: everything else (checkpointed layer inputs, one layer's recompute, attention, temporaries).

The trace runs on fake CPU tensors with CPU autocast: a CPU-only torch cannot run autograd on fake CUDA
tensors, and the two autocast policies cast the same ops (matmuls to bf16; norms and losses in fp32) in
these models. SDPA picks its flash kernel for fake CPU tensors, whose memory is O(T) as on the GPU; the
optimizer is built as on a GPU (fused AdamW, or foreach under FSDP). Not traced: the CUDA context,
cuBLAS/NCCL workspaces and allocator fragmentation; `plan.py` leaves headroom for them. A micro-batch of
one row (or packed rows under flash-attention) runs without a [T, T] mask, as on real data; several padded
rows under SDPA get the [rows, 1, T, T] mask transformers builds for them. Every position but a row's last
carries loss, the worst case for the loss (a prompt only shortens it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import weakref
from dataclasses import dataclass
from typing import Any

from sftscope.errors import InputError
from sftscope.train.config import SFTConfig

CATEGORIES = ("params", "grads", "optimizer", "weight copies", "activations", "loss chunk", "fsdp buffers")
UNMASKED_SDPA = "sftscope_unmasked_sdpa"
FSDP_SOURCE = os.path.join("torch", "distributed", "fsdp", "")
# FSDP2's gradient reduce-scatter lives here (private; a torch that moves it only shifts bytes between the
# activations and fsdp buffers categories, never the total).
FSDP_REDUCE_SOURCE = os.path.join("torch", "distributed", "fsdp", "_fully_shard", "_fsdp_collectives.py")


@dataclass
class StepTrace:
    """Bytes per category (this GPU's) after every allocation of one traced step (rows of `timeline`)."""

    timeline: Any  # numpy int64 array [events, len(CATEGORIES)]
    n_params: int
    gpus: int

    def peak(self, scale: list[float] | None = None) -> tuple[int, dict[str, int]]:
        """The largest (optionally per-category scaled) total over the step, and its categories then."""
        import numpy as np

        scaled = self.timeline * np.asarray(scale or [1.0] * len(CATEGORIES), dtype=np.float64)
        at = int(np.argmax(scaled.sum(axis=1)))
        parts = {name: int(np.rint(scaled[at, i])) for i, name in enumerate(CATEGORIES)}
        return sum(parts.values()), parts


def trace_step(
    model_config: Any, cfg: SFTConfig, rows: int, seq: int, loss_chunk: int, accumulating: bool, gpus: int = 1
) -> StepTrace:
    """Trace one micro-step of `rows` x `seq` tokens plus the optimizer step, as one of `gpus` GPUs runs it.

    `accumulating`: earlier micro-steps of the same optimizer step already hold every (sharded) gradient.
    """
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode, unset_fake_temporarily

    from sftscope.train.batches import collate
    from sftscope.train.distributed import Dist, local_tensor, unwrap, wrap
    from sftscope.train.encoding import Encoded
    from sftscope.train.loss import LossModel
    from sftscope.train.model import autocast_dtype, resolve_precision
    from sftscope.train.step import clip_gradients, forward_backward, make_optimizer

    precision = resolve_precision(cfg, cuda=True)
    fsdp = gpus > 1
    padded = rows > 1 and not cfg.packs
    cfg = dataclasses.replace(cfg, loss_chunk_tokens=loss_chunk, fsdp=fsdp)
    # Loss on every position a row can predict; the scale a token mean over the micro-batch would give.
    row = Encoded(tuple([0] * seq), 0)
    batch = collate([row] * rows, cfg.packs, 0, scales=[1.0 / (rows * (seq - 1))] * rows)
    with _fake_process_group(gpus), FakeTensorMode(allow_non_fake_inputs=False) as mode:
        model = _build(model_config, cfg, precision, padded)
        dist = Dist(world=gpus, fsdp=fsdp)
        module = LossModel(model, loss_chunk)
        # For one process `wrap` only moves the module to its device, which it is on already (and fake
        # tensors with tied weights cannot be swapped by Module.to). FSDP builds its device mesh from real
        # rank numbers, so it runs outside the fake mode; the fake weights keep their own.
        if fsdp:
            with unset_fake_temporarily():
                module = wrap(module, cfg, dist, precision)
        params = [p for p in unwrap(module).parameters() if p.requires_grad]
        optimizer = make_optimizer(cfg, params, fused=not fsdp, foreach=True if fsdp else None)
        for p in params:  # a warm-up step creates AdamW's state, as any step after the first has it
            p.grad = torch.zeros_like(p)
        optimizer.step()
        micro = {k: mode.from_tensor(v) for k, v in batch.items()}
        micro_batches = [micro]
        if accumulating and fsdp and not cfg.grad_sync_every_micro:
            # FSDP accumulates unsharded gradients until the last micro-step: trace that one after another.
            micro_batches = [micro, micro]
            optimizer.zero_grad(set_to_none=True)
        elif not accumulating:
            optimizer.zero_grad(set_to_none=True)
        tracer = _tracer_class()(fsdp)
        tracer.watch_loss(model.get_decoder())
        local = [local_tensor(t) for t in [*unwrap(module).parameters(), *unwrap(module).buffers()]]
        tracer.register(local, "params")
        tracer.register([local_tensor(p.grad) for p in params if p.grad is not None], "grads")
        tracer.register([local_tensor(t) for s in optimizer.state.values() for t in s.values()], "optimizer")
        tracer.register(list(micro.values()), "activations")
        autocast = autocast_dtype(precision, fsdp)
        try:
            with tracer:
                forward_backward(module, micro_batches, dist, cfg, autocast)
                tracer.label([local_tensor(p.grad) for p in params if p.grad is not None], "grads")
                clip_gradients(module, cfg.max_grad_norm)
                with tracer.phase(
                    "optimizer"
                ):  # AdamW's update temporaries (foreach): sharded like its state
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        except (RuntimeError, NotImplementedError) as exc:  # a data-dependent op, e.g. MoE routing
            raise InputError(
                f"cannot trace this architecture's training step on fake tensors ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:160]}); the plan supports dense decoder models"
            ) from None
        return StepTrace(
            timeline=tracer.timeline(),
            n_params=sum(p.numel() for p in unwrap(module).parameters()),
            gpus=gpus,
        )


def _build(model_config: Any, cfg: SFTConfig, precision: str, padded: bool) -> Any:
    """The model from its config (fake weights), prepared by the trainer's own `prepare_model` for a GPU."""
    from transformers import AutoModelForCausalLM

    from sftscope.train.model import prepare_model, weight_dtype

    try:
        model = AutoModelForCausalLM.from_config(
            model_config,
            dtype=weight_dtype(precision),
            attn_implementation="sdpa" if padded else _unmasked_sdpa(),
        )
    except (ValueError, ImportError) as exc:
        raise InputError(f"cannot build the model from its config.json ({exc})") from None
    prepare_model(model, cfg, precision, cuda=True)
    return model


@contextlib.contextmanager
def _fake_process_group(gpus: int) -> Any:
    """For N > 1 GPUs, a process group of N ranks that communicates nothing (torch's "fake" backend).

    FSDP2 then shards as it would on N GPUs, and its collectives keep their shapes without moving data.
    """
    if gpus == 1:
        yield
        return
    import torch.distributed as torch_dist
    from torch.testing._internal.distributed.fake_pg import FakeStore  # registers "fake" on older torch

    if torch_dist.is_initialized():
        raise InputError("--plan --gpus N: run the plan outside torchrun (it simulates the N processes)")
    torch_dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=gpus)
    try:
        yield
    finally:
        torch_dist.destroy_process_group()


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


def _callers() -> list[str]:
    """The files of the running Python frames (to tell FSDP's own allocations from the model's)."""
    files, frame = [], sys._getframe(2)
    while frame is not None:
        files.append(frame.f_code.co_filename)
        frame = frame.f_back
    return files


def _tracer_class() -> type:
    """Built on first use, so importing this module does not import torch."""
    import numpy as np
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    aten = torch.ops.aten

    class StorageTracer(TorchDispatchMode):
        """Every storage an op creates or resizes, with its category, and when it is freed.

        Hand-written rather than torch.distributed._tools.FSDPMemTracker: that private class keeps only the
        peak snapshot, while the plan needs the whole timeline (to scale activations and the loss chunk
        when it searches for a micro-batch that fits) and the weight-copy and loss-chunk categories.
        """

        def __init__(self, fsdp: bool) -> None:
            super().__init__()
            self.fsdp = fsdp
            self.in_loss = False
            self.current: str | None = None  # a phase's category for what it allocates
            self.keys: dict[int, tuple[int, Any]] = {}  # id(storage) -> (key, weakref)
            self.size: list[int] = []  # by key: current bytes
            self.category: list[int] = []  # by key
            self.events: list[tuple[int, int]] = []  # (key, bytes added, negative when freed)
            self.param_keys: set[int] = set()
            self._resize = torch.UntypedStorage.resize_

        def __enter__(self) -> Any:
            # FSDP2 frees and re-allocates gathered parameters by resizing their storage, which no dispatch
            # mode sees; MemTracker patches the method the same way.
            tracer, resize = self, self._resize

            def tracked_resize(storage: Any, nbytes: int) -> Any:
                out = resize(storage, nbytes)
                tracer._resized(storage, int(nbytes))
                return out

            torch.UntypedStorage.resize_ = tracked_resize
            return super().__enter__()

        def __exit__(self, *exc: Any) -> Any:
            torch.UntypedStorage.resize_ = self._resize
            return super().__exit__(*exc)

        def register(self, tensors: list[Any], category: str) -> None:
            for t in tensors:
                key = self._track(t, category)
                if category == "params":
                    self.param_keys.add(key)

        @contextlib.contextmanager
        def phase(self, category: str) -> Any:
            self.current = category
            try:
                yield
            finally:
                self.current = None

        def label(self, tensors: list[Any], category: str) -> None:
            """Count these tensors' storages, over their whole life, as `category`."""
            for t in tensors:
                self.category[self._track(t, category)] = CATEGORIES.index(category)

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

        def _track(self, t: Any, category: str) -> int:
            key = self._key(t)
            if key is not None:
                return key
            st = t.untyped_storage()
            key = len(self.category)
            self.category.append(CATEGORIES.index(category))
            self.size.append(0)
            self.keys[id(st)] = (key, weakref.ref(st, lambda _ref, k=key: self._set(k, 0)))
            self._set(key, st.nbytes())
            return key

        def _set(self, key: int, nbytes: int) -> None:
            if nbytes != self.size[key]:
                self.events.append((key, nbytes - self.size[key]))
                self.size[key] = nbytes

        def _resized(self, storage: Any, nbytes: int) -> None:
            found = self.keys.get(id(storage))
            if found is not None and found[1]() is storage:
                self._set(found[0], nbytes)

        def watch_loss(self, decoder: Any) -> None:
            """The loss runs from the decoder's output until the gradient reaches that output."""

            def leave(grad: Any) -> None:
                self.in_loss = False

            def enter(_module: Any, _args: Any, output: Any) -> None:
                self.in_loss = True
                output.last_hidden_state.register_hook(leave)

            decoder.register_forward_hook(enter)

        def _classify(self, func: Any, args: tuple, files: list[str]) -> str:
            if any(FSDP_SOURCE in f for f in files):
                return "fsdp buffers"
            if self.current:
                return self.current
            if self.in_loss:
                return "loss chunk"
            copies_weight = func is aten._to_copy.default and isinstance(args[0], torch.Tensor)
            if copies_weight and self._key(args[0]) in self.param_keys:
                return "weight copies"
            return "activations"

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            files = _callers() if self.fsdp else []
            if any(FSDP_REDUCE_SOURCE in f for f in files):
                # What FSDP's reduce reads that autograd (or the loss, for lm_head) made: the unsharded
                # gradients.
                made = (CATEGORIES.index("activations"), CATEGORIES.index("loss chunk"))
                for t in tree_flatten((args, kwargs))[0]:
                    t = getattr(t, "_local_tensor", t)
                    key = self._key(t) if isinstance(t, torch.Tensor) else None
                    if key is not None and self.category[key] in made:
                        self.category[key] = CATEGORIES.index("fsdp buffers")
            for t in tree_flatten(out)[0]:
                # A mode sees DTensors (FSDP's sharded parameters, their gradients and AdamW state) before
                # they unwrap: what the GPU holds is the local shard.
                t = getattr(t, "_local_tensor", t)
                if isinstance(t, torch.Tensor) and self._key(t) is None:
                    self._track(t, self._classify(func, args, files))
            return out

    return StorageTracer
