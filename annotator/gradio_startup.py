"""Importing gradio for a server start without its developer-time work (the app's start-up, issue 18).

Every time gradio is imported it does two things for its developers and for authors of custom components that
change nothing a running app does:

* each component class it defines (``gradio.component_meta.ComponentMeta``) re-reads its own source file,
  parses it and rewrites the type stub (``.pyi``) beside it (``create_or_modify_pyi``): ~2 s of the ~5 s gradio
  import on this project's 2-core machine;
* each event listener of each component class (216 of them) renders its docstring as a Jinja template
  (``gradio.events.EventListener.set_doc``: "Triggered when the {{ component }} is clicked."), compiling one
  template per listener: ~0.4 s more.

And around every event it handles, gradio switches matplotlib to its "agg" backend and back; on the first event,
asking matplotlib for its current backend resolves the automatic choice by importing pyplot (~0.35 s, which the
first face shown waited for). ``headless_matplotlib()`` names "agg" up front (a server has no display).

``skip_developer_work()`` makes the first a no-op for this process and does the second with a plain string
substitution (the same docstrings: every template in gradio's events module is ``{{ component }}`` and
nothing else; any other template still goes through Jinja). It must run before ``import gradio``
(``app.main`` calls it first); later it still covers component classes defined afterwards. Nothing else in
gradio is changed; a gradio without those functions is left alone.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from typing import Callable

_STUB_MODULE, _STUB_FUNCTION = "gradio.component_meta", "create_or_modify_pyi"
_EVENTS_MODULE = "gradio.events"
_PLACEHOLDER = "{{ component }}"


def _no_stub(*args, **kwargs) -> None:
    """Stands in for gradio's ``create_or_modify_pyi``: writes no ``.pyi`` file."""
    return None


def render_listener_doc(doc: str, component: str) -> str:
    """``jinja2.Template(doc).render(component=component)`` for a docstring whose only template syntax is
    ``{{ component }}`` (Jinja's default drops one trailing newline); anything else goes through Jinja."""
    rest = doc.replace(_PLACEHOLDER, "")
    if "{{" in rest or "{%" in rest or "{#" in rest:
        from jinja2 import Template

        return Template(doc).render(component=component)
    out = doc.replace(_PLACEHOLDER, component)
    return out[:-1] if out.endswith("\n") else out


def _set_doc(self, component: str) -> None:
    """Stands in for ``gradio.events.EventListener.set_doc`` (same result, no template compiled)."""
    if self.listener.__doc__:
        self.listener.__doc__ = render_listener_doc(self.listener.__doc__, component)


def _patch_stubs(module) -> bool:
    if hasattr(module, _STUB_FUNCTION):
        setattr(module, _STUB_FUNCTION, _no_stub)
    return getattr(module, _STUB_FUNCTION, None) is _no_stub


def _patch_events(module) -> bool:
    listener = getattr(module, "EventListener", None)
    if listener is not None and hasattr(listener, "set_doc"):
        listener.set_doc = _set_doc
    return listener is not None and listener.set_doc is _set_doc


_PATCHES: dict[str, Callable] = {_STUB_MODULE: _patch_stubs, _EVENTS_MODULE: _patch_events}


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds gradio's ``component_meta`` and ``events`` modules as usual and patches each right after it has run
    (before gradio's components, which they are imported for, are defined); leaves ``sys.meta_path`` once both
    are done."""

    def __init__(self, names):
        self.pending = set(names)

    def find_spec(self, name, path, target=None):
        if name not in self.pending:
            return None
        self.pending.discard(name)
        if not self.pending:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run, patch = spec.loader.exec_module, _PATCHES[name]

        def exec_module(module):
            run(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


def skip_developer_work() -> bool:
    """Make gradio skip rewriting its ``.pyi`` stubs and compiling its listener docstrings in this process; True
    when it will (or, for modules already imported, already does)."""
    if any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        return True
    ok, later = True, []
    for name, patch in _PATCHES.items():
        module = sys.modules.get(name)
        if module is None:
            later.append(name)
        else:
            ok = patch(module) and ok
    if later:
        sys.meta_path.insert(0, _PatchOnImport(later))
    return ok


def headless_matplotlib() -> None:
    """Set ``MPLBACKEND=agg`` for this process unless the environment already names a backend: matplotlib then
    knows its backend without importing pyplot (gradio asks for it at every event)."""
    os.environ.setdefault("MPLBACKEND", "agg")
