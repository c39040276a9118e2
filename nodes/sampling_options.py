"""Sampling inputs shared by SVFR Sampler and SVFR Restore Video: seed control, advanced tuning widgets,
the window/overlap check, and the memory preset -> engine options + ComfyUI memory hint."""
from __future__ import annotations

from comfy_api.v0_0_2 import io


def seed_control():
    """The seed's "control after generate" default: fixed, so a rerun repeats the result.

    Newer ComfyUI has ``io.ControlAfterGenerate.fixed`` (published as "fixed", the frontend's start value);
    0.3.75 and its frontend 1.32 only know True, which starts at "randomize": web/js/svfr_sampler.js
    switches a new node to "fixed" (a loaded workflow keeps its saved value).
    """
    fixed = getattr(getattr(io, "ControlAfterGenerate", None), "fixed", None)
    return fixed if fixed is not None else True


def advanced(widget):
    """Mark a tuning widget advanced: the frontend hides it until "Show Advanced" (node menu).

    Newer ComfyUI has an ``advanced`` input attribute; 0.3.75 has none, but its inputs merge
    ``extra_dict`` into the options /object_info publishes, and its frontend (1.32) reads ``advanced``.
    """
    if hasattr(widget, "advanced"):
        widget.advanced = True
    else:
        widget.extra_dict["advanced"] = True
    return widget


OOM_HINT = ("In ComfyUI: set the node's preset to low_vram (or lower decode_chunk / window), choose "
            "fp16 in SVFR Model Loader, or start ComfyUI with --cpu-vae.")


def memory_options(preset: str | None, decode_chunk: int, model=None, height: int = 512, width: int = 512,
                   window: int = 16) -> dict:
    """The preset's engine options; the node's decode_chunk applies, capped by a smaller preset chunk.
    ``auto``: the fastest preset that fits ComfyUI's free device memory plus what the model (``model``: the
    SVFR_MODEL handle) already holds there; any preset that will be slow there warns (shown on the node)."""
    from svfr_model.diffusion.presets import options_for_models, preset_options

    if model is not None:  # sized for this card: auto picks, and a preset slow here is warned about
        options = options_for_models(preset or "default", model.models, height=height, width=width, window=window,
                                     free_bytes=comfy_free_bytes(model))
    else:
        options = preset_options(preset or "default")
    options["decode_chunk"] = decode_chunk if options["decode_chunk"] >= 16 else min(decode_chunk,
                                                                                         options["decode_chunk"])
    return options


def comfy_free_bytes(model) -> int | None:
    """ComfyUI's free-memory figure for the model's device plus the bytes its patchers have loaded there."""
    import comfy.model_management as mm

    device = mm.get_torch_device()
    if getattr(device, "type", "cpu") != "cuda":
        return None
    loaded = 0
    for patcher in getattr(model, "patchers", []):
        try:
            loaded += int(patcher.loaded_size())
        except (AttributeError, TypeError):
            pass
    return int(mm.get_free_memory(device)) + loaded


def sampling_options_from(task, seed: int, steps: int, pass1_steps: int, guidance_min: float,
                          guidance_max: float, window: int, overlap: int, noise_aug: float, i2i_strength: float,
                          decode_chunk: int, preset: str | None = "default", model=None, height: int = 512,
                          width: int = 512):
    """The widgets of ``sampling_inputs()`` + the task and preset -> the engine's ``SamplingOptions``.
    ``model``, ``height``, ``width``: what the ``auto`` preset is sized for."""
    from svfr_model.diffusion.options import SamplingOptions

    return SamplingOptions(tasks=[int(round(float(b))) for b in task], seed=seed, steps=steps,
                           pass1_steps=pass1_steps, guidance_min=guidance_min, guidance_max=guidance_max,
                           window=window, overlap=overlap, noise_aug=noise_aug, i2i_strength=i2i_strength,
                           **memory_options(preset, decode_chunk, model, height, width, window))


def estimate_for(models, memory, height: int, width: int, window: int):
    """Activation memory to ask ComfyUI for (svfr_model.diffusion.memory, calibrated on an H200).
    ``memory``: a ``SamplingOptions`` or the dict of ``memory_options``."""
    from svfr_model.diffusion.memory import estimate_memory

    get = memory.get if isinstance(memory, dict) else lambda name: getattr(memory, name)
    return estimate_memory(height=height, width=width, window=window,
                           cfg_batch=1 if get("cfg_sequential") else 2, decode_chunk=get("decode_chunk"),
                           encode_chunk=get("encode_chunk"), unet_dtype=models.dtype, vae_dtype=models.vae_dtype)


def check_window(node_class, window, overlap) -> bool | str:
    """validate_inputs body for window/overlap, in the node's widget words. ComfyUI skips its own min/max
    checks for inputs a validate_inputs receives, so they are re-checked here from the schema. Linked values
    arrive as None. ComfyUI shows the text once per input validate_inputs takes, as "window - <text>" and
    "overlap - <text>": the text names both widgets itself (quoted), so either line reads whole."""
    from svfr_model.diffusion.options import check_int, check_overlap
    from svfr_model.errors import OptionError

    from .wording import words_for

    if window is None or overlap is None:
        return True
    ranges = {i.id: (i.min, i.max) for i in node_class.define_schema().inputs if i.id in ("window", "overlap")}
    try:
        for name, value in (("window", window), ("overlap", overlap)):
            check_int(name, value, *ranges[name])
        check_overlap(int(window), int(overlap))
    except OptionError as exc:
        return exc.worded(words_for(node_class))
    return True


def preset_input() -> io.Combo.Input:
    from svfr_model.diffusion.presets import PRESET_NAMES

    return io.Combo.Input("preset", options=list(PRESET_NAMES), default="default", optional=True,
                          tooltip="Memory preset. default (10 GB cards): decode chunk at most 8. low_vram (6 GB): "
                                  "CFG halves one after the other, decode chunk at most 6, UNet off the GPU "
                                  "while the VAE runs (slower). high_vram (24 GB): the official computation "
                                  "(decode chunk 16). auto: the fastest that fits the free GPU memory. The "
                                  "decode chunk is part of the result: outputs differ slightly.")


def sampling_inputs() -> list:
    """Seed, steps and the tuning widgets (advanced), in this order: the same on both restoring nodes."""
    return [
        io.Int.Input("seed", default=77, min=0, max=0xFFFFFFFFFFFFFFFF,
                     control_after_generate=seed_control(),
                     tooltip="Noise seed (the official default is 77)."),
        io.Int.Input("steps", default=30, min=1, max=200,
                     tooltip="Denoising steps of pass 2 (all frames). Official: 30."),
        io.Int.Input("pass1_steps", default=50, min=1, max=200,
                     tooltip="Denoising steps of pass 1 (first window, gives the reference). Official: 50. "
                             "Unused when a reference is given."),
        advanced(io.Float.Input("guidance_min", default=2.0, min=0.0, max=20.0, step=0.1,
                                tooltip="Classifier-free guidance at the first denoising step (linear ramp over the steps). Official: 2.0.")),
        advanced(io.Float.Input("guidance_max", default=2.0, min=0.0, max=20.0, step=0.1,
                                tooltip="Guidance at the last denoising step (linear ramp over the steps). Official: 2.0.")),
        advanced(io.Int.Input("window", default=16, min=2, max=64,
                              tooltip="Frames per UNet window. The model was trained on 16.")),
        advanced(io.Int.Input("overlap", default=3, min=0, max=63,
                              tooltip="Frames shared by neighbouring windows in the first 3 steps (blended); windows also shift by this much every step. Official: 3.")),
        advanced(io.Float.Input("noise_aug", default=0.0, min=0.0, max=1.0, step=0.01,
                                tooltip="Noise added to the input frames' conditioning. Official: 0.")),
        advanced(io.Float.Input("i2i_strength", default=1.0, min=0.0, max=1.0, step=0.01,
                                tooltip="1.0 = start from pure noise (official). Lower keeps more of the input.")),
        advanced(io.Int.Input("decode_chunk", default=16, min=1, max=64,
                              tooltip="Frames decoded by the VAE at once: lower uses less memory.")),
    ]
