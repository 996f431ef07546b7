"""Issue 17 in a real browser: the browser draws the stored pixel grid (an EXIF Orientation=6 photo is not
turned under its points), workspace images are served only as images (a file named ``x.html`` holding
HTML is never a web page of the app's origin), and a login-less server answers only loopback Host names."""
from __future__ import annotations

import io
import struct
import urllib.parse
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.annotator.synthetic import FakePredictor
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e
TIMEOUT = 180_000  # the shared 2-core machine is slow under load
RED, GREEN = (20, 20, 60, 60), (180, 100, 220, 140)  # squares x0, y0, x1, y1 in the *stored* 240 x 160 grid


def _photo(path) -> np.ndarray:
    """A 240 x 160 (stored) blue JPEG with a red and a green square, tagged EXIF Orientation=6 (a browser
    shows it turned by 90 degrees when it applies the tag). Returns the stored pixels as written."""
    a = np.zeros((160, 240, 3), np.uint8)
    a[:, :] = (0, 0, 255)
    for (x0, y0, x1, y1), c in ((RED, (255, 0, 0)), (GREEN, (0, 255, 0))):
        a[y0:y1, x0:x1] = c
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(path, quality=95, subsampling=0, exif=exif.tobytes())
    return a


def _server(tmp_path, make):
    """A workspace holding the one image ``make(path)`` writes, served like app.py does."""
    from asmnet_studio.datasets.store import Workspace

    db = tmp_path / "ws.db"
    with Workspace(db) as ws:
        image_id = make(ws)
    return Server(db, FakePredictor()), image_id


def _open(studio_browser, srv):
    page = studio_browser.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(TIMEOUT)
    page.goto(srv.url)
    page.wait_for_selector("#landmark-editor image")
    return page


def _fit(page) -> None:
    """Show the whole image (the editor opens zoomed to the face box) and wait until the view says so."""
    page.click("button.lm-zoom[data-zoom='fit']")
    page.wait_for_function("() => { const s = document.querySelector('#landmark-editor');"
                           " return s.getAttribute('viewBox')"
                           " === `-0.5 -0.5 ${s.dataset.width} ${s.dataset.height}`; }")


def _colour_at(shot: Image.Image, x: float, y: float) -> np.ndarray:
    a = np.asarray(shot.convert("RGB"), np.float64)
    xi, yi = int(round(x)), int(round(y))
    return a[yi - 2:yi + 3, xi - 2:xi + 3].reshape(-1, 3).mean(axis=0)


def test_orientation_6_photo_points_sit_on_the_stored_pixels(studio_browser, tmp_path):
    from asmnet_studio.datasets.images import exif_orientation, load_image

    photo = tmp_path / "phone.jpg"
    stored = _photo(photo)
    assert exif_orientation(photo) == 6

    def make(ws):
        image_id = ws.add_image(photo, dataset="phone")
        pts = np.full((68, 2), (120.0, 80.0), np.float32)       # the rest in the blue middle
        pts[0] = ((RED[0] + RED[2]) / 2, (RED[1] + RED[3]) / 2)    # on the red square (stored grid)
        pts[1] = ((GREEN[0] + GREEN[2]) / 2, (GREEN[1] + GREEN[3]) / 2)
        ws.save_annotation(image_id, pts, author="t", base_version=None, source="ground_truth", status="todo")
        return image_id

    srv, _ = _server(tmp_path, make)
    try:
        page = _open(studio_browser, srv)
        page.wait_for_selector("#landmark-editor circle[data-index]")
        _fit(page)
        svg = page.locator("#landmark-editor")
        assert svg.get_attribute("data-width") == "240" and svg.get_attribute("data-height") == "160"
        centres = {}
        for i in (0, 1):
            b = page.locator(f'#landmark-editor circle[data-index="{i}"]').bounding_box()
            centres[i] = (b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
        page.evaluate("() => document.querySelectorAll('#landmark-editor circle, #landmark-editor path,"
                      " #landmark-editor rect').forEach(e => e.style.visibility = 'hidden')")
        shot = Image.open(io.BytesIO(page.screenshot()))
        scale = shot.size[0] / page.viewport_size["width"]
        red = _colour_at(shot, centres[0][0] * scale, centres[0][1] * scale)
        green = _colour_at(shot, centres[1][0] * scale, centres[1][1] * scale)
        assert red[0] > 200 and red[1] < 60 and red[2] < 60, f"point 0 should sit on red, the page shows {red}"
        assert green[1] > 200 and green[0] < 60 and green[2] < 60, f"point 1 should sit on green, shows {green}"

        # what the browser was sent: a PNG of exactly the stored grid, no EXIF, served as an image
        href = page.get_attribute("#landmark-editor image", "href")
        r = page.request.get(srv.url.rstrip("/") + href)
        assert r.status == 200
        assert r.headers["content-type"] == "image/png"
        assert r.headers["x-content-type-options"] == "nosniff"
        sent = Image.open(io.BytesIO(r.body()))
        assert not sent.getexif() and sent.size == (240, 160)
        assert np.array_equal(np.asarray(sent.convert("RGB")), load_image(photo))
        assert np.abs(load_image(photo).astype(int) - stored).max() < 40  # the JPEG itself, unrotated
        page.close()
    finally:
        srv.stop()


def _png_with_html(path) -> None:
    """A valid PNG whose text chunk holds an HTML page with a script (named ``.html`` by the caller)."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buf, format="PNG")
    data = buf.getvalue()
    payload = b"Comment\0<html><body><script>document.title='pwned'</script></body></html>"
    chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload + struct.pack(">I", zlib.crc32(b"tEXt" + payload))
    i = data.index(b"IDAT") - 4
    path.write_bytes(data[:i] + chunk + data[i:])


def test_a_file_named_html_is_served_only_as_a_re_encoded_image(studio_browser, tmp_path):
    evil = tmp_path / "evil.html"
    _png_with_html(evil)
    srv, _ = _server(tmp_path, lambda ws: ws.add_image(evil, dataset="x"))
    try:
        page = _open(studio_browser, srv)
        href = page.get_attribute("#landmark-editor image", "href")
        assert href.endswith(".png") and "evil" not in href
        r = page.request.get(srv.url.rstrip("/") + href)
        assert r.status == 200 and r.headers["content-type"] == "image/png"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert b"<script" not in r.body() and b"tEXt" not in r.body()
        # the original file is not served at all
        orig = page.request.get(srv.url.rstrip("/") + "/gradio_api/file=" + urllib.parse.quote(str(evil.resolve())))
        assert orig.status == 403
        # opened as a page, the display copy is an image: no script runs in the app's origin
        page.goto(srv.url.rstrip("/") + href)
        assert page.title() != "pwned"
        assert page.evaluate("() => document.scripts.length") == 0
        page.close()
    finally:
        srv.stop()


def test_login_less_server_refuses_foreign_host_headers(tmp_path):
    import httpx

    srv, _ = _server(tmp_path, lambda ws: ws.add_image(_photo_path(tmp_path), dataset="x"))
    try:
        ok = httpx.get(srv.url, timeout=10)
        assert ok.status_code == 200 and ok.headers["x-content-type-options"] == "nosniff"
        bad = httpx.get(srv.url, headers={"Host": f"attacker.example:{srv.port}"}, timeout=10)
        assert bad.status_code == 421 and "not served" in bad.text
        bad = httpx.get(srv.url + "gradio_api/info", headers={"Host": "127.attacker.example"}, timeout=10)
        assert bad.status_code == 421
    finally:
        srv.stop()


def _photo_path(tmp_path):
    p = tmp_path / "plain.jpg"
    _photo(p)
    return p
