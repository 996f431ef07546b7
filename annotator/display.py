"""The copy of an image that the browser is sent (issue 17, items 1 and 2).

The project's truth is the **stored pixel grid**: ``asmnet_studio.datasets.images.load_image`` decodes it without
applying EXIF orientation, and the store, the model, training, inference, the points and export all use it. A browser,
however, rotates a JPEG by its EXIF orientation when it draws it; sent the original file, it would show an Orientation=6
photo turned by 90° under points that belong to the unrotated picture. And a file is served as what its name says: a
dataset naming its image ``x.html`` would be served as a web page.

So the browser never gets the original file: :func:`display_copy` writes the pixels ``load_image`` returns
(exactly the grid the points refer to) as a fresh PNG (up to ``PNG_MAX_PIXELS``) or JPEG (quality 95, no
chroma subsampling), with no metadata at all (no EXIF, no text chunks), named ``<key>.png`` / ``.jpg`` so it
is served as an image. Copies are cached by the file's path, size and modification time.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

from asmnet_studio.datasets.errors import ImageError
from asmnet_studio.datasets.formats._common import atomic_write_bytes
from asmnet_studio.datasets.images import load_image

#: Images up to this many pixels are sent as PNG (lossless); larger ones as JPEG quality 95.
PNG_MAX_PIXELS = 2_000_000


def cache_key(path: Path) -> str:
    """A name for the display copy of ``path``: changes when the file (path, size, mtime) changes.
    ImageError when the file is gone."""
    try:
        st = Path(path).stat()
    except OSError as exc:
        raise ImageError(path, "image file not found" if isinstance(exc, FileNotFoundError) else str(exc)) from None
    text = f"{Path(path).resolve()}\0{st.st_size}\0{st.st_mtime_ns}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def encode(pixels: np.ndarray, fh) -> str:
    """Write (H, W, 3) uint8 RGB ``pixels`` to the binary file ``fh`` without metadata; returns the suffix."""
    im = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), "RGB")
    if pixels.shape[0] * pixels.shape[1] <= PNG_MAX_PIXELS:
        im.save(fh, format="PNG", compress_level=1)
        return ".png"
    im.save(fh, format="JPEG", quality=95, subsampling=0)
    return ".jpg"


def display_copy(path: str | Path, folder: str | Path, pixels: np.ndarray | None = None) -> Path:
    """The display copy of the image file ``path`` in ``folder`` (written on first use).

    ``pixels`` may pass the already decoded ``load_image(path)`` to avoid decoding it again.
    Raises ``asmnet_studio.datasets.errors.ImageError`` when the image cannot be decoded.
    """
    path, folder = Path(path), Path(folder)
    key = cache_key(path)
    for suffix in (".png", ".jpg"):
        if (folder / (key + suffix)).is_file():
            return folder / (key + suffix)
    img = load_image(path) if pixels is None else pixels
    suffix = ".png" if img.shape[0] * img.shape[1] <= PNG_MAX_PIXELS else ".jpg"
    folder.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(folder / (key + suffix), lambda fh: encode(img, fh))


def remove_folder(folder: str | Path) -> None:
    """Delete the display copies in ``folder`` (and the folder when it ends up empty)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        if p.is_file() and p.suffix in (".png", ".jpg"):
            p.unlink(missing_ok=True)
    try:
        os.rmdir(folder)
    except OSError:
        pass
