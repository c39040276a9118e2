"""VRAM memory model: the real restore path run on fake CUDA tensors, on a machine without a GPU (issue 15).

How it works (values are meaningless, shapes and lifetimes exact):

* ``FakeTensorMode`` fakes every ``device="cuda"`` tensor (no driver needed); CPU work stays real: an op whose
  tensors are all real CPU tensors runs for real, and a fake CUDA tensor copied to the CPU (``.cpu()``,
  ``.to("cpu")``) becomes a real zero tensor of its shape, so ``.numpy()`` and the checks on the host work.
  Weights moved off the device (offload) stay fake on the CPU (no host memory for them).
* ``MemoryTracker`` (a ``TorchDispatchMode`` above the fake mode) adds each new CUDA storage's bytes, rounded
  up to 512 as the caching allocator does, when it appears, and subtracts them through ``weakref.finalize``
  when it dies; it reads the peak after every op and remembers the op (and the stage) that set it.
* ``FusedAttention`` (a ``TorchFunctionMode``) routes ``F.scaled_dot_product_attention`` to what the fused CUDA
  kernels allocate: the output (in the query's layout) and, for the flash kernel (fp16/bf16, head dim <= 256),
  the float32 logsumexp; never the attention matrix the math path would materialise.
* cuDNN's convolution workspace is invisible to fake tensors: a pluggable term adds it to the peak while the
  convolution runs. ``ConservativeWorkspace`` (input + output bytes of the conv, the default) bounded every
  H200 case; ``CalibratedWorkspace`` reads a per-shape table measured on a card (JSON with the card, torch and
  cuDNN versions); ``NoWorkspace`` shows what the tensors alone need.
* Modules are built on ``meta`` and every parameter re-created as a fake CUDA ``torch.empty`` (``Module.to()``
  refuses to swap fake tensors into real parameters).

What the model does not see: the CUDA context (~0.3-0.5 GiB, outside the allocator's counters), allocator
fragmentation (reserved minus allocated), and kernel-internal scratch other than the conv workspace. Card
ceilings therefore add ``CONTEXT_BYTES`` and ``FRAGMENTATION`` (:func:`card_need`).

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` in a separate pass (:func:`count_flops`): nested in
the memory tracker it would split ops and change the peak. Attention is counted as its two matmuls.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
import weakref
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes
from torch.utils._pytree import tree_map
from torch._subclasses.fake_tensor import FakeTensor as _FakeTensor

GIB = 2**30
BLOCK = 512                     # the caching allocator rounds every block up to 512 bytes
CONTEXT_BYTES = GIB // 2        # CUDA context + cuBLAS/cuDNN handles, outside the allocator's counters
FRAGMENTATION = 1.05            # reserved / allocated the card must hold on top of the peak
LATENT_FACTOR = 8               # the VAE downsamples by 8

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_DTYPE_NAMES = {v: k for k, v in _DTYPES.items()}


def as_dtype(value: str | torch.dtype) -> torch.dtype:
    if isinstance(value, torch.dtype):
        return value
    try:
        return _DTYPES[str(value).lower()]
    except KeyError:
        raise ValueError(f"precision must be one of {', '.join(_DTYPES)}, got {value!r}") from None


def dtype_name(value: str | torch.dtype) -> str:
    return _DTYPE_NAMES[as_dtype(value)]


def block_bytes(nbytes: int) -> int:
    """What the caching allocator reserves for a request of ``nbytes`` (0 stays 0)."""
    return 0 if nbytes <= 0 else -(-int(nbytes) // BLOCK) * BLOCK


def card_need(peak_bytes: int) -> int:
    """Device memory a card needs for a predicted peak: (peak + context) x fragmentation."""
    return int((peak_bytes + CONTEXT_BYTES) * FRAGMENTATION)


# ---------------------------------------------------------------- the convolution workspace term

@dataclass(frozen=True)
class ConvShape:
    """One convolution as cuDNN sees it (the key of a calibrated workspace table)."""

    input: tuple[int, ...]
    weight: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    transposed: bool
    groups: int
    dtype: str
    input_bytes: int
    output_bytes: int

    @property
    def key(self) -> str:
        def dims(t):
            return "x".join(str(int(v)) for v in t)
        return (f"{self.dtype}|in {dims(self.input)}|w {dims(self.weight)}|s {dims(self.stride)}|"
                f"p {dims(self.padding)}|d {dims(self.dilation)}|g {self.groups}|t {int(self.transposed)}")


class ConvWorkspace:
    """Bytes of cuDNN workspace one convolution holds while it runs (added to the peak at that op)."""

    name = "none"

    def __call__(self, conv: ConvShape) -> int:
        return 0


class NoWorkspace(ConvWorkspace):
    """What the tensors alone need (a lower bound: it under-predicted the H200's encode by 16.7 %)."""


class ConservativeWorkspace(ConvWorkspace):
    """Input + output bytes per convolution: over-predicted every H200 case by at most 19 %, never under."""

    name = "conservative"

    def __call__(self, conv: ConvShape) -> int:
        return block_bytes(conv.input_bytes) + block_bytes(conv.output_bytes)


class CalibratedWorkspace(ConvWorkspace):
    """Workspace measured per convolution shape on one card (``bench/conv_workspace.py`` records it).

    JSON: ``{"card": ..., "torch": ..., "cudnn": ..., "workspace": {ConvShape.key: bytes}}``. Shapes missing
    from the table fall back to ``fallback`` (conservative) and are listed in ``missing``.
    """

    def __init__(self, table: Mapping[str, int], *, card: str = "", torch_version: str = "",
                 cudnn_version: str = "", fallback: Optional[ConvWorkspace] = None):
        self.table = {str(k): int(v) for k, v in table.items()}
        self.card, self.torch_version, self.cudnn_version = card, torch_version, cudnn_version
        self.fallback = fallback if fallback is not None else ConservativeWorkspace()
        self.missing: set[str] = set()
        self.name = f"calibrated ({card or 'unknown card'})"

    def __call__(self, conv: ConvShape) -> int:
        got = self.table.get(conv.key)
        if got is None:
            self.missing.add(conv.key)
            return self.fallback(conv)
        return block_bytes(got)

    @classmethod
    def from_json(cls, path: str | Path) -> "CalibratedWorkspace":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data.get("workspace"), dict):
            raise ValueError(f"{path}: a calibrated workspace table needs a 'workspace' object (shape -> bytes)")
        return cls(data["workspace"], card=data.get("card", ""), torch_version=data.get("torch", ""),
                   cudnn_version=str(data.get("cudnn", "")))

    def to_json(self, path: str | Path) -> Path:
        data = {"card": self.card, "torch": self.torch_version, "cudnn": self.cudnn_version,
                "workspace": dict(sorted(self.table.items()))}
        return write_text_atomic(Path(path), json.dumps(data, indent=1) + "\n")


def workspace_from(spec: str | ConvWorkspace | None) -> ConvWorkspace:
    """``conservative`` (default), ``none``, or the path of a calibrated table."""
    if isinstance(spec, ConvWorkspace):
        return spec
    if spec is None or spec == "conservative":
        return ConservativeWorkspace()
    if spec == "none":
        return NoWorkspace()
    return CalibratedWorkspace.from_json(spec)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write to a temporary name in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# ---------------------------------------------------------------- the tracker

def _is_fake(t: Any) -> bool:
    return isinstance(t, _FakeTensor)


def _tensors(x: Any) -> Iterator[torch.Tensor]:
    """The tensors in an op's arguments or results (lists, tuples and dicts of them; cheaper than pytree)."""
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for item in x:
            if isinstance(item, (torch.Tensor, list, tuple, dict)):
                yield from _tensors(item)
    elif isinstance(x, dict):
        for item in x.values():
            yield from _tensors(item)


def _is_cuda(device: Any) -> bool:
    if device is None:
        return False
    try:
        return torch.device(device).type == "cuda"
    except (RuntimeError, TypeError):
        return False


_CONV_OPS = {torch.ops.aten.convolution.default}


def _conv_shape(args, out) -> ConvShape:
    x, w = args[0], args[1]
    stride, padding, dilation, transposed, _, groups = args[3:9]
    return ConvShape(input=tuple(x.shape), weight=tuple(w.shape), stride=tuple(stride), padding=tuple(padding),
                     dilation=tuple(dilation), transposed=bool(transposed), groups=int(groups),
                     dtype=dtype_name(x.dtype), input_bytes=x.numel() * x.element_size(),
                     output_bytes=out.numel() * out.element_size())


@dataclass
class Peak:
    """The peak allocated in one stage (or window): bytes at its start, the peak, the op that set it."""

    name: str
    before: int = 0
    peak: int = 0
    op: str = ""
    ops: int = 0

    @property
    def act(self) -> int:
        return self.peak - self.before


class MemoryTracker(TorchDispatchMode):
    """Counts fake CUDA storages (see the module docstring). Use inside ``fake_cuda()``."""

    def __init__(self, workspace: ConvWorkspace | None = None):
        super().__init__()
        self.workspace = workspace if workspace is not None else ConservativeWorkspace()
        self.current = 0
        self.total = Peak("total")
        self.stage = "setup"
        self.stages: dict[str, Peak] = {"setup": Peak("setup")}
        self.windows: list[Peak] = []
        self.convs: dict[str, ConvShape] = {}
        self.stage_listeners: list[Callable[[str, str], None]] = []
        self._live: dict[int, int] = {}
        self.fake_mode = None  # set by fake_cuda()

    # -- storages
    def _free(self, key: int) -> None:
        self.current -= self._live.pop(key, 0)

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = id(storage)
        nbytes = block_bytes(storage.nbytes())
        old = self._live.get(key)
        if old is None:
            self._live[key] = nbytes
            self.current += nbytes
            weakref.finalize(storage, self._free, key)
        elif old != nbytes:  # resized in place
            self._live[key] = nbytes
            self.current += nbytes - old

    # -- stages and windows
    def set_stage(self, name: str) -> None:
        if name == self.stage:
            return
        old, self.stage = self.stage, name
        if name not in self.stages:
            self.stages[name] = Peak(name, before=self.current, peak=self.current)
        for listener in self.stage_listeners:
            listener(old, name)

    @contextlib.contextmanager
    def window(self, name: str = "window") -> Iterator[Peak]:
        """Peak of what runs inside (``act`` = peak minus what was allocated at entry)."""
        w = Peak(name, before=self.current, peak=self.current)
        self.windows.append(w)
        try:
            yield w
        finally:
            self.windows.remove(w)

    def _observe(self, op: str, extra: int = 0) -> None:
        now = self.current + extra
        stage = self.stages[self.stage]
        stage.ops += 1
        for p in (self.total, stage, *self.windows):
            if now > p.peak:
                p.peak, p.op = now, op

    @property
    def peak_stage(self) -> str:
        best = max(self.stages.values(), key=lambda p: p.peak)
        return best.name

    # -- dispatch
    def _to_fake(self, a):
        if isinstance(a, torch.Tensor) and not _is_fake(a):
            return self.fake_mode.from_tensor(a)
        return a

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        fake = any(_is_fake(t) for t in _tensors(args)) or any(_is_fake(t) for t in _tensors(kwargs))
        if not fake and not _is_cuda(kwargs.get("device")):
            with _disable_current_modes():  # real CPU work stays real
                return func(*args, **kwargs)
        if func is torch.ops.aten._to_copy.default and _is_fake(args[0]) and not _is_cuda(
                kwargs.get("device", args[0].device)) and not getattr(args[0], "_is_param", False):
            src = args[0]  # a result copied to the host: a real tensor of that shape
            with _disable_current_modes():
                return torch.zeros(src.shape, dtype=kwargs.get("dtype") or src.dtype)
        if func is torch.ops.aten.copy_.default and not _is_fake(args[0]):
            return args[0]  # host destination, fake source: nothing to copy
        if not fake and self.fake_mode is not None:  # real inputs to a CUDA op: fake them first
            args, kwargs = tree_map(self._to_fake, (args, kwargs))
        out = func(*args, **kwargs)
        for t in _tensors(out):
            if _is_fake(t) and t.device.type == "cuda":
                self._track(t)
        extra = 0
        if func in _CONV_OPS and _is_fake(out) and out.device.type == "cuda":
            conv = _conv_shape(args, out)
            self.convs.setdefault(conv.key, conv)
            extra = self.workspace(conv)
        self._observe(func.__name__ if extra == 0 else f"{func.__name__} (+{extra / GIB:.3f} GiB workspace)",
                      extra)
        return out


class FusedAttention(TorchFunctionMode):
    """``F.scaled_dot_product_attention`` as the fused CUDA kernels allocate it (see the module docstring).

    ``flops=True``: the two matmuls instead (for ``FlopCounterMode``; memory is not read in that pass).
    """

    def __init__(self, flops: bool = False):
        super().__init__()
        self.flops = flops

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            return self._attention(*args, **kwargs)
        return func(*args, **kwargs)

    def _attention(self, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        if self.flops:
            return torch.matmul(torch.matmul(q, k.transpose(-2, -1)), v)
        e, ev = q.shape[-1], v.shape[-1]
        if ev == e:
            out = torch.empty_like(q)  # keeps q's layout, as the kernels do: (B, L, H, E) memory order
        else:
            out = torch.empty((*q.shape[:-1], ev), dtype=q.dtype, device=q.device)
        if q.dtype in (torch.float16, torch.bfloat16) and e <= 256 and attn_mask is None:
            lse = torch.empty(q.shape[:-1], dtype=torch.float32, device=q.device)  # flash: logsumexp, counted
            del lse  # the kernel frees it on return: only its bytes at the peak matter
        return out


@contextlib.contextmanager
def _patched(obj, name: str, value) -> Iterator[None]:
    had = name in vars(obj)
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        if had:
            setattr(obj, name, old)
        else:
            delattr(obj, name)


def move_fake_module(module: torch.nn.Module, device: torch.device) -> None:
    """``Module.to(device)`` for fake weights (``Module.to`` swaps fake parameters with ``swap_tensors``,
    which refuses tensors that have weak references, as every fake tensor does): each parameter and buffer
    is replaced by its copy on ``device`` (weights moved to the CPU stay fake there)."""
    for mod in module.modules():
        for name, p in list(mod._parameters.items()):
            if p is not None and p.device != torch.device(device):
                mod._parameters[name] = torch.nn.Parameter(p.to(device), requires_grad=False)
        for name, b in list(mod._buffers.items()):
            if b is not None and b.device != torch.device(device):
                mod._buffers[name] = b.to(device)


@contextlib.contextmanager
def fake_cuda(workspace: ConvWorkspace | str | None = None, *, flops: bool = False) -> Iterator[MemoryTracker]:
    """Fake CUDA for the block: ``torch.empty(..., device="cuda")`` works without a GPU and is counted.

    Patches what the engine asks of the CUDA runtime (``empty_cache`` / ``synchronize`` -> nothing) and its
    weight mover (``offload.move_module`` -> :func:`move_fake_module`), and restores everything on exit. ``torch.cuda.is_available()`` stays False: the fake mode reads it to avoid
    initialising a device (True makes indexing a fake CUDA tensor call the driver); the engine reads it only
    to pick ``auto`` devices (the model passes ``cuda``) and after an out-of-memory error (never raised here).
    ``flops``: attention as matmuls (for ``FlopCounterMode``).
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    tracker = MemoryTracker(workspace_from(workspace))
    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(torch.cuda, "empty_cache", lambda: None))
        stack.enter_context(_patched(torch.cuda, "synchronize", lambda device=None: None))
        from . import offload  # the engine's one place that moves weights (offload)

        stack.enter_context(_patched(offload, "move_module", move_fake_module))
        stack.enter_context(torch.no_grad())
        tracker.fake_mode = stack.enter_context(FakeTensorMode(allow_non_fake_inputs=True))
        stack.enter_context(tracker)
        stack.enter_context(FusedAttention(flops=flops))
        yield tracker


# ---------------------------------------------------------------- fake models

def _imports():
    """The engine's builders, imported when a fake model is made (torch and diffusers load only then)."""
    from ..networks.unet import build_unet, default_unet_config
    from ..networks.vae import build_vae, default_vae_config
    from ..weights.models import SVFRModels
    from ..networks.configs import default_scheduler_config
    return build_unet, default_unet_config, build_vae, default_vae_config, SVFRModels, default_scheduler_config


def materialize(module: torch.nn.Module, dtype_for: Callable[[str], torch.dtype],
                device: str = "cuda") -> torch.nn.Module:
    """Re-create every parameter (and floating buffer) of a ``meta`` module as ``torch.empty`` on ``device``
    (fake CUDA inside ``fake_cuda``); ``dtype_for(qualified name)`` gives each one's precision."""
    for mod_name, mod in module.named_modules():
        prefix = f"{mod_name}." if mod_name else ""
        for name, p in list(mod._parameters.items()):
            if p is not None:
                t = torch.empty(p.shape, dtype=dtype_for(prefix + name), device=device)
                mod._parameters[name] = torch.nn.Parameter(t, requires_grad=False)
        for name, b in list(mod._buffers.items()):
            if b is not None:
                dt = dtype_for(prefix + name) if b.is_floating_point() else b.dtype
                mod._buffers[name] = torch.empty(b.shape, dtype=dt, device=device)
    return module


def fake_unet(dtype: str | torch.dtype = "fp16", config: Optional[Mapping[str, Any]] = None):
    build_unet, default_unet_config, *_ = _imports()
    unet = build_unet(config if config is not None else default_unet_config(), device="meta")
    dt = as_dtype(dtype)
    return materialize(unet, lambda _: dt)


def fake_vae(decoder_dtype: str | torch.dtype = "fp16", config: Optional[Mapping[str, Any]] = None,
             encoder_dtype: str | torch.dtype = "fp32"):
    """The SVD-xt VAE as the engine runs it: encoder (and quant_conv) float32, decoder in ``decoder_dtype``
    (``encoder_dtype`` other than fp32 only for the H200's fp16-encoder case: the engine never does that)."""
    _, _, build_vae, default_vae_config, *_ = _imports()
    vae = build_vae(config if config is not None else default_vae_config(), device="meta")
    dt, enc = as_dtype(decoder_dtype), as_dtype(encoder_dtype)
    return materialize(vae, lambda name: dt if name.startswith("decoder.") else enc)


def fake_models(*, unet_dtype: str | torch.dtype = "fp16", vae_dtype: str | torch.dtype = "fp16",
                arcface: bool = False, unet_config=None, vae_config=None):
    """An ``SVFRModels`` on fake CUDA at real size. ``arcface``: ArcFace (IResNet-100, float32) resident too,
    as the ComfyUI loader keeps it (the memory model passes identity tokens, so it never runs)."""
    *_, SVFRModels, default_scheduler_config = _imports()
    from ..networks.id_projector import IDProjector
    from ..networks.arcface import iresnet100
    with torch.device("meta"):
        idp = IDProjector()
        arc = iresnet100() if arcface else None
    idp = materialize(idp, lambda _: torch.float32).eval()
    if arc is not None:
        arc = materialize(arc, lambda _: torch.float32).eval()
    return SVFRModels(unet=fake_unet(unet_dtype, unet_config), vae=fake_vae(vae_dtype, vae_config),
                      scheduler_config=default_scheduler_config(), id_projector=idp, arcface=arc,
                      dtype=as_dtype(unet_dtype), device=torch.device("cuda"), vae_dtype=as_dtype(vae_dtype))


# ---------------------------------------------------------------- the restore case

@dataclass(frozen=True)
class RestoreCase:
    """What a prediction runs: the clip (frames of ``height`` x ``width`` crops), the sampling that shapes
    memory, the precisions and the preset's memory options. Steps only repeat the same calls (1 + 1 is
    enough for the peak); ``reference`` skips pass 1 (a reference image was given)."""

    frames: int = 16
    height: int = 512
    width: int = 512
    window: int = 16
    overlap: int = 3
    steps: int = 1
    pass1_steps: int = 1
    unet_dtype: str = "fp16"
    vae_dtype: str = "fp16"
    cfg_sequential: bool = False
    decode_chunk: int = 16
    encode_chunk: int = 20
    offload: bool = False
    arcface: bool = False
    reference: bool = False

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "RestoreCase":
        from .presets import preset_options
        opts = {k: v for k, v in preset_options(name).items() if k in {f.name for f in _fields(cls)}}
        opts.update(overrides)
        return cls(**opts)

    def describe(self) -> str:
        cfg = "CFG sequential" if self.cfg_sequential else "CFG batch 2"
        return (f"{self.frames} frames {self.width}x{self.height}, window {self.window}/{self.overlap}, UNet "
                f"{self.unet_dtype}, VAE decoder {self.vae_dtype}, {cfg}, decode {self.decode_chunk}, encode "
                f"{self.encode_chunk}{', offload' if self.offload else ''}{', ArcFace resident' if self.arcface else ''}"
                f"{', reference given' if self.reference else ''}")


def _fields(cls):
    import dataclasses

    return dataclasses.fields(cls)


@dataclass
class Prediction:
    """A restore's predicted device memory (bytes): per stage the peak and the op that set it."""

    case: RestoreCase
    workspace: str
    weights: int                       # allocated before the restore (the resident weights)
    peak: int
    peak_stage: str
    peak_op: str
    stages: list[Peak] = field(default_factory=list)
    seconds: float = 0.0
    flops: dict[str, int] = field(default_factory=dict)

    @property
    def card_need(self) -> int:
        return card_need(self.peak)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["card_need"] = self.card_need
        return d


def _restore_stream():
    from .passes import restore_stream
    return restore_stream


def _stage_hooks(models, tracker_set_stage: Callable[[str], None], first_pass: int) -> list:
    """Forward pre-hooks naming the stage: ``pass K encode|UNet|decode``; a pass starts at its encode."""
    state = {"pass": first_pass - 1, "last": None}

    def enter(kind):
        def hook(module, args):
            if kind == "encode" and state["last"] != "encode":
                state["pass"] += 1
            state["last"] = kind
            tracker_set_stage(f"pass {state['pass']} {kind}")
        return hook

    vae = models.vae
    return [models.unet.register_forward_pre_hook(enter("UNet")),
            vae.encoder.register_forward_pre_hook(enter("encode")),
            vae.decoder.register_forward_pre_hook(enter("decode"))]


def _run_restore(case: RestoreCase, models, set_stage: Callable[[str], None]) -> None:
    """``restore_stream`` over zero pixels for ``case``, naming each stage through ``set_stage``."""
    hooks = _stage_hooks(models, set_stage, 2 if case.reference else 1)
    try:
        _restore_zeros(case, models)
    finally:
        for hk in hooks:
            hk.remove()


def _restore_zeros(case: RestoreCase, models) -> None:
    h, w = case.height, case.width
    chunk = max(case.window, case.encode_chunk, 1)
    pixels = torch.zeros((chunk, h, w, 3), dtype=torch.uint8)
    tokens = torch.zeros((49, 1024), dtype=torch.float32)
    reference = torch.zeros((h, w, 3), dtype=torch.float32) if case.reference else None
    _restore_stream()(models, lambda a, b: pixels[: b - a], case.frames, sink=lambda start, frames: None,
                      id_tokens=tokens, reference=reference, steps=case.steps, pass1_steps=case.pass1_steps,
                      window=case.window, overlap=case.overlap, decode_chunk=case.decode_chunk,
                      encode_chunk=case.encode_chunk, cfg_sequential=case.cfg_sequential, offload=case.offload)


def predict_restore(case: RestoreCase | None = None, workspace: ConvWorkspace | str | None = None,
                    **case_fields) -> Prediction:
    """Run ``restore_stream`` (the engine's real path) for ``case`` on fake CUDA and return its peaks."""
    case = replace(case or RestoreCase(), **case_fields)
    t0 = time.perf_counter()
    with fake_cuda(workspace) as tracker:
        models = fake_models(unet_dtype=case.unet_dtype, vae_dtype=case.vae_dtype, arcface=case.arcface)
        weights = tracker.current
        _run_restore(case, models, tracker.set_stage)
        del models
    stages = [p for p in tracker.stages.values() if p.name != "setup"]
    return Prediction(case=case, workspace=tracker.workspace.name, weights=weights, peak=tracker.total.peak,
                      peak_stage=tracker.peak_stage, peak_op=tracker.total.op, stages=stages,
                      seconds=time.perf_counter() - t0)


def conv_shapes(case: RestoreCase | None = None, **case_fields) -> dict[str, ConvShape]:
    """Every convolution shape a restore of ``case`` runs, by ``ConvShape.key`` (the keys of a calibrated
    workspace table): the same fake run as :func:`predict_restore`, without a workspace term. The shapes
    depend on the crop size, the precisions, CFG batching and the chunk sizes (a clip whose length is not a
    multiple of a chunk adds its last, shorter chunk), not on the steps."""
    case = replace(case or RestoreCase(), **case_fields)
    with fake_cuda(NoWorkspace()) as tracker:
        models = fake_models(unet_dtype=case.unet_dtype, vae_dtype=case.vae_dtype, arcface=case.arcface)
        _restore_zeros(case, models)
        del models
    return dict(tracker.convs)


# ---------------------------------------------------------------- single calls (the H200 module cases)

@dataclass
class CallPeak:
    what: str
    before: int       # allocated before the call (weights and inputs)
    peak: int
    op: str
    seconds: float = 0.0

    @property
    def act(self) -> int:
        return self.peak - self.before


def predict_unet_call(*, batch: int = 2, frames: int = 16, height: int = 512, width: int = 512,
                      dtype: str | torch.dtype = "fp16", workspace: ConvWorkspace | str | None = None) -> CallPeak:
    """One UNet call on (batch, frames, 12, h, w) as ``denoiser.WindowDenoiser`` makes it (batch 2 = CFG in one call)."""
    t0 = time.perf_counter()
    with fake_cuda(workspace) as tracker:
        unet = fake_unet(dtype)
        sample, t, ctx, ids = _unet_inputs(unet, batch, frames, height, width, as_dtype(dtype))
        with tracker.window("UNet") as w:
            unet(sample, t, encoder_hidden_states=ctx, added_time_ids=ids, return_dict=False)
    return CallPeak(f"UNet {dtype_name(dtype)} batch {batch}, {frames} frames", w.before, w.peak, w.op,
                    time.perf_counter() - t0)


def _unet_inputs(unet, batch, frames, height, width, dtype):
    h, w = height // LATENT_FACTOR, width // LATENT_FACTOR
    sample = torch.empty((batch, frames, unet.config.in_channels, h, w), device="cuda", dtype=dtype)
    t = torch.empty((), device="cuda", dtype=torch.float32)
    ctx = torch.empty((batch, 49, unet.config.cross_attention_dim), device="cuda", dtype=dtype)
    ids = torch.empty((batch, 3), device="cuda", dtype=dtype)
    return sample, t, ctx, ids


def _latents():
    from . import latents
    return latents


def predict_decode(*, frames: int = 16, chunk: Optional[int] = None, height: int = 512, width: int = 512,
                   dtype: str | torch.dtype = "fp16", workspace: ConvWorkspace | str | None = None) -> CallPeak:
    """``latents.decode`` of ``frames`` latents in temporal chunks of ``chunk`` (default: all at once)."""
    t0 = time.perf_counter()
    chunk = chunk or frames
    with fake_cuda(workspace) as tracker:
        vae = fake_vae(dtype)
        latents = torch.zeros((frames, 4, height // LATENT_FACTOR, width // LATENT_FACTOR))
        with tracker.window("decode") as w:
            _latents().decode(vae, latents, chunk, lambda start, x: None)
    return CallPeak(f"decode {dtype_name(dtype)} {frames} frames, chunk {chunk}", w.before, w.peak, w.op,
                    time.perf_counter() - t0)


def predict_encode(*, frames: int = 20, chunk: Optional[int] = None, height: int = 512, width: int = 512,
                   dtype: str | torch.dtype = "fp32", workspace: ConvWorkspace | str | None = None,
                   input_on_device: bool = True) -> CallPeak:
    """The VAE encoder on ``frames`` frames in chunks of ``chunk``. ``input_on_device`` (as the H200 measured
    it): ``vae.encode(...).latent_dist.mean`` on pixels already on the device, counted in ``before``, not in
    ``act``; otherwise ``latents.encode_lq`` as the restore runs it (host pixels uploaded chunk by chunk,
    float32 only). ``dtype``: the encoder's precision (the engine always encodes in float32)."""
    t0 = time.perf_counter()
    chunk = chunk or frames
    dt = as_dtype(dtype)
    with fake_cuda(workspace) as tracker:
        vae = fake_vae("fp16", encoder_dtype=dt)
        if input_on_device:
            pixels = torch.empty((frames, 3, height, width), device="cuda", dtype=dt)
            with tracker.window("encode") as w:
                for start in range(0, frames, chunk):
                    vae.encode(pixels[start:start + chunk]).latent_dist.mean.float().cpu()
        else:
            if dt != torch.float32:
                raise ValueError("the restore path encodes in float32 only")
            host = torch.zeros((chunk, 3, height, width))
            with tracker.window("encode") as w:
                _latents().encode_lq(vae, lambda a, b: host[: b - a], frames, 0.0,
                                     torch.Generator().manual_seed(0), chunk=chunk)
    return CallPeak(f"encode {dtype_name(dt)} {frames} frames, chunk {chunk}", w.before, w.peak, w.op,
                    time.perf_counter() - t0)


# ---------------------------------------------------------------- FLOPs (a separate pass)

@contextlib.contextmanager
def _flop_counter() -> Iterator[Any]:
    from torch.utils.flop_counter import FlopCounterMode

    with fake_cuda(NoWorkspace(), flops=True) as tracker:
        counter = FlopCounterMode(display=False)
        with counter:
            yield tracker, counter


def flops_unet_call(*, batch: int = 2, frames: int = 16, height: int = 512, width: int = 512,
                    dtype: str | torch.dtype = "fp16") -> int:
    with _flop_counter() as (_, counter):
        unet = fake_unet(dtype)
        sample, t, ctx, ids = _unet_inputs(unet, batch, frames, height, width, as_dtype(dtype))
        unet(sample, t, encoder_hidden_states=ctx, added_time_ids=ids, return_dict=False)
        return counter.get_total_flops()


def flops_decode(*, frames: int = 16, height: int = 512, width: int = 512, dtype: str | torch.dtype = "fp16") -> int:
    with _flop_counter() as (_, counter):
        vae = fake_vae(dtype)
        _latents().decode(vae, torch.zeros((frames, 4, height // LATENT_FACTOR, width // LATENT_FACTOR)), frames,
                          lambda start, x: None)
        return counter.get_total_flops()


def flops_encode(*, frames: int = 20, height: int = 512, width: int = 512) -> int:
    pixels = torch.zeros((frames, 3, height, width))
    with _flop_counter() as (_, counter):
        vae = fake_vae("fp32")
        _latents().encode_lq(vae, lambda a, b: pixels[: b - a], frames, 0.0, torch.Generator().manual_seed(0),
                             chunk=frames)
        return counter.get_total_flops()


def count_flops(case: RestoreCase | None = None, **case_fields) -> dict[str, int]:
    """FLOPs of a restore per stage (``pass K encode|UNet|decode``) and ``total``, counted by
    ``FlopCounterMode`` over the same run as :func:`predict_restore` (memory is not read in this pass)."""
    case = replace(case or RestoreCase(), **case_fields)
    per_stage: dict[str, int] = {}
    with _flop_counter() as (tracker, counter):
        models = fake_models(unet_dtype=case.unet_dtype, vae_dtype=case.vae_dtype, arcface=False)
        mark = {"at": counter.get_total_flops()}

        def listener(old: str, new: str) -> None:
            now = counter.get_total_flops()
            per_stage[old] = per_stage.get(old, 0) + now - mark["at"]
            mark["at"] = now

        tracker.stage_listeners.append(listener)
        _run_restore(case, models, tracker.set_stage)
        listener(tracker.stage, "end")
    per_stage.pop("setup", None)
    per_stage["total"] = sum(per_stage.values())
    return per_stage
