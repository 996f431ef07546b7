"""Path safety: the one rule for a name read from, or written into, a folder (dataset readers and writers,
the workspace's image names, exports).

A name is safe when it is relative (no leading ``/``, no Windows drive such as ``C:``), names something
(not empty, not ``.``) and never leaves its folder (no ``..`` part). For that check backslashes count as
separators, so a Windows-style ``a\\..\\b`` is refused like ``a/../b``; a ``:`` elsewhere in a name is kept
(what imports must export). A backslash that passes the check is part of the file's name (a file named
``a\\b.png`` is one file on POSIX, and imports and exports under that name), except that, given the
``folder``, a Windows-style ``sub\\x.png`` is read as ``sub/x.png`` when only that file exists.
``safe_join`` adds the file-system check: the joined path must not lead, through a symlink, outside the folder.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from asmnet_studio.datasets.errors import UnsafePathError


def relative_name(name: str, what: str = "image path", folder: str | Path | None = None) -> PurePosixPath:
    """``name`` as a safe relative POSIX path (see the module docstring); UnsafePathError otherwise, naming
    ``what``, the name and (when given) the ``folder`` it is relative to. A backslash stays in the name,
    unless ``folder`` holds no file of that literal name but does hold it with the backslashes as ``/``."""
    text = str(name)
    rel = PurePosixPath(text.replace("\\", "/"))
    if rel.is_absolute() or not rel.parts or PureWindowsPath(text).drive or ".." in rel.parts:
        where = f"{folder}: " if folder is not None else ""
        raise UnsafePathError(f"{where}{what} {name!r} must be relative and stay inside the folder "
                              "(it is empty, absolute or leaves the folder through ..)")
    if "\\" in text and (folder is None or os.path.lexists(Path(folder) / text)
                         or not os.path.lexists(Path(folder) / rel)):
        return PurePosixPath(text)
    return rel


def safe_join(folder: str | Path, name: str, what: str = "path") -> Path:
    """``folder / name`` (absolute, not resolved), refusing (UnsafePathError) a name that is unsafe
    (``relative_name``) or leads, through a symlink, outside ``folder``."""
    folder = Path(folder)
    rel = relative_name(name, what, folder)
    joined = Path(os.path.abspath(folder / rel))
    real_folder = folder.resolve()
    real = joined.resolve()
    if real != real_folder and real_folder not in real.parents:
        raise UnsafePathError(f"{folder}: {what} {name!r} resolves to {real}, outside the folder (symlink)")
    return joined
