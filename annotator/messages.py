"""Text from the workspace made safe to show in the page (issue 17, items 10 and 14).

Image names and author names come from datasets and from colleagues: :func:`plain` escapes them for the
Markdown / HTML panels (``<img>``, links and emphasis show as typed, never as markup). Error toasts go through
:func:`toast_text`, which also drops the folders of absolute server paths (the file's name is what the user
needs; the server's layout is not theirs to see).
"""
from __future__ import annotations

import html
import re

#: an absolute POSIX path's folders ("/a/b/" of "/a/b/x.jpg"), not a URL's "//host/"
_FOLDERS = re.compile(r"(?<![\w:/.])/(?:[^\s/'\"<>`]+/)+")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def strip_folders(text: str) -> str:
    """``text`` with every absolute path reduced to its last component ("/srv/ws/img/a.jpg" -> "a.jpg")."""
    return _FOLDERS.sub("", str(text))


def plain(text) -> str:
    """``text`` shown as typed inside Markdown: HTML escaped and Markdown punctuation backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", html.escape(str(text), quote=True))


def toast_text(text) -> str:
    """An error message for a toast: absolute paths reduced to file names, then HTML escaped."""
    return html.escape(strip_folders(text), quote=False)
