"""The built-in default workspace: real faces from images that ship inside installed packages.

Nothing is downloaded and no research data is copied: the workspace *references* these files where the
packages installed them (the store never copies images). All are public-domain photographs:

* ``skimage/data/astronaut.png`` - astronaut Eileen Collins (NASA).
* ``matplotlib/mpl-data/sample_data/grace_hopper.jpg`` - Rear Admiral Grace Hopper (US Navy).
* ``skimage/data/camera.png`` - "cameraman", a small face in profile in a classic test image.

Their faces are found by the face detector, as a user's photos are (``asmnet.inference.detect``; the box typed by
hand for camera.png before was on the hair, and so were the points); ``REFERENCE_BOXES`` are the landmark
boxes a person checked on each picture, which the tests hold the sample workspace's pre-labels to.

The default workspace file lives in the user's data folder: ``$XDG_DATA_HOME/asmnet-studio/default.db``
(``~/.local/share/asmnet-studio/default.db`` when ``XDG_DATA_HOME`` is unset); ``ASMNET_STUDIO_HOME``
overrides the folder.
"""
from __future__ import annotations

import os
from pathlib import Path

#: (package, path inside it, face box x0, y0, x1, y1 in pixels or None to detect, description)
BUNDLED: tuple[tuple[str, str, tuple[float, float, float, float] | None, str], ...] = (
    ("skimage", "data/astronaut.png", None, "Eileen Collins, NASA astronaut (public domain)"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", None, "Grace Hopper, US Navy photograph (public domain)"),
    ("skimage", "data/camera.png", None, "cameraman test image (public domain)"),
)
#: file name -> the face's landmark box x0, y0, x1, y1 (pixels) as a person checked it on the picture
REFERENCE_BOXES: dict[str, tuple[float, float, float, float]] = {
    "astronaut.png": (176.0, 72.0, 274.0, 175.0),
    "grace_hopper.jpg": (172.0, 135.0, 362.0, 330.0),
    "camera.png": (198.0, 120.0, 257.0, 197.0),
}


def _package_dir(name: str) -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def bundled_faces() -> list[tuple[Path, tuple[float, float, float, float] | None, str]]:
    """(file, face box or None, description) for each bundled image that is installed here."""
    out = []
    for package, rel, box, what in BUNDLED:
        root = _package_dir(package)
        if root is not None and (root / rel).is_file():
            out.append(((root / rel).resolve(), box, what))
    return out


def data_home() -> Path:
    """The folder for the default workspace (created on demand by the caller)."""
    if os.environ.get("ASMNET_STUDIO_HOME"):
        return Path(os.environ["ASMNET_STUDIO_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "asmnet-studio"


def default_workspace_path() -> Path:
    """``data_home() / "default.db"``."""
    return data_home() / "default.db"


def add_bundled_faces(store) -> list[int]:
    """Add the bundled faces to ``store`` (a ``asmnet_studio.datasets.store.Workspace``); returns ids. Faces without a
    box here are found by the detector when they are pre-labelled.

    Re-adding is harmless: the store deduplicates by content.
    """
    ids = []
    for path, box, _ in bundled_faces():
        ids.append(store.add_image(path, dataset="bundled samples", tags=("sample",), box=box))
    return ids
