"""``python -m svfr_model memory``: predicted device memory of a restore, without a GPU (issue 15).

    python -m svfr_model memory                           # every preset at 512², 16 frames: per-stage peaks
    python -m svfr_model memory --preset low_vram --frames 480 --workspace none
    python -m svfr_model memory --preset default --vae-dtype fp32 --decode-chunk 4 --flops
    python -m svfr_model memory --modules                 # the H200 module cases (UNet / decode / encode calls)
    python -m svfr_model memory --write-table             # regenerate svfr_model/diffusion/memory_table.json

Runs the engine's real restore path on fake CUDA tensors (svfr_model/diffusion/memory_model.py): shapes and
lifetimes are exact, values meaningless; the cuDNN convolution workspace is the pluggable term
(``--workspace conservative|none|TABLE.json``). "card" = (peak + 0.5 GiB context) x 1.05.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

GIB = 2**30


def register(subparsers) -> None:
    p = subparsers.add_parser("memory", help="predict the GPU memory of a restore (no GPU needed)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="all", help="a preset name, or 'all' (default)")
    p.add_argument("--frames", type=int, default=16, help="video length (the peak does not depend on it)")
    p.add_argument("--size", type=int, default=512, help="square crop size (see --height/--width)")
    p.add_argument("--height", type=int, help="crop height (default --size)")
    p.add_argument("--width", type=int, help="crop width (default --size)")
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--overlap", type=int, default=3)
    p.add_argument("--steps", type=int, default=1, help="pass-2 steps (more only repeat the same calls)")
    p.add_argument("--pass1-steps", type=int, default=1)
    p.add_argument("--unet-dtype", default="fp16", choices=("fp16", "bf16", "fp32"))
    p.add_argument("--vae-dtype", default="fp16", choices=("fp16", "bf16", "fp32"), help="VAE decoder precision")
    p.add_argument("--decode-chunk", type=int, help="override the preset's")
    p.add_argument("--encode-chunk", type=int, help="override the preset's")
    p.add_argument("--cfg-sequential", choices=("on", "off"), help="override the preset's")
    p.add_argument("--offload", choices=("on", "off"), help="override the preset's")
    p.add_argument("--no-arcface", action="store_true", help="ArcFace not resident on the GPU")
    p.add_argument("--reference", action="store_true", help="a reference image is given: pass 1 is skipped")
    p.add_argument("--workspace", default="conservative",
                   help="conv workspace term: conservative (input + output, default), none, or a calibrated JSON")
    p.add_argument("--flops", action="store_true", help="also count FLOPs per stage (a separate pass)")
    p.add_argument("--modules", action="store_true", help="the H200 module cases instead of restores")
    p.add_argument("--json", type=Path, help="also write the results as JSON (temporary name, then renamed)")
    p.add_argument("--write-table", nargs="?", const="", metavar="PATH",
                   help="regenerate the memory table (default: svfr_model/diffusion/memory_table.json)")
    p.set_defaults(func=run)


def _cases(args) -> list[tuple[str, object]]:
    from ..diffusion.memory_model import RestoreCase
    from ..diffusion.presets import PRESETS

    names = list(PRESETS) if args.preset == "all" else [args.preset]
    out = []
    for name in names:
        over = dict(frames=args.frames, height=args.height or args.size, width=args.width or args.size,
                    window=args.window, overlap=args.overlap, steps=args.steps, pass1_steps=args.pass1_steps,
                    unet_dtype=args.unet_dtype, vae_dtype=args.vae_dtype, arcface=not args.no_arcface,
                    reference=args.reference)
        for key in ("decode_chunk", "encode_chunk"):
            if getattr(args, key) is not None:
                over[key] = getattr(args, key)
        for key in ("cfg_sequential", "offload"):
            if getattr(args, key) is not None:
                over[key] = getattr(args, key) == "on"
        out.append((name, RestoreCase.from_preset(name, **over)))
    return out


def _gib(n: int) -> str:
    return f"{n / GIB:8.3f}"


def run(args: argparse.Namespace) -> int:
    from ..diffusion import memory_model as mm
    from ..errors import InputError

    if args.write_table is not None:
        from ..diffusion import memory_table_build as mt

        path = mt.write_table(mt.generate(say=print), Path(args.write_table) if args.write_table else mt.TABLE_PATH)
        print(f"wrote {path}")
        return 0
    try:
        workspace = mm.workspace_from(args.workspace)
    except (OSError, ValueError) as exc:
        raise InputError(f"--workspace {args.workspace}: {exc}") from None
    results = []
    if args.modules:
        rows = module_cases(workspace)
        print(f"{'case':44} {'before GiB':>10} {'act GiB':>8}  op")
        for r in rows:
            print(f"{r.what:44} {_gib(r.before):>10} {_gib(r.act)}  {r.op}")
        results = [dict(what=r.what, before=r.before, act=r.act, peak=r.peak, op=r.op) for r in rows]
    else:
        for name, case in _cases(args):
            pred = mm.predict_restore(case, workspace)
            print(f"\n{name}: {case.describe()}; workspace {pred.workspace}")
            print(f"  {'stage':16} {'before GiB':>10} {'peak GiB':>9} {'act GiB':>8}  op at the peak")
            for s in pred.stages:
                print(f"  {s.name:16} {_gib(s.before):>10} {_gib(s.peak):>9} {_gib(s.act)}  {s.op}")
            print(f"  peak {pred.peak / GIB:.3f} GiB in {pred.peak_stage} ({pred.peak_op}); weights "
                  f"{pred.weights / GIB:.3f} GiB; card needs {pred.card_need / GIB:.2f} GiB "
                  f"(+0.5 GiB context, x1.05); {pred.seconds:.1f} s")
            if args.flops:
                pred.flops = mm.count_flops(case)
                print("  TFLOP: " + ", ".join(f"{k} {v / 1e12:.1f}" for k, v in pred.flops.items()))
            results.append(dict(preset=name, **pred.as_dict()))
    if args.json is not None:
        mm.write_text_atomic(args.json, json.dumps(results, indent=1, default=str) + "\n")
    return 0


def module_cases(workspace) -> list:
    """The module cases of issue 15's H200 table, in its order."""
    from ..diffusion import memory_model as mm

    return [mm.predict_decode(frames=16, dtype="fp32", workspace=workspace),
            mm.predict_decode(frames=16, dtype="fp16", workspace=workspace),
            mm.predict_decode(frames=16, chunk=8, dtype="fp16", workspace=workspace),
            mm.predict_decode(frames=16, chunk=8, dtype="fp32", workspace=workspace),
            mm.predict_encode(frames=20, workspace=workspace),
            mm.predict_encode(frames=20, dtype="fp16", workspace=workspace),
            mm.predict_unet_call(batch=1, workspace=workspace),
            mm.predict_unet_call(batch=2, workspace=workspace)]
