"""Reading image files safely: the one place that turns a file into pixels.

``load_image(path)`` returns (H, W, 3) uint8 RGB whatever the file holds:

- grayscale (L, 1-bit) is repeated into three channels;
- palette images are expanded (and their transparency handled like alpha);
- RGBA / LA / PA are **composited on white** (a transparent background becomes white, as a viewer shows it);
- CMYK and YCbCr are converted by Pillow;
- 16-bit images (PNG ``I;16`` / ``I``) are scaled to 8 bits by ``round(v / 257)`` (65535 -> 255);
- 32-bit float images are clipped to 0..255.

**EXIF orientation is not applied.** The pixels come back exactly as stored, because landmark files
(300-W ``.pts``, AFLW2000-3D ``.mat``, WFLW, COCO ...) refer to the stored pixel grid; rotating the image
silently would put every point in the wrong place. ``exif_orientation(path)`` tells a caller when a file
carries a non-trivial orientation tag so it can warn the user.

Refused with ``ImageError`` naming the file and the reason: missing files, zero-byte files, files that are
not images, truncated or corrupt files, images with more than ``MAX_PIXELS`` pixels, and images whose decoded
pixels would take more than ``MAX_DECODE_BYTES`` bytes (width x height x channels x bytes per channel, so a
16-bit or RGBA image counts for what it costs). Both limits are checked from the header, before any decoding,
so a decompression bomb never allocates its pixels. The conversion to RGB works in row blocks of
``_BLOCK_PIXELS`` pixels, so its temporaries stay small whatever the mode: decoding peaks near the decoded
image plus the (H, W, 3) result.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from asmnet_studio.datasets.errors import ImageError

#: Largest image accepted, in pixels (width * height): 80 MP.
MAX_PIXELS = 80_000_000

#: Largest decoded size accepted, in bytes (width * height * channels * bytes per channel): an 80 MP
#: 8-bit RGB image is the most it allows (240 MB); an 80 MP RGBA or 16-bit RGB image is refused.
MAX_DECODE_BYTES = 240_000_000

#: Pixels converted at a time (bounds the temporaries of the 16-bit, float and alpha conversions).
_BLOCK_PIXELS = 1 << 18

#: File suffixes the format readers look for beside an annotation file (lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")

_EXIF_ORIENTATION_TAG = 0x0112


def _open(path: str | Path) -> Image.Image:
    """Open ``path`` lazily (header only) after the cheap checks; ImageError otherwise."""
    p = Path(path)
    if not p.is_file():
        raise ImageError(p, "image file not found" if not p.exists() else "not a regular file")
    if p.stat().st_size == 0:
        raise ImageError(p, "empty file (0 bytes)")
    try:
        return Image.open(p)
    except Image.DecompressionBombError as exc:
        raise ImageError(p, f"too many pixels, refused before decoding ({exc}; limit {MAX_PIXELS})") from None
    except UnidentifiedImageError:
        raise ImageError(p, "not an image (no known image format recognised)") from None
    except Exception as exc:  # Pillow raises many types for broken headers
        raise ImageError(p, f"unreadable image header ({type(exc).__name__}: {exc})") from None


def _check_pixels(path: str | Path, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageError(path, f"invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise ImageError(path, f"too many pixels: {width}x{height} = {width * height} > MAX_PIXELS "
                               f"({max_pixels}); refused before decoding")


def decoded_bytes(im: Image.Image) -> int:
    """Bytes the decoded pixels of ``im`` take: width x height x channels x bytes per channel (from the
    header: the mode, and the raw mode of the data for 16-bit-per-channel files that Pillow reduces to 8)."""
    w, h = im.size
    mode = im.mode
    if mode.startswith("I;16"):
        bands, per = 1, 2
    else:
        try:
            bands = int(Image.getmodebands(mode))
        except (KeyError, ValueError):  # an exotic mode: count it as four 4-byte channels
            bands, per = 4, 4
        else:
            raw = " ".join(str(getattr(t, "args", "")) for t in (getattr(im, "tile", None) or []))
            per = 4 if mode in ("I", "F") else 2 if ";16" in raw else 1
    return int(w) * int(h) * bands * per


def _check_budget(path: str | Path, im: Image.Image, max_bytes: int) -> None:
    n = decoded_bytes(im)
    if n > max_bytes:
        w, h = im.size
        raise ImageError(path, f"too large to decode: {w}x{h} {im.mode} would take {n / 1e6:.0f} MB > "
                               f"MAX_DECODE_BYTES ({max_bytes / 1e6:.0f} MB); refused before decoding")


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) in pixels, read from the header without decoding the pixels.

    The stored size is returned (EXIF orientation is not applied, see the module docstring).
    Raises ImageError for missing, empty or non-image files and for images over ``MAX_PIXELS`` or
    ``MAX_DECODE_BYTES``.
    A truncated file may still report its size here; ``load_image`` is what detects truncation.
    """
    with _open(path) as im:
        w, h = im.size
        _check_pixels(path, w, h, MAX_PIXELS)
        _check_budget(path, im, MAX_DECODE_BYTES)
    return int(w), int(h)


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block does not make the image unusable
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def exif_orientation(path: str | Path) -> int:
    """The EXIF orientation tag (1..8) of ``path``; 1 (normal) when absent. Nothing is rotated."""
    with _open(path) as im:
        return _orientation(im)


def image_header(path: str | Path) -> tuple[int, int, int]:
    """(width, height, EXIF orientation 1..8) from one header read; the checks of ``image_size``."""
    with _open(path) as im:
        w, h = im.size
        orientation = _orientation(im)
        _check_pixels(path, w, h, MAX_PIXELS)
        _check_budget(path, im, MAX_DECODE_BYTES)
    return int(w), int(h), orientation


def _to_rgb(im: Image.Image) -> np.ndarray:
    """Convert a decoded Pillow image of any mode into (H, W, 3) uint8 RGB, ``_BLOCK_PIXELS`` at a time."""
    w, h = im.size
    rows = max(1, _BLOCK_PIXELS // max(w, 1))
    if rows >= h:
        return _block_to_rgb(im)
    out = np.empty((h, w, 3), dtype=np.uint8)
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        out[y0:y1] = _block_to_rgb(im.crop((0, y0, w, y1)))
    return out


def _block_to_rgb(im: Image.Image) -> np.ndarray:
    """Convert a (block of a) decoded Pillow image of any mode into (h, w, 3) uint8 RGB."""
    mode = im.mode
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im, dtype=np.float64)
        g = np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode == "F":
        g = np.clip(np.rint(np.asarray(im, dtype=np.float64)), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    out = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(out)


def _decode_jpeg(path: str | Path, im: Image.Image) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB of a well-formed RGB or grayscale JPEG decoded by OpenCV, else None (Pillow decodes it).

    Both libraries decode with libjpeg-turbo (same IDCT and upsampling: identical pixels on every JPEG of the
    shared datasets, ``tests/datasets/test_images.py``), but handing a decoded Pillow image to numpy costs more
    than decoding it (~2 ms for 450 x 450). Only files that end with the end-of-image marker take this path
    (OpenCV would fill a truncated file with grey where Pillow refuses it), and only RGB / grayscale ones (CMYK
    and others keep Pillow's conversion); EXIF orientation is ignored, as everywhere here.
    """
    if im.format != "JPEG" or im.mode not in ("RGB", "L"):
        return None
    import cv2

    data = np.fromfile(path, np.uint8)
    if len(data) < 4 or data[-2] != 0xFF or data[-1] != 0xD9:
        return None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None or bgr.shape != (im.size[1], im.size[0], 3):
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_image(path: str | Path) -> np.ndarray:
    """Decode ``path`` into an (H, W, 3) uint8 RGB array (stored orientation; see the module docstring).

    Raises ImageError naming the file and the reason for missing, zero-byte, non-image, truncated or
    corrupt files and for images over ``MAX_PIXELS`` pixels or ``MAX_DECODE_BYTES`` decoded bytes (both
    checked from the header, before decoding).
    """
    with _open(path) as im:
        w, h = im.size
        _check_pixels(path, w, h, MAX_PIXELS)
        _check_budget(path, im, MAX_DECODE_BYTES)
        fast = _decode_jpeg(path, im)
        if fast is not None:
            return fast
        try:
            im.load()
        except Exception as exc:  # truncated / corrupt data raise OSError, SyntaxError, ValueError ...
            reason = str(exc) or type(exc).__name__
            kind = "truncated" if "truncated" in reason.lower() else "corrupt"
            raise ImageError(path, f"{kind} image data ({type(exc).__name__}: {reason})") from None
        try:
            return _to_rgb(im)
        except Exception as exc:
            raise ImageError(path, f"cannot convert image mode {im.mode!r} to RGB ({exc})") from None
