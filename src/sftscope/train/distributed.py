"""Processes and sharding: one process, DDP, or torch's FSDP2, on CPU (gloo) and GPU (nccl) alike.

    sftscope train X.yaml                                                   # one process
    torchrun --nproc_per_node N -m sftscope.cli.main train X.yaml                 # DDP over N processes
    torchrun --nproc_per_node N -m sftscope.cli.main train X.yaml --set fsdp=true # FSDP2 over N processes

FSDP2 is applied the way torchtitan and torchtune apply it: `fully_shard` on every decoder layer, then on
the root (the `LossModel`), whose own group holds the embedding, the final norm and lm_head; a tied
embedding is one parameter in that one group. The same code path runs on CPU, so it is tested there.

`accelerate launch` with an FSDP config (configs/accelerate/) is honoured as a launcher: its processes
come here with ACCELERATE_USE_FSDP=true and get this same FSDP2 path; the SFTConfig's precision and fsdp_*
keys apply, accelerate's own mixed_precision and fsdp_* options are not read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as torch_dist

from sftscope.errors import InputError
from sftscope.train.config import SFTConfig


@dataclass
class Dist:
    """Where this process stands: its rank among `world` processes, its device, and whether FSDP shards."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    fsdp: bool = False
    owns_group: bool = False  # this process created the process group, so it also destroys it
    store_dir: str | None = None  # the file store of a one-process group (FSDP without torchrun)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def grouped(self) -> bool:
        return torch_dist.is_available() and torch_dist.is_initialized()


def fsdp_requested(cfg: SFTConfig) -> bool:
    """FSDP from the config, or from an `accelerate launch` whose config chose FSDP."""
    return cfg.fsdp or os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"


def init_dist(fsdp: bool) -> Dist:
    """Join (or create) the process group that torchrun / accelerate launch describe in the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    out = Dist(rank=rank, world=world, device=device, fsdp=fsdp)
    if (world > 1 or fsdp) and not torch_dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if cuda else "gloo"
        if world > 1:
            torch_dist.init_process_group(backend)
        else:  # FSDP in one process (a 1-GPU step, or the 1-process side of a parity test)
            out.store_dir = tempfile.mkdtemp(prefix="sftscope-pg-")
            store = f"file://{Path(out.store_dir) / 'store'}"
            torch_dist.init_process_group(backend, init_method=store, rank=0, world_size=1)
        out.owns_group = True
    return out


def close_dist(dist: Dist) -> None:
    if dist.owns_group and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
    if dist.store_dir:
        shutil.rmtree(dist.store_dir, ignore_errors=True)


def barrier(dist: Dist) -> None:
    if dist.grouped:
        torch_dist.barrier()


def all_reduce_sum(tensor: torch.Tensor, dist: Dist) -> torch.Tensor:
    if dist.grouped and dist.world > 1:
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)
    return tensor


def decoder_layers(model: Any) -> list[torch.nn.Module]:
    """The repeated blocks FSDP shards one by one: modules named in the model's `_no_split_modules`."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise InputError(
            f"{type(model).__name__}: cannot find its decoder layers for FSDP (the model lists no "
            "_no_split_modules); train it without fsdp"
        )
    return layers


def wrap(wrapper: torch.nn.Module, cfg: SFTConfig, dist: Dist, precision: str) -> torch.nn.Module:
    """The training module: FSDP2-sharded, DDP-wrapped, or `wrapper` itself on `dist.device`."""
    if dist.fsdp:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mesh = init_device_mesh(dist.device.type, (dist.world,))
        policy = MixedPrecisionPolicy(
            param_dtype=torch.bfloat16 if precision == "bf16" else None,  # bf16 compute, fp32 master weights
            reduce_dtype=torch.float32 if cfg.reduce_dtype == "fp32" else torch.bfloat16,
        )
        full = wrapper.state_dict() if dist.main else {}  # rank 0 holds the weights; others may be on meta
        on_meta = any(p.is_meta for p in wrapper.parameters())
        for layer in decoder_layers(wrapper.model):
            fully_shard(
                layer, mesh=mesh, mp_policy=policy, reshard_after_forward=cfg.fsdp_reshard_after_forward
            )
        # The root keeps embedding + lm_head for the loss. Its inputs are not cast: the loss weights and
        # scales must stay fp32 (a bf16 scale 1/(8 * tokens) would be off by up to 0.4%).
        root_policy = dataclasses.replace(policy, cast_forward_inputs=False)
        fully_shard(wrapper, mesh=mesh, mp_policy=root_policy)
        if dist.world > 1:
            _broadcast_weights(wrapper, full, on_meta, dist)
        return wrapper
    wrapper.to(dist.device)
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            wrapper, device_ids=[dist.device.index] if dist.device.type == "cuda" else None
        )
    return wrapper


def _broadcast_weights(
    wrapper: torch.nn.Module, full: dict[str, torch.Tensor], on_meta: bool, dist: Dist
) -> None:
    """Give every rank its shard of rank 0's weights, and rank 0's buffers.

    Only rank 0 reads the checkpoint: the others build the model on the meta device (and accelerate's
    fsdp_cpu_ram_efficient_loading has transformers do the same), so host memory holds one copy per node.
    Buffers are broadcast too, since non-persistent ones (rotary inv_freq) are in no state dict.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    if on_meta:
        wrapper.to_empty(device=dist.device)
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(wrapper, full, options=options)
    full.clear()
    for buffer in wrapper.buffers():
        torch_dist.broadcast(buffer, src=0)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The `LossModel` inside a DDP wrapper (FSDP2 shards in place, so it is the module itself)."""
    return getattr(module, "module", module)


def grad_sync(module: torch.nn.Module, dist: Dist, last: bool, every_micro: bool) -> Any:
    """A context for one micro-step's backward: reduce its gradients now, or keep accumulating locally.

    FSDP2 reduce-scatters every micro-step by default (`every_micro`), so no rank holds unsharded gradients
    between micro-steps; DDP's gradients are full-size anyway, so it syncs on the last micro-step only.
    """
    if dist.fsdp:
        module.set_requires_gradient_sync(last or every_micro)
        return contextlib.nullcontext()
    if dist.world > 1 and not last:
        return module.no_sync()
    return contextlib.nullcontext()


def full_tensor(value: Any) -> torch.Tensor:
    """A plain tensor from a DTensor (gathered) or a tensor."""
    return value.full_tensor() if hasattr(value, "full_tensor") else value


def local_tensor(value: Any) -> torch.Tensor:
    """This rank's shard of a DTensor, or the tensor itself."""
    return value.to_local() if hasattr(value, "to_local") else value


def like_param(saved: torch.Tensor, param: Any) -> torch.Tensor:
    """`saved` (this rank's shard) as a tensor laid out like `param` (a DTensor under FSDP)."""
    if hasattr(param, "device_mesh"):
        from torch.distributed.tensor import DTensor

        local = saved.to(device=param.to_local().device, dtype=param.dtype)
        return DTensor.from_local(
            local,
            param.device_mesh,
            param.placements,
            shape=param.shape,
            stride=param.stride(),
            run_check=False,
        )
    return saved.to(device=param.device, dtype=param.dtype)


def full_model_state(module: torch.nn.Module, dist: Dist) -> dict[str, torch.Tensor]:
    """The whole model's state dict on the main process (a collective under FSDP: every rank calls it).

    Keys are the HF model's own (the `LossModel`'s `model.` prefix removed); other ranks get {}.
    """
    if dist.fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    else:
        state = unwrap(module).state_dict() if dist.main else {}
    return {k.removeprefix("model."): v for k, v in state.items()}
