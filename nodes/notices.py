"""Warnings the user should see, shown on the page, not only in the server console.

The engine warns with ``warnings.warn`` (``SVFRWarning``: inpainting without a mask, a face lost for many
frames, colour match skipped, a preset slow on this card...) and logs with the ``svfr_model`` loggers (a
truncated video). ``Notices`` collects both while a node runs, says each in the node's widget words, and
shows them in the two ways both tested ComfyUI versions (0.3.75 and the newer 0.33) support without a new
socket:

- the node's progress text (``PromptServer.send_progress_text``: the frontend shows it on the node itself);
- a UI output ``svfr_notices`` (in the prompt's history for API clients; ``web/js/svfr_notices.js`` shows
  each as a warning toast).

The console still gets them (ComfyUI's log), through the logger ``svfr``.
"""
from __future__ import annotations

import logging
import sys
import warnings

from svfr_model.errors import SVFRWarning

from .wording import words_for

UI_KEY = "svfr_notices"
log = logging.getLogger("svfr")


class _Collect(logging.Handler):
    def __init__(self, into: list):
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


class Notices:
    """``with Notices(cls) as notes: ...`` around a node's work; then ``notes.ui()`` for its NodeOutput."""

    def __init__(self, node_class):
        self.node_class = node_class
        self.texts: list[str] = []

    def __enter__(self) -> "Notices":
        self._warnings = warnings.catch_warnings()  # filters and showwarning as they were, on exit
        self._warnings.__enter__()
        warnings.filterwarnings("always", category=SVFRWarning)  # every run's, not once per place and process
        self._caught: list[SVFRWarning] = []
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if isinstance(message, SVFRWarning):
                self._caught.append(message)
            else:  # a library's warning: its usual filters and channel
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        self._logged: list[str] = []
        self._handler = _Collect(self._logged)
        logging.getLogger("svfr_model").addHandler(self._handler)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("svfr_model").removeHandler(self._handler)
        self._warnings.__exit__(*exc)
        words = words_for(self.node_class)
        for message in self._caught:
            self.add(message.worded(words))
        for text in self._logged:
            self.add(text)
        if self.texts:  # also when the run failed: a warning may explain the error
            self.show()

    def add(self, text: str) -> None:
        if text not in self.texts:  # a streamed run warns once per chunk
            self.texts.append(text)

    def show(self) -> None:
        """On the node (progress text) and in the console."""
        for text in self.texts:
            log.warning("[SVFR] %s", text)
        send_to_node("\n".join(f"⚠ {t}" for t in self.texts))

    def ui(self) -> dict | None:
        """The NodeOutput ``ui`` part (None: nothing to say, the output stays as it was)."""
        return {UI_KEY: list(self.texts)} if self.texts else None


def with_notices(out, notes: Notices):
    """A node's ``io.NodeOutput`` with the notices added to its ``ui`` (a dict, or none yet)."""
    extra = notes.ui()
    if extra is None or not hasattr(out, "ui"):
        return out
    if out.ui is None:
        out.ui = extra
    elif isinstance(out.ui, dict):
        out.ui = {**out.ui, **extra}
    return out  # a UIOutput object (images...): the progress text has shown them already


def executing_node_id() -> str | None:
    """The id of the node ComfyUI is running now (None outside a prompt, e.g. in tests)."""
    try:
        from comfy_execution.utils import get_executing_context
    except ImportError:
        return None
    context = get_executing_context()
    return None if context is None else str(context.node_id)


def send_to_node(text: str) -> bool:
    """Show ``text`` on the running node (the frontend's progress-text line); False when there is no
    server or no running node (the UI output still carries it)."""
    node_id = executing_node_id()
    # ComfyUI's own module, loaded by main.py: looked up, never imported (outside a server there is none)
    server = getattr(getattr(sys.modules.get("server"), "PromptServer", None), "instance", None)
    if server is None or node_id is None or not hasattr(server, "send_progress_text"):
        return False
    server.send_progress_text(text, node_id)
    return True


__all__ = ["UI_KEY", "Notices", "with_notices", "executing_node_id", "send_to_node"]
