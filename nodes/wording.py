"""Engine errors and warnings in the words of the node they surface on: widget names and widget values.

The engine names its options (``size``, ``allow_no_face``, ``faces=2``); a node shows widgets
(``crop_size``, ``if_no_face = 'pass through'``, ``faces = 'index'`` with ``index = 2``). ``WidgetWords``
says an option as the widget of one node (from its schema, so a hint about an option the node has no
widget for is left out), and ``speaks_widgets`` wraps a node's ``execute``/``validate_inputs`` so an engine
error that names options is re-raised in those words, with the same type and facts; around ``execute`` it
also collects the engine's warnings and shows them on the page (``notices.py``).
"""
from __future__ import annotations

import functools
import inspect

from svfr_model.errors import SVFRError, Words
from svfr_model.faces.options import NO_FACE_CHOICES

# Engine option -> the widget (or socket) that sets it, where the names differ.
WIDGET_OF = {"size": "crop_size", "allow_no_face": "if_no_face", "tasks": "task"}


class WidgetWords(Words):
    """Options as the widgets of a node whose inputs are ``inputs`` (their ids); names are quoted, as the
    nodes' other messages quote inputs (``input 'crops'``)."""

    def __init__(self, inputs):
        self.inputs = frozenset(inputs)

    def widget(self, option: str) -> str | None:
        name = WIDGET_OF.get(option, option)
        return name if name in self.inputs else None

    def name(self, option: str) -> str | None:
        widget = self.widget(option)
        return None if widget is None else f"'{widget}'"

    def value(self, option: str, value) -> str:
        if option == "allow_no_face":
            return repr(NO_FACE_CHOICES[int(bool(value))])
        if option == "faces" and isinstance(value, int) and not isinstance(value, bool):
            return f"'index' with 'index' = {value}"
        return repr(value)

    def setting(self, option: str, value) -> str | None:
        name = self.name(option)
        if name is None or option == "faces" and isinstance(value, int) and "index" not in self.inputs:
            return None
        return f"{name} = {self.value(option, value)}"


def words_for(node_class) -> WidgetWords:
    """The words of one node class: its schema's input ids (read when an error is worded: rare, and a
    V3 node may run as a per-prompt clone of its class, so nothing is cached per class)."""
    return WidgetWords(i.id for i in node_class.define_schema().inputs)


def in_widget_words(node_class, exc: BaseException) -> BaseException:
    """``exc`` as the node shows it: an engine error re-worded with the node's widgets, others unchanged."""
    if isinstance(exc, SVFRError) and exc.template is not None:
        return exc.reworded(words_for(node_class))
    return exc


def speaks_widgets(fn):
    """Decorator under ``@classmethod`` for ``execute`` / ``validate_inputs``: engine errors naming options
    come out in widget words; ``execute``'s warnings reach the page (``notices.Notices``) and its output's
    ``ui``. The signature is kept: ComfyUI reads validate_inputs' argument names to decide which inputs it
    passes (and which widgets it marks)."""
    from .notices import Notices, with_notices

    shows_notices = fn.__name__ == "execute"

    @functools.wraps(fn)
    def run(cls, *args, **kwargs):
        try:
            if not shows_notices:
                return fn(cls, *args, **kwargs)
            with Notices(cls) as notes:
                out = fn(cls, *args, **kwargs)
            return with_notices(out, notes)
        except SVFRError as exc:
            worded = in_widget_words(cls, exc)
            if worded is exc:
                raise
            raise worded.with_traceback(exc.__traceback__) from None

    run.__signature__ = inspect.signature(fn)
    return run


__all__ = ["WIDGET_OF", "WidgetWords", "words_for", "in_widget_words", "speaks_widgets"]
