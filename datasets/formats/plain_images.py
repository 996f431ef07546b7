"""A folder of plain images, without landmark files: what a user brings to be pre-labelled.

``find_images(root)`` lists the image files under ``root`` recursively (``EXTENSIONS``, any case), as paths
relative to ``root`` with forward slashes, sorted; hidden files and folders (a leading dot) are left out.
Not a registered format (it has no ground truth to read or write): ``Workspace.import_images`` adds the
files and ``asmnet.inference.workspace_prelabel.prelabel_new_faces`` finds and pre-labels their faces.
"""
from __future__ import annotations

import os
from pathlib import Path

#: the option value of ``asmnet import --format`` and ``app.py --format`` for a plain folder
NAME = "images"
#: file suffixes imported (lower case); other files are counted as ignored
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def find_images(root: str | Path) -> tuple[list[str], list[str]]:
    """(image names, ignored names) under ``root``, both relative with forward slashes and sorted.

    Raises FileNotFoundError / NotADirectoryError naming ``root`` when it is not a folder.
    Symbolic links to folders are not followed (a folder cannot lead outside itself that way).
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    images, ignored = [], []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(folder).relative_to(root)
        for f in files:
            if f.startswith("."):
                continue
            name = (rel / f).as_posix()
            (images if Path(f).suffix.lower() in EXTENSIONS else ignored).append(name)
    return sorted(images), sorted(ignored)
