"""Building ACE-Step v1 models from a located checkpoint, one part at a time.

Every model is first built on the meta device from its config (or from tensor shapes when the
file has none), the file's keys and shapes are checked against it, and only then are the weights
read, cast and assigned. So a bad file fails before anything heavy happens, and memory never holds
a second copy of the weights (no random init that is then overwritten).

How the layers compute is chosen here too, once per load: the ``operations`` each model is built
with (``ACESTEP_CPU_GEMM``, see ``models/cpu_gemm.py``).
"""
from __future__ import annotations

import os
import re
from typing import Callable

import torch
from torch import nn

from .checkpoint import CheckpointError, CheckpointSource, PartSource
from .models.cpu_gemm import ROUTES
from .models.operations import Operations, cpu_operations

CPU_GEMM_ENV = "ACESTEP_CPU_GEMM"

DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """Accept 'float32'/'bf16'/'fp16'... or a torch dtype; anything else is a clear error."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise ValueError(f"dtype {dtype} is not supported; use float32, bfloat16 or float16.")
        return dtype
    key = str(dtype).lower().removeprefix("torch.")
    if key not in DTYPES:
        raise ValueError(f"dtype {dtype!r} is not supported; use 'float32', 'bfloat16' or 'float16'.")
    return DTYPES[key]


# Keys real files carry that inference never uses (documented allow-list, spec §5.7 / A.4).
UMT5_UNUSED_KEYS = re.compile(r"^(decoder\.|lm_head\.)")
_UMT5_OPTIONAL = ("encoder.embed_tokens.weight",)  # tied to shared.weight, often absent
_VOCODER_OPTIONAL = ("mel_transform.spectrogram.window", "mel_transform.mel_scale.fb")  # recomputed if absent


def operations_from_env() -> Operations:
    """The layer set for models loaded now: ``ACESTEP_CPU_GEMM`` = auto (unset) | onednn | blas."""
    wanted = os.environ.get(CPU_GEMM_ENV, "auto")
    try:
        return cpu_operations(wanted)
    except ValueError:
        raise ValueError(f"{CPU_GEMM_ENV}={wanted!r} is not one of {', '.join(ROUTES)}; unset it for auto") from None


def _check_keys(src: PartSource, expected: dict[str, tuple[int, ...]], file_shapes: dict[str, tuple[int, ...]],
                ignored: Callable[[str], bool], optional: tuple[str, ...] = ()) -> list[str]:
    """Compare a file's keys/shapes with the model's; one error listing everything wrong."""
    missing = [k for k in expected if k not in file_shapes and k not in optional]
    unexpected = [k for k in file_shapes if k not in expected and not ignored(k)]
    misshaped = [
        f"{k} {file_shapes[k]} (model expects {expected[k]})"
        for k in expected if k in file_shapes and tuple(file_shapes[k]) != tuple(expected[k])
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing tensor(s), e.g. {', '.join(missing[:4])}")
    if misshaped:
        problems.append(f"{len(misshaped)} tensor(s) with the wrong shape, e.g. {'; '.join(misshaped[:3])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unknown tensor(s), e.g. {', '.join(unexpected[:4])}")
    if problems:
        raise CheckpointError(
            f"the {src.part} weights in {src.where} do not fit an ACE-Step v1 {src.part}: "
            + "; ".join(problems)
            + ". The file is damaged or belongs to another model; re-download it."
        )
    return [k for k in expected if k in file_shapes]


def _assign(model: nn.Module, state: dict[str, torch.Tensor], *, device, dtype) -> nn.Module:
    """Assign loaded tensors to a meta-built model; anything left on meta is a bug we report."""
    model.load_state_dict(state, strict=False, assign=True)
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_meta:
            raise CheckpointError(f"internal error: {name} was not loaded")
    return model.eval().requires_grad_(False)


def _expected(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def load_transformer(src: PartSource, *, dtype: torch.dtype, device: torch.device | str = "cpu",
                     operations: Operations | None = None) -> nn.Module:
    """The DiT; training-only heads (projectors, add_*_proj) are never read (spec §5.7)."""
    from .models.transformer import AceStepTransformer, infer_transformer_config, is_unused_transformer_key

    config = src.config if src.config is not None else infer_transformer_config(src.tensors.meta_tensors())
    model = AceStepTransformer.from_config(config, device="meta", operations=operations or operations_from_env())
    keys = _check_keys(src, _expected(model), src.tensors.shapes(), is_unused_transformer_key)
    state = src.tensors.load(keys, dtype=dtype, device=device)
    return _assign(model, state, device=device, dtype=dtype)


def load_vocoder(src: PartSource, *, dtype: torch.dtype, device: torch.device | str = "cpu",
                 operations: Operations | None = None) -> nn.Module:
    """The HiFiGAN vocoder; accepts legacy weight_g/weight_v and parametrization names (spec A.3)."""
    from .models.vocoder import MusicVocoder, convert_vocoder_state_dict, infer_vocoder_config

    meta = convert_vocoder_state_dict(src.tensors.meta_tensors())
    config = src.config if src.config is not None else infer_vocoder_config(meta)
    # Built for real (not on meta): it is small, and its mel buffers must hold computed values when
    # a file lacks them.
    model = MusicVocoder.from_config(config, operations=operations or operations_from_env())
    file_shapes = {k: tuple(v.shape) for k, v in meta.items()}
    keys = _check_keys(src, _expected(model), file_shapes, lambda k: False, _VOCODER_OPTIONAL)
    raw_keys = src.tensors.keys()
    state = convert_vocoder_state_dict(src.tensors.load(raw_keys, dtype=dtype, device=device))
    state = {k: state[k] for k in keys}
    model.load_state_dict(state, strict=False)
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)


def load_dcae(src: PartSource, *, dtype: torch.dtype, device: torch.device | str = "cpu") -> nn.Module:
    """diffusers' AutoencoderDC with the music config (spec §2.2, §6.3)."""
    from .models.dcae import build_autoencoder, infer_dcae_config

    config = src.config if src.config is not None else infer_dcae_config(src.tensors.meta_tensors())
    with torch.device("meta"):
        model = build_autoencoder(config)
    keys = _check_keys(src, _expected(model), src.tensors.shapes(), lambda k: False)
    state = src.tensors.load(keys, dtype=dtype, device=device)
    return _assign(model, state, device=device, dtype=dtype)


def load_music_dcae(source: CheckpointSource, *, dtype: torch.dtype, device: torch.device | str = "cpu",
                    operations: Operations | None = None) -> nn.Module:
    """DCAE + vocoder as one `MusicDCAE` (encode: audio → latents, decode: latents → audio)."""
    from .models.dcae import MusicDCAE

    return MusicDCAE(load_dcae(source["dcae"], dtype=dtype, device=device),
                     load_vocoder(source["vocoder"], dtype=dtype, device=device, operations=operations))


def load_prompt_tokenizer(source: CheckpointSource):
    """The UMT5 tokenizer: the folder's own files, or the sentencepiece model inside an all-in-one file."""
    src = source["text_encoder"]
    if src.folder is not None:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(src.folder))
    if source.spiece_model is None:
        raise CheckpointError(
            f"{source.root}: the all-in-one file has no 'text_encoders.spiece_model' tokenizer; "
            "use ComfyUI's ace_step_v1_3.5b.safetensors or the upstream folder layout."
        )
    return SentencePieceT5Tokenizer(source.spiece_model)


class SentencePieceT5Tokenizer:
    """T5 tokenization straight from the sentencepiece model bytes of an all-in-one file.

    Used instead of a transformers tokenizer because their sentencepiece conversions differ across
    versions (the fast conversion drops the leading "▁" piece; transformers 5 has no slow class).
    T5 semantics: pieces, then </s> (id 1), truncated to max_length keeping </s>, padded with 0.
    """

    eos_token_id = 1
    pad_token_id = 0

    def __init__(self, model_bytes: bytes):
        import sentencepiece

        self.sp = sentencepiece.SentencePieceProcessor(model_proto=model_bytes)

    def __call__(self, texts: list[str], padding: bool = True, truncation: bool = True, max_length: int = 256,
                 return_tensors: str = "pt") -> dict:
        rows = []
        for text in texts:
            ids = list(self.sp.encode(text))
            if truncation and len(ids) > max_length - 1:
                ids = ids[: max_length - 1]
            rows.append(ids + [self.eos_token_id])
        width = max(len(r) for r in rows)
        ids = [r + [self.pad_token_id] * (width - len(r)) for r in rows]
        mask = [[1] * len(r) + [0] * (width - len(r)) for r in rows]
        return {"input_ids": torch.tensor(ids, dtype=torch.long), "attention_mask": torch.tensor(mask, dtype=torch.long)}


def load_text_encoder(source: CheckpointSource, *, dtype: torch.dtype, device: torch.device | str = "cpu",
                      operations: Operations | None = None):
    """Tokenizer + UMT5 encoder as a `PromptEncoder`; decoder / lm_head tensors are ignored."""
    from .models.text_encoder import PromptEncoder, build_umt5_encoder, infer_umt5_config

    src = source["text_encoder"]
    shapes = src.tensors.shapes()
    config = src.config if src.config is not None else infer_umt5_config(shapes)
    model = build_umt5_encoder(config, device="meta", operations=operations or operations_from_env())
    keys = _check_keys(src, _expected(model), shapes, lambda k: bool(UMT5_UNUSED_KEYS.match(k)), _UMT5_OPTIONAL)
    state = src.tensors.load(keys, dtype=dtype, device=device)
    if "encoder.embed_tokens.weight" not in state:
        state["encoder.embed_tokens.weight"] = state["shared.weight"]
    model = _assign(model, state, device=device, dtype=dtype)
    return PromptEncoder(load_prompt_tokenizer(source), model)
