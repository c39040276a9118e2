"""Run by a ComfyUI host's own interpreter (cwd = that ComfyUI, --cpu): how ComfyUI's model management sees
the pack's models. What a CPU can check of docs/performance.md "Dynamic VRAM":

* main.py's dynamic-VRAM switch is simulated (``comfy.model_patcher.CoreModelPatcher = ModelPatcherDynamic``,
  as main.py does once comfy-aimdo is up, where the host has it): the pack's patchers stay plain
  ``ModelPatcher``s (``is_dynamic()`` False), so ComfyUI evicts dynamic models for them (``free_for_dynamic``
  False) and loads them whole;
* all of them go to ComfyUI in ONE ``load_models_gpu`` call, with the node's memory estimate as
  ``memory_required`` / ``minimum_memory_required`` and ``force_full_load``;
* loaded once: a second call adds no entry and counts nothing again (``model_memory_required`` 0 each);
* evicted (``unload_all_models``) and reloaded correctly: the sampler runs again after it, same result;
* dropped: once the node outputs holding them are gone, no entry is left (no "memory leak" warning).

    <host python> tests/e2e/memory_probe.py REPO_ROOT MODELS_YAML  -> one JSON object on stdout
"""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
from pathlib import Path


def main() -> None:
    repo, models_yaml = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    sys.path.insert(0, os.getcwd())
    sys.argv = ["main.py", "--cpu"]
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.cli_args  # noqa: F401
    import comfy.model_management as mm
    import comfy.model_patcher as mp
    import comfyui_version
    import torch
    from utils.extra_config import load_extra_path_config

    report: dict = {"comfyui": comfyui_version.__version__, "checks": {}}
    checks = report["checks"]
    records: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logging.getLogger().addHandler(Grab())
    dynamic_cls = getattr(mp, "ModelPatcherDynamic", None)
    report["host_has_dynamic_vram"] = dynamic_cls is not None
    if dynamic_cls is not None:
        mp.CoreModelPatcher = dynamic_cls  # what main.py does when comfy-aimdo initialised

    load_extra_path_config(str(models_yaml))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pack_import import import_pack

    ext = import_pack(repo)
    nodes = {c.define_schema().node_id: c for c in asyncio.run(ext.get_node_list())}
    host = sys.modules["comfyui_svfr_probe.nodes.host"]
    sampler_mod = sys.modules["comfyui_svfr_probe.nodes.sampler"]

    handle = nodes["SVFRModelLoader"].execute(model_folder=".", precision="fp32").args[0]
    patchers = handle.patchers
    checks["four_plain_patchers"] = len(patchers) == 4 and all(type(p) is mp.ModelPatcher and not getattr(p, "is_dynamic", lambda: False)()
                                                               for p in patchers)

    calls = []
    real = mm.load_models_gpu

    def spy(models, memory_required=0, force_patch_weights=False, minimum_memory_required=None,
            force_full_load=False):
        calls.append({"n": len(models), "ids": sorted(id(m) for m in models), "required": memory_required,
                      "minimum": minimum_memory_required, "full": force_full_load})
        return real(models, memory_required=memory_required, force_patch_weights=force_patch_weights,
                    minimum_memory_required=minimum_memory_required, force_full_load=force_full_load)

    mm.load_models_gpu = spy
    ours = lambda: [lm for lm in mm.current_loaded_models if any(lm.model is p for p in patchers)]  # noqa: E731

    # the sampler on two 64 px frames with a reference photo, tiny models, 1 + 1 steps (a second or two on a CPU)
    torch.manual_seed(0)
    crops = torch.rand(2, 64, 64, 3)
    task = torch.tensor([1.0, 0.0, 0.0])
    from PIL import Image  # the shipped reference photo: its face gives the identity (pass 1 is skipped)
    import numpy as np

    ref = Image.open(repo / "example_inputs" / "svfr_example_reference.png").convert("RGB")
    reference = torch.from_numpy(np.asarray(ref, np.float32) / 255.0)[None]
    kw = dict(model=handle, crops=crops, task=task, reference=reference, seed=77, steps=1, pass1_steps=1, guidance_min=2.0,
              guidance_max=2.0, window=16, overlap=3, noise_aug=0.0, i2i_strength=1.0, decode_chunk=16)
    first = nodes["SVFRSampler"].execute(**kw).args[0]
    est = sampler_mod.estimate_for(handle.models, sampler_mod.memory_options("default", 16), 64, 64, 16)
    checks["one_call_all_patchers_with_estimate"] = (
        len(calls) == 1 and calls[0]["ids"] == sorted(id(p) for p in patchers)
        and calls[0]["required"] == est.required and calls[0]["minimum"] == est.minimum and calls[0]["full"])
    checks["loaded_once"] = len(ours()) == 4
    host.load_for_inference(handle, memory_required=est.required, minimum_memory_required=est.minimum)
    checks["second_load_adds_nothing"] = len(ours()) == 4
    checks["nothing_counted_twice"] = all(lm.model_memory_required(lm.device) == 0 for lm in ours())
    report["sizes_mb"] = [round(p.model_size() / 2**20, 2) for p in patchers]
    checks["sizes_are_the_weights"] = all(
        p.model_size() == sum(t.nbytes for t in p.model.inner.state_dict().values()) for p in patchers)

    mm.unload_all_models()
    checks["evicted"] = ours() == []
    again = nodes["SVFRSampler"].execute(**kw).args[0]
    checks["reloaded_and_same_result"] = len(ours()) == 4 and torch.equal(first, again)

    entries = len(mm.current_loaded_models)
    del handle, patchers, first, again, kw
    gc.collect()
    mm.cleanup_models_gc()
    mm.cleanup_models()
    checks["dropped_leaves_no_entry"] = (len(mm.current_loaded_models) == entries - 4
                                         and all(lm.model is not None for lm in mm.current_loaded_models))
    checks["no_leak_warning"] = not any("memory leak" in r for r in records)
    report["ok"] = all(checks.values())
    print("\n@@SVFR-PROBE@@" + json.dumps(report))


if __name__ == "__main__":
    main()
