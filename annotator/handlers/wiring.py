"""How ``ui.py`` connects an event to a handler: :func:`bind` fixes the services, :func:`user_errors` turns the
project's errors into ``gr.Error`` messages that say what to do (the one place where this happens)."""
from __future__ import annotations

import functools
from typing import Callable

import gradio as gr

from asmnet_studio.annotator.messages import toast_text
from asmnet_studio.datasets.errors import ConflictError, DataError


def bind(fn: Callable, *args, **kwargs) -> Callable:
    """``fn`` with its first arguments (and some keywords) fixed, keeping the signature and type hints of
    the rest, so Gradio still sees ``gr.EventData`` / ``gr.Progress`` parameters (``functools.partial``
    hides them)."""
    import inspect

    sig = inspect.signature(fn)
    params = [p for p in list(sig.parameters.values())[len(args):] if p.name not in kwargs]

    @functools.wraps(fn)
    def bound(*a, **k):
        return fn(*args, *a, **kwargs, **k)

    bound.__signature__ = sig.replace(parameters=params)
    return bound



def user_errors(fn: Callable) -> Callable:
    """Turn the project's errors into ``gr.Error`` messages (the one place where this happens)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ConflictError as exc:
            by = f" by {toast_text(exc.author)}" if exc.author else " in another tab or by another person"
            opened = (f"after you opened version {exc.expected}" if exc.expected is not None
                      else "after you opened it (it had no saved version then)")
            raise gr.Error(
                f"Not saved: image {exc.image_id} was saved{by} (version {exc.actual}) {opened}. Nothing was "
                "overwritten. Your edits are still on screen; press 'Reload saved version' to see the other "
                "version.", title="Edit conflict", duration=None, print_exception=False) from None
        except (DataError, ValueError, KeyError) as exc:  # the user's to fix: a message, no server traceback
            msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            raise gr.Error(toast_text(msg), title=type(exc).__name__, print_exception=False) from None

    return wrapper
