"""SVFRTaskVector: three toggles -> SVFR's 3-bit task vector [BFR, colorization, inpainting]."""
from __future__ import annotations

import torch
from comfy_api.v0_0_2 import io

from .types import CATEGORY, SVFRTask
from .wording import speaks_widgets

_LABELS = {"bfr": "BFR", "colorization": "colorization", "inpainting": "inpainting"}


def task_label(bits) -> str:
    """'BFR + colorization' style name of the active combination (the web extension shows the same)."""
    from svfr_model.diffusion.tasks import task_names

    return " + ".join(_LABELS[n] for n in task_names([int(b) for b in bits])) or "none"


class SVFRTaskVector(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SVFRTaskVector",
            display_name="SVFR Task",
            category=CATEGORY,
            description=(
                "Chooses what SVFR does: blind face restoration (BFR), colorization, inpainting, or "
                "any combination (one model, selected by a 3-bit task vector). Inpainting also needs "
                "an SVFR Inpaint Mask on the sampler."
            ),
            inputs=[
                io.Boolean.Input("bfr", default=True,
                                 tooltip="Blind face restoration: remove blur, noise and compression."),
                io.Boolean.Input("colorization", default=False,
                                 tooltip="Colorize: the crops are turned to gray first, as SVFR was trained."),
                io.Boolean.Input("inpainting", default=False,
                                 tooltip="Fill the masked region (connect an SVFR Inpaint Mask to the sampler)."),
            ],
            outputs=[SVFRTask.Output("task", display_name="task", tooltip="The 3-bit task vector [BFR, colorization, inpainting].")],
        )

    @classmethod
    @speaks_widgets
    def validate_inputs(cls, bfr: bool, colorization: bool, inpainting: bool) -> bool | str:
        if None in (bfr, colorization, inpainting):  # linked toggles: checked when the node runs
            return True
        if not (bfr or colorization or inpainting):
            return "SVFR Task: switch on at least one of 'bfr', 'colorization', 'inpainting'."
        return True

    @classmethod
    @speaks_widgets
    def execute(cls, bfr: bool, colorization: bool, inpainting: bool) -> io.NodeOutput:
        from svfr_model.diffusion.tasks import parse_tasks

        # parse_tasks refuses the empty selection (validate_inputs is skipped for linked toggles)
        bits = parse_tasks([int(bool(bfr)), int(bool(colorization)), int(bool(inpainting))])
        return io.NodeOutput(torch.tensor(bits, dtype=torch.float32), ui={"text": [task_label(bits)]})
