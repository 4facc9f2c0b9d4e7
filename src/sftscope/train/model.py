"""The base model and tokenizer for a run: loading, the checks that make a bad request a one-line error,
and the tied-weights invariant.

A model whose config ties its output embedding to its input embedding (Qwen3 up to 4B, the lab models)
must train one tensor: if the two came apart (accelerate's meta-device loading did that before
`LossModel.tie_weights`), lm_head would collect gradients that are never applied and inflate the clipping
norm, and checkpoints would carry a stale lm_head. `check_tied` asserts the invariant after setup, and
`tied_targets` names the keys a checkpoint must leave out.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from sftscope.errors import InputError
from sftscope.train.config import SFTConfig
from sftscope.train.encoding import prepare_tokenizer

NO_MODEL = "config model: no base model given (set model: PATH_OR_HUB_ID)"
# attn_implementation -> (module that provides it, what to install)
FLASH_PACKAGES = {
    "flash_attention_2": ("flash_attn", "the flash extra: pip install 'sftscope[flash]' (flash-attn)"),
    "flash_attention_3": ("flash_attn_interface", "FlashAttention-3 (flash-attn's hopper/ build)"),
}


def check_attention(cfg: SFTConfig) -> None:
    """A flash-attention backend that is not installed is a clear error, not an ImportError deep in HF."""
    need = FLASH_PACKAGES.get(cfg.attn_implementation)
    if need and importlib.util.find_spec(need[0]) is None:
        raise InputError(
            f"config attn_implementation: {cfg.attn_implementation} needs the {need[0]} package, which is "
            f"not installed (install {need[1]}, or use attn_implementation: sdpa)"
        )


def load_model(
    cfg: SFTConfig,
    precision: str,
    cuda: bool,
    model: Any = None,
    tokenizer: Any = None,
    on_meta: bool = False,
) -> tuple[Any, Any]:
    """(model, tokenizer): `model`/`tokenizer` when given, else the config's `model` from disk or the hub.

    `on_meta`: build the architecture on the meta device without reading weights (FSDP ranks other than 0,
    which receive their shards from rank 0).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if model is None:
        if not cfg.model:
            raise InputError(NO_MODEL)
        if not Path(cfg.model).exists() and (
            cfg.model.startswith((".", "/", "~")) or cfg.model.count("/") > 1
        ):
            raise InputError(f"{cfg.model}: model path not found (check config model:)")
        check_attention(cfg)
        remote = cfg.trust_remote_code
        try:
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(cfg.model, trust_remote_code=remote)
            kwargs = {
                "dtype": weight_dtype(precision),
                "attn_implementation": cfg.attn_implementation,
                "trust_remote_code": remote,
            }
            if on_meta:
                import torch

                config = load_model_config(cfg)
                with torch.device("meta"):
                    model = AutoModelForCausalLM.from_config(config, **kwargs)
            else:
                model = AutoModelForCausalLM.from_pretrained(cfg.model, **kwargs)
        except (OSError, ImportError, ValueError) as exc:
            raise _load_error(cfg, "cannot load the model", exc) from None
    elif tokenizer is None:
        raise InputError("TrainInputs.model needs its tokenizer too (TrainInputs.tokenizer)")
    prepare_tokenizer(tokenizer, cfg.model or "tokenizer", cfg.chat_template)
    prepare_model(model, cfg, precision, cuda)
    return model, tokenizer


def load_model_config(cfg: SFTConfig) -> Any:
    """The configured model's config.json (a local dir or the hub), without weights."""
    from transformers import AutoConfig

    if not cfg.model:
        raise InputError(NO_MODEL)
    try:
        return AutoConfig.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code)
    except (OSError, ImportError, ValueError) as exc:
        raise _load_error(cfg, "cannot read the model's config.json", exc) from None


def _load_error(cfg: SFTConfig, what: str, exc: Exception) -> InputError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = (
        ""
        if cfg.trust_remote_code or "trust_remote_code" not in str(exc)
        else "; set trust_remote_code: true"
    )
    return InputError(f"{cfg.model}: {what} ({first[:200]}{hint})")


def resolve_precision(cfg: SFTConfig, cuda: bool) -> str:
    """The precision a run trains in: `auto` is bf16 autocast on a GPU and fp32 on a CPU."""
    if cfg.precision != "auto":
        return cfg.precision
    return "bf16" if cuda else "fp32"


def weight_dtype(precision: str) -> Any:
    """The dtype the weights (and so AdamW's moments) are held in."""
    import torch

    return torch.bfloat16 if precision == "bf16-pure" else torch.float32


def autocast_dtype(precision: str, fsdp: bool) -> Any:
    """bf16 autocast around the forward for `bf16`; FSDP2 casts through its mixed-precision policy instead."""
    import torch

    return torch.bfloat16 if precision == "bf16" and not fsdp else None


def prepare_model(model: Any, cfg: SFTConfig, precision: str, cuda: bool) -> None:
    """What the trainer asks of any model, loaded or handed in: its precision, no KV cache, checkpointing."""
    import torch

    # Cast only when needed: a model built in bf16 already (the memory plan's fake one, whose tied weights
    # Module.to cannot swap) stays as it is.
    if precision == "bf16-pure" and any(
        p.dtype != torch.bfloat16 for p in model.parameters() if p.is_floating_point()
    ):
        model.to(torch.bfloat16)
    model.config.use_cache = False
    if cfg.activation_checkpointing if cfg.activation_checkpointing is not None else cuda:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers 5 (the old name warns)
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def tied_targets(model: Any) -> dict[str, str]:
    """{tied parameter: the parameter it is tied to}, e.g. {"lm_head.weight": "model.embed_tokens.weight"}."""
    mapping = getattr(model, "all_tied_weights_keys", None)  # transformers 5
    if mapping is not None:
        return dict(mapping)
    if not getattr(model.config, "tie_word_embeddings", False) or model.get_output_embeddings() is None:
        return {}
    names = {id(m): n for n, m in model.named_modules()}
    out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    return {f"{names[id(out)]}.weight": f"{names[id(inp)]}.weight"}


def check_tied(model: Any, source: str) -> None:
    """Every parameter the config ties must be the same tensor as its source (after loading and sharding)."""
    for target, origin in tied_targets(model).items():
        try:
            same = model.get_parameter(target) is model.get_parameter(origin)
        except AttributeError:
            continue  # a pattern that names no parameter of this model
        if not same:
            raise InputError(
                f"{source}: config.json ties {target} to {origin}, but they are two tensors after loading "
                "(lm_head would get gradients that are never applied); the model's tie_weights() is broken"
            )
