"""Issue 17, items 2, 4 and 11 on the session side: an upload batch refuses non-image names and broken
files one by one (the rest is added, nothing bad is left in the image folder); the page's image URL is a
display copy; exports leave no folders behind."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from asmnet_studio.annotator import session
from tests.annotator import synthetic


def test_upload_batch_goes_on_after_bad_files(svc, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good1, good2 = synthetic.noise_png(inbox / "a.png", 1), synthetic.noise_png(inbox / "b.png", 2)
    html = synthetic.noise_png(inbox / "page.html", 3)            # an image named .html: refused by its name
    broken = inbox / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ids = session.add_uploads(svc, [str(good1), str(html), str(broken), str(good2)])
    assert len(ids) == 2 and len(svc.store.images()) == 2
    assert sorted(p.name for p in svc.upload_dir.iterdir()) == ["a.png", "b.png"], "no bad file left behind"
    with pytest.raises(ValueError, match="no image added: page.html: not an image file name"):
        session.add_uploads(svc, [str(html)])


def test_url_is_a_display_copy(svc, tmp_path):
    f = synthetic.noise_png(tmp_path / "x.png", 4)
    image_id = svc.store.add_image(f)
    url = svc.url(svc.store.image_path(image_id))
    assert url.endswith(".png") and str(tmp_path / "ws-display") in url.replace("%2F", "/")


def test_exports_leave_no_folders(svc, tmp_path):
    f = synthetic.noise_png(tmp_path / "x.png", 5)
    image_id = svc.store.add_image(f)
    svc.store.save_annotation(image_id, synthetic.template_face() * 20 + 50, author="t", base_version=None,
                              source="ground_truth", status="done")
    before = set(Path(tempfile.gettempdir()).glob("asmnet-export-*"))
    first, _ = session.export_zip(svc, "pts", None)
    second, _ = session.export_zip(svc, "coco", None)
    assert not first.exists() and second.is_file()
    assert set(Path(tempfile.gettempdir()).glob("asmnet-export-*")) - before == {second.parent}
    assert [p.name for p in second.parent.iterdir()] == [second.name], "only the zip stays"
    session._remove_exports()
    assert not second.parent.exists()
    f.unlink()  # a failed export removes its folder at once
    with pytest.raises(Exception):
        session.export_zip(svc, "pts", None)
    # nothing of ours is left (compared as a difference: other processes' exports may come and go meanwhile)
    assert not set(Path(tempfile.gettempdir()).glob("asmnet-export-*")) - before


def test_an_upload_is_decoded_once(svc, tmp_path, monkeypatch):
    """Item 3: the upload's check, its pre-label (detector and model) and its display copy share one decode;
    the store reads only the header and the bytes (sha256)."""
    import asmnet_studio.datasets.images as images

    decoded = []
    real = images._to_rgb  # every decode of a file into pixels goes through load_image, which ends here

    def counting(im):
        decoded.append(Path(im.filename).name)
        return real(im)

    monkeypatch.setattr(images, "_to_rgb", counting)
    svc.detect = lambda image: np.array([[10, 10, 90, 110]], np.float32)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    ids = session.add_uploads(svc, [str(synthetic.noise_png(inbox / "one.png", 7))])
    assert len(ids) == 1 and svc.store.latest_prediction(ids[0]) is not None
    assert decoded == ["one.png"]
