"""Importing gradio for a server start without its developer-time work (the app's start-up, issue 18).

Every time gradio is imported, each component class it defines (``gradio.component_meta.ComponentMeta``)
re-reads its own source file, parses it and rewrites the type stub (``.pyi``) beside it
(``create_or_modify_pyi``): tooling for gradio's developers and for authors of custom components, with no
effect on what a running app does. On this project's 2-core machine that is ~2 s of the ~5 s gradio import
(``bench/RESULTS.md``). ``skip_stub_regeneration()`` makes that step a no-op for this process: it must run
before ``import gradio`` (``app.main`` calls it first); later it still covers component classes defined
afterwards. Nothing else in gradio is changed; a gradio without that function is left alone.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys

_MODULE = "gradio.component_meta"
_FUNCTION = "create_or_modify_pyi"


def _no_stub(*args, **kwargs) -> None:
    """Stands in for gradio's ``create_or_modify_pyi``: writes no ``.pyi`` file."""
    return None


def _patch(module) -> None:
    if hasattr(module, _FUNCTION):
        setattr(module, _FUNCTION, _no_stub)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds ``gradio.component_meta`` as usual and patches it right after it has run (before gradio's
    components, which it is imported for, are defined)."""

    def find_spec(self, name, path, target=None):
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


def skip_stub_regeneration() -> bool:
    """Make gradio skip rewriting its ``.pyi`` stubs in this process; True when it will (or already does)."""
    module = sys.modules.get(_MODULE)
    if module is not None:
        _patch(module)
        return getattr(module, _FUNCTION, None) is _no_stub
    if not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())
    return True
