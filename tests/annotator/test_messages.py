"""Issue 17, items 10 and 14: names and authors are escaped; toasts show no absolute server paths."""
from __future__ import annotations

import gradio as gr
import pytest

from asmnet_studio.annotator import handlers
from asmnet_studio.annotator.messages import plain, strip_folders, toast_text
from asmnet_studio.datasets.errors import ConflictError, ImageError


def test_strip_folders():
    assert strip_folders("/srv/ws/img/a b.jpg: not an image") == "a b.jpg: not an image"
    assert strip_folders("file /home/ann/x.pts, line 3") == "file x.pts, line 3"
    assert strip_folders("see http://host/x/y and 1/2") == "see http://host/x/y and 1/2"


def test_plain_escapes_markup():
    out = plain('<img src=x onerror=alert(1)> [a](http://e) *b*')
    assert "<img" not in out and "&lt;img" in out and "\\[a\\]\\(http://e\\)" in out and "\\*b\\*" in out


def test_user_errors_escape_and_hide_paths():
    @handlers.user_errors
    def bad_image():
        raise ImageError("/very/secret/server/folder/<b>x</b>.jpg", "not an image")

    with pytest.raises(gr.Error) as e:
        bad_image()
    msg = e.value.message
    assert "/very/secret" not in msg and "<b>" not in msg and "&lt;b&gt;x&lt;/b&gt;.jpg: not an image" in msg

    @handlers.user_errors
    def conflict():
        raise ConflictError(3, 1, 2, author='<a target=_blank href="http://e">Eve</a>')

    with pytest.raises(gr.Error) as e:
        conflict()
    assert "<a " not in e.value.message and "&lt;a target=_blank" in e.value.message
    assert toast_text("a<b") == "a&lt;b"
