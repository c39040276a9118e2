"""The SVD VAE from ComfyUI's single-file ``svd_xt.safetensors`` / ``svd_xt_1_1.safetensors``.

Those files keep Stability's original names (prefix ``first_stage_model.``): an SD-style encoder
(``encoder.down.{i}.block.{j}``, ``mid.block_1/attn_1/block_2``) and a video decoder whose resnets carry
a temporal ``time_stack`` (``in_layers.0/2``, ``out_layers.0/3``) and a learned ``mix_factor``, and whose
``conv_out`` has a ``time_mix_conv``. Only the VAE tensors are read (safetensors lazily), renamed to
diffusers' ``AutoencoderKLTemporalDecoder`` keys and loaded strictly.

The original SVD autoencoder has no ``quant_conv``; diffusers applies one after the encoder, so when the
file has none it is set to the identity (the same function).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from .checkpoints import _format_problem, load_strict, read_safetensors_metadata, read_state_dict, sniff_format
from ..errors import WeightsError
from ..networks.configs import PACKAGED_CONFIGS

PACKAGED_VAE_CONFIG = PACKAGED_CONFIGS["vae"]

VAE_PREFIX = "first_stage_model."
_RESNET_SPATIAL = {"conv_shortcut": "nin_shortcut"}
_TEMPORAL = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0", "conv2": "out_layers.3"}
_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _resnet_tail(tail: str, temporal_decoder: bool) -> str:
    """Name inside one resnet: diffusers tail -> original tail."""
    if not temporal_decoder:
        layer, _, param = tail.rpartition(".")
        return f"{_RESNET_SPATIAL.get(layer, layer)}.{param}"
    if tail == "time_mixer.mix_factor":
        return "mix_factor"
    part, _, rest = tail.partition(".")
    layer, _, param = rest.rpartition(".")
    if part == "spatial_res_block":
        return f"{_RESNET_SPATIAL.get(layer, layer)}.{param}"
    if part == "temporal_res_block" and layer in _TEMPORAL:
        return f"time_stack.{_TEMPORAL[layer]}.{param}"
    raise KeyError(tail)


def original_key(diffusers_key: str, num_blocks: int) -> str:
    """Original (Stability) VAE key for a diffusers ``AutoencoderKLTemporalDecoder`` key (no prefix).

    ``num_blocks`` = len(block_out_channels): the decoder's up blocks are numbered in reverse.
    """
    k = diffusers_key
    side, _, rest = k.partition(".")
    if side == "quant_conv":
        return k
    if side not in ("encoder", "decoder"):
        raise KeyError(k)
    temporal = side == "decoder"
    simple = {"conv_norm_out": "norm_out", "conv_in": "conv_in", "conv_out": "conv_out",
              "time_conv_out": "conv_out.time_mix_conv"}
    layer, _, param = rest.rpartition(".")
    if layer in simple:
        return f"{side}.{simple[layer]}.{param}"
    m = re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", rest)
    if m:
        return f"{side}.mid.block_{int(m.group(1)) + 1}.{_resnet_tail(m.group(2), temporal)}"
    m = re.fullmatch(r"mid_block\.attentions\.0\.(.+)\.(weight|bias)", rest)
    if m and m.group(1) in _ATTN:
        return f"{side}.mid.attn_1.{_ATTN[m.group(1)]}.{m.group(2)}"
    if side == "encoder":
        m = re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest)
        if m:
            return f"encoder.down.{m.group(1)}.block.{m.group(2)}.{_resnet_tail(m.group(3), False)}"
        m = re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(weight|bias)", rest)
        if m:
            return f"encoder.down.{m.group(1)}.downsample.conv.{m.group(2)}"
    else:
        m = re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest)
        if m:
            i = num_blocks - 1 - int(m.group(1))
            return f"decoder.up.{i}.block.{m.group(2)}.{_resnet_tail(m.group(3), True)}"
        m = re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(weight|bias)", rest)
        if m:
            return f"decoder.up.{num_blocks - 1 - int(m.group(1))}.upsample.conv.{m.group(2)}"
    raise KeyError(k)


def key_mapping(diffusers_shapes: Mapping[str, Any], num_blocks: int) -> dict[str, str]:
    """diffusers key -> original key for every key of a diffusers VAE state dict."""
    return {k: original_key(k, num_blocks) for k in diffusers_shapes}


def _clean_config(config: Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    import json

    if config is None:
        config = PACKAGED_VAE_CONFIG
    if isinstance(config, (str, Path)):
        config = json.loads(Path(config).read_text())
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}


def _vae_prefix(keys: list[str], source) -> str:
    if any(k.startswith(VAE_PREFIX) for k in keys):
        return VAE_PREFIX
    if any(k.startswith("decoder.mid.block_1.") for k in keys):
        return ""  # a VAE-only file with original names
    if any(k.startswith("decoder.mid_block.") for k in keys):
        raise WeightsError(f"{source} already has diffusers VAE key names; put it in a vae/ folder with "
                           "config.json as diffusion_pytorch_model.safetensors instead of using it as a single file")
    raise WeightsError(f"{source} contains no SVD VAE (no '{VAE_PREFIX}*' keys); use ComfyUI's "
                       "svd_xt.safetensors / svd_xt_1_1.safetensors or the diffusers vae/ folder")


def convert_vae_state_dict(
    keys: list[str],
    get: Callable[[str], torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    num_blocks: int,
    source: str | Path = "single-file checkpoint",
) -> dict[str, torch.Tensor]:
    """Build a diffusers VAE state dict from an original-format one.

    ``keys``: every key of the file; ``get(key)`` reads one tensor; ``expected``: the diffusers model's
    state dict (for shapes). Unknown VAE keys and missing ones raise one WeightsError naming them.
    """
    prefix = _vae_prefix(keys, source)
    mapping = key_mapping(expected, num_blocks)
    # with a prefix only the VAE part of the file is considered; a VAE-only file must be all VAE
    present = {k[len(prefix):] for k in keys if k.startswith(prefix)} if prefix else set(keys)
    wanted = set(mapping.values())
    missing = [o for d, o in mapping.items() if o not in present and not d.startswith("quant_conv.")]
    unknown = sorted(present - wanted - {"post_quant_conv.weight", "post_quant_conv.bias"})
    if missing or unknown:
        parts = [f"{source}: the SVD VAE does not match the expected AutoencoderKLTemporalDecoder layout"]
        if missing:
            parts.append(f"  {len(missing)} missing keys: {', '.join(prefix + m for m in missing[:5])}"
                         + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""))
        if unknown:
            parts.append(f"  {len(unknown)} unknown keys: {', '.join(prefix + u for u in unknown[:5])}"
                         + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""))
        parts.append("  fix: use ComfyUI's svd_xt.safetensors / svd_xt_1_1.safetensors (SVD-xt), or the "
                     "diffusers vae/ folder of stabilityai/stable-video-diffusion-img2vid-xt; if the file is "
                     "right, the VAE config does not match it (SVD-xt: 4 blocks, layers_per_block 2)")
        raise WeightsError("\n".join(parts))
    out: dict[str, torch.Tensor] = {}
    for d, o in mapping.items():
        want = tuple(expected[d].shape)
        if o not in present:  # quant_conv absent in SVD's original autoencoder: identity 1x1 conv
            if d.endswith("weight"):
                n = want[0]
                out[d] = torch.eye(n, dtype=torch.float32).reshape(want)
            else:
                out[d] = torch.zeros(want, dtype=torch.float32)
            continue
        t = get(prefix + o)
        if tuple(t.shape) != want:
            # attention projections are 1x1 convs in the original, linear layers in diffusers
            if t.numel() == expected[d].numel() and len(want) == 2 and all(s == 1 for s in t.shape[2:]):
                t = t.reshape(want)
            else:
                raise WeightsError(f"{source}: {prefix + o} has shape {list(t.shape)}, expected {list(want)} "
                                   f"for {d}; the VAE config does not match this checkpoint (SVD-xt expects "
                                   "block_out_channels [128, 256, 512, 512])")
        out[d] = t
    return out


def infer_vae_config(shapes: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers VAE config from the original-format key -> shape mapping (prefix allowed).

    Widths, block count, layers per block and channels come from the tensors; the other fields
    (scaling factor 0.18215, force_upcast) from the packaged SVD-xt config.
    """
    prefix = _vae_prefix(list(shapes), "state dict")
    sh = {k[len(prefix):]: tuple(v) for k, v in shapes.items() if k.startswith(prefix)}
    levels = sorted({int(m.group(1)) for k in sh if (m := re.match(r"encoder\.down\.(\d+)\.", k))})
    if not levels or "decoder.conv_in.weight" not in sh or "encoder.conv_in.weight" not in sh:
        raise WeightsError("cannot infer the VAE layout: encoder/decoder keys are missing")
    try:
        widths = [sh[f"encoder.down.{i}.block.0.conv1.weight"][0] for i in levels]
    except KeyError as exc:
        raise WeightsError(f"cannot infer the VAE layout: {exc.args[0]} is missing") from None
    layers = len({int(m.group(1)) for k in sh if (m := re.match(r"encoder\.down\.0\.block\.(\d+)\.", k))})
    cfg = _clean_config(None)
    cfg.update(
        block_out_channels=widths, down_block_types=["DownEncoderBlock2D"] * len(widths), layers_per_block=layers,
        latent_channels=sh["decoder.conv_in.weight"][1], in_channels=sh["encoder.conv_in.weight"][1],
        out_channels=sh.get("decoder.conv_out.weight", (3,))[0],
    )
    return cfg


def _check_temporal(keys: list[str], source) -> None:
    if not any(k.endswith("mix_factor") or ".time_stack." in k for k in keys):
        raise WeightsError(f"{source} holds an image VAE (SD/SDXL style, no temporal decoder), not the SVD "
                           "video VAE; use the VAE of svd_xt.safetensors / svd_xt_1_1.safetensors")


def vae_from_state_dict(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any] | str | Path | None = None,
                        source: str = "VAE state dict"):
    """``AutoencoderKLTemporalDecoder`` from an original-format SVD VAE state dict, e.g. the
    ``first_stage_model.state_dict()`` of a ComfyUI VAE (no prefix) or a whole single file (prefix).
    ``config=None`` infers the layout from the tensors."""
    from diffusers import AutoencoderKLTemporalDecoder

    keys = list(state_dict)
    _vae_prefix(keys, source)
    _check_temporal(keys, source)
    cfg = infer_vae_config({k: v.shape for k, v in state_dict.items()}) if config is None else _clean_config(config)
    vae = AutoencoderKLTemporalDecoder.from_config(cfg)
    sd = convert_vae_state_dict(keys, state_dict.__getitem__, vae.state_dict(), len(cfg["block_out_channels"]),
                                source)
    load_strict(vae, sd, source)
    return vae.float().eval().requires_grad_(False)


def _open_source(path: Path):
    """(keys, getter, shapes) for a safetensors file read lazily, or a pickle read safely."""
    fmt = sniff_format(path)
    problem = _format_problem(path, fmt)
    if problem:
        raise WeightsError(problem)
    if fmt == "safetensors":
        from safetensors import safe_open

        try:
            handle = safe_open(str(path), framework="pt", device="cpu")
            keys = list(handle.keys())
        except Exception as exc:
            raise WeightsError(f"cannot read {path}: {type(exc).__name__}: {str(exc)[:200]}; it may be "
                               "truncated - re-download it") from None

        def get(k: str) -> torch.Tensor:
            try:
                return handle.get_tensor(k)
            except Exception as exc:
                raise WeightsError(f"cannot read tensor {k} from {path}: {type(exc).__name__}; the file may be "
                                   "truncated - re-download it") from None

        meta = read_safetensors_metadata(path)
        return keys, get, {k: v["shape"] for k, v in meta.items()}
    sd = read_state_dict(path)
    return list(sd), sd.__getitem__, {k: v.shape for k, v in sd.items()}


def load_vae_from_single_file(path: str | Path, config: Mapping[str, Any] | str | Path | None = None):
    """``AutoencoderKLTemporalDecoder`` (float32, eval) with the VAE weights of a single-file SVD checkpoint.

    Only the ``first_stage_model.*`` tensors are read. ``config``: a diffusers VAE config (dict or json
    path); ``None`` infers the layout from the tensor shapes (SVD-xt gives the SVD-xt config).
    """
    from diffusers import AutoencoderKLTemporalDecoder

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"SVD single-file checkpoint not found: {path}")
    keys, get, shapes = _open_source(path)
    _vae_prefix(keys, path)
    _check_temporal(keys, path)
    cfg = infer_vae_config(shapes) if config is None else _clean_config(config)
    vae = AutoencoderKLTemporalDecoder.from_config(cfg)
    sd = convert_vae_state_dict(keys, get, vae.state_dict(), len(cfg["block_out_channels"]), path)
    load_strict(vae, sd, path)
    return vae.float().eval().requires_grad_(False)
