"""Issue 17, item 7 in a real browser: a workspace whose first image file is gone (a box, no prediction yet)
still starts and opens; the queue marks the face, and the Queue tab's "Remove image from workspace…" asks
first, then takes the picture out (archived in the workspace, its other images untouched)."""
from __future__ import annotations

import pytest

from tests.annotator.synthetic import FakePredictor, noise_png
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e
TIMEOUT = 180_000  # the shared 2-core machine is slow under load


def test_missing_image_is_marked_and_removed_from_the_queue(studio_browser, tmp_path):
    from asmnet_studio.annotator.queue import MISSING_LABEL
    from asmnet_studio.datasets.store import Workspace

    db = tmp_path / "ws.db"
    with Workspace(db) as ws:
        gone_id = ws.add_image(noise_png(tmp_path / "gone.png", 1, size=(160, 200)), box=[30, 20, 170, 150])
        kept_id = ws.add_image(noise_png(tmp_path / "kept.png", 2, size=(160, 200)), box=[30, 20, 170, 150])
    (tmp_path / "gone.png").unlink()
    srv = Server(db, FakePredictor())  # starts: the missing file is reported, not fatal
    try:
        assert srv.svc.store.latest_prediction(kept_id) is not None
        assert srv.svc.store.latest_prediction(gone_id) is None
        page = studio_browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(TIMEOUT)
        page.goto(srv.url)
        page.get_by_role("tab", name="Queue").click()
        table = page.locator("#queue-table")
        page.wait_for_function("t => document.querySelector('#queue-table').innerText.includes(t)", arg=MISSING_LABEL)
        page.get_by_text("Remove an image from the workspace").click()
        page.locator("#remove-id input").fill(str(gone_id))
        page.locator("#btn-remove").click()
        page.wait_for_function("() => [...document.querySelectorAll('#remove-prompt')].some(e => e.offsetParent"
                               " && e.innerText.includes('gone.png')"
                               " && e.innerText.includes('Its image file is missing'))")
        assert srv.svc.store.images()[0].id == gone_id, "nothing removed before the answer"
        page.locator("#btn-remove-yes").first.click()
        page.wait_for_function("() => !document.querySelector('#queue-table').innerText.includes('gone.png')")
        assert "kept.png" in table.inner_text() and MISSING_LABEL not in table.inner_text()
        assert [r.id for r in srv.svc.store.images()] == [kept_id]
        page.wait_for_function("() => [...document.querySelectorAll('#remove-prompt')].every(e => !e.offsetParent)")
        page.close()
    finally:
        srv.stop()
