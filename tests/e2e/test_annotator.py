"""The annotator in a real browser: drag with the mouse, shape-model refit, undo/redo, save, restart,
mirror mode, export, evaluation plots, and a refused conflicting save from a second tab."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

pytestmark = pytest.mark.e2e

POINTS_JS = "cs => cs.map(c => [parseFloat(c.getAttribute('cx')), parseFloat(c.getAttribute('cy'))])"
TIMEOUT = 20_000


def open_page(studio_browser, server):
    page = studio_browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT)
    page.goto(server.url)
    page.wait_for_selector("#landmark-editor circle[data-index]")
    return page


def version(page) -> str:
    return page.get_attribute("#landmark-editor", "data-version")


def wait_redraw(page, old: str) -> None:
    page.wait_for_function("v => document.querySelector('#landmark-editor').dataset.version !== v", arg=old)


def points(page) -> np.ndarray:
    return np.array(page.eval_on_selector_all("#landmark-editor circle[data-index]", POINTS_JS))


def image_id(page) -> int:
    return int(page.get_attribute("#landmark-editor", "data-image-id"))


def to_image(page, x: float, y: float) -> np.ndarray:
    """Screen (page) pixels -> image pixels, with the SVG's own transform."""
    return np.array(page.evaluate("""([x, y]) => {
        const s = document.querySelector('#landmark-editor'); const p = s.createSVGPoint();
        p.x = x; p.y = y; const q = p.matrixTransform(s.getScreenCTM().inverse()); return [q.x, q.y]; }""", [x, y]))


def drag(page, index: int, dx: float, dy: float) -> np.ndarray:
    """Drag point ``index`` by (dx, dy) screen pixels with the mouse; returns the drop in image pixels."""
    box = page.locator(f'#landmark-editor circle[data-index="{index}"]').bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    drop = to_image(page, x + dx, y + dy)
    old = version(page)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=8)
    page.mouse.up()
    wait_redraw(page, old)
    return drop


def click_and_redraw(page, selector: str) -> None:
    old = version(page)
    page.click(selector)
    wait_redraw(page, old)


def test_drag_refit_undo_redo_save_and_restart(studio_browser, server):
    page = open_page(studio_browser, server)
    face = image_id(page)
    before = points(page)
    drop = drag(page, 8, 10, 24)
    after = points(page)
    assert np.abs(after[8] - drop).max() <= 1.0, "the dragged point stays where it was dropped"
    others = np.delete(np.linalg.norm(after - before, axis=1), 8)
    assert others.max() > 0.5, "the shape model moved the other points"
    assert page.locator('#landmark-editor circle[data-index="8"].lm-touched').count() == 1

    click_and_redraw(page, "#btn-undo")
    assert np.allclose(points(page), before, atol=0.01)
    click_and_redraw(page, "#btn-redo")
    assert np.allclose(points(page), after, atol=0.01)

    page.click("#btn-save")
    page.get_by_text("saved by e2e").first.wait_for()
    saved = server.svc.store.latest(face)
    assert saved.author == "e2e" and saved.source == "correction"
    assert np.allclose(saved.points, after, atol=0.01)
    page.close()

    server.restart()
    page = open_page(studio_browser, server)
    assert image_id(page) == face, "the queue opens on the same first face"
    assert np.allclose(points(page), saved.points, atol=0.01), "reopening shows exactly what was saved"
    page.close()


def test_mirror_mode_moves_the_partner(studio_browser, server):
    page = open_page(studio_browser, server)
    page.click("#chk-mirror input")
    before = points(page)
    drag(page, 36, -8, 0)                       # outer corner of the subject's right eye, outwards
    after = points(page)
    d36, d45 = after[36] - before[36], after[45] - before[45]
    from asmnet_studio.annotator import editing
    from asmnet_studio.datasets.schemas import IBUG68

    _, axis = editing.midline(before, [p for p in IBUG68.flip_pairs if 36 not in p])
    expected = editing.reflect_vector(d36, axis)
    assert np.linalg.norm(d36) > 1 and np.abs(d45 - expected).max() <= 1.0, \
        f"the partner (45) moves by the mirror image of the drag: {d36} -> {d45}, expected {expected}"
    page.close()


def test_export_contains_the_moved_point(studio_browser, server):
    page = open_page(studio_browser, server)
    drop = drag(page, 30, 6, -5)
    page.click("#btn-done")
    page.get_by_text("marked done").first.wait_for()          # saved as done, then the next face opens
    page.get_by_role("tab", name="Export").click()
    page.click("#btn-export")
    link = page.locator("#export-file a[href*='.zip']").first
    link.wait_for()
    data = page.request.get(link.get_attribute("href")).body()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = [n for n in z.namelist() if n.endswith(".pts")]
        texts = [z.read(n).decode() for n in names]
    assert names
    found = False
    for text in texts:
        rows = [ln.split() for ln in text.splitlines() if ln[:1].isdigit() or ln[:1] == "-"]
        coords = np.array([[float(a), float(b)] for a, b in (r[:2] for r in rows if len(r) >= 2)])
        if len(coords) == 68 and np.abs(coords[30] - 1 - drop).max() <= 1.0:   # .pts is 1-based
            found = True
    assert found, "the exported .pts holds point 30 where it was dropped"
    page.close()


def test_evaluate_tab_renders_plots(studio_browser, server):
    page = open_page(studio_browser, server)
    drag(page, 48, 5, 5)
    page.click("#btn-save")
    page.get_by_text("saved by e2e").first.wait_for()
    page.get_by_role("tab", name="Evaluate").click()
    for plot in ("#plot-ced", "#plot-fr", "#plot-landmarks", "#plot-pose"):
        page.locator(f"{plot} .js-plotly-plot").first.wait_for()
    page.locator("#worst-gallery img").first.wait_for()
    page.get_by_text("have both a model prediction").first.wait_for()
    page.locator("#worst-gallery img").first.click()
    page.locator("#landmark-editor").wait_for(state="visible")
    page.close()


def test_conflicting_save_from_a_second_tab_is_refused(studio_browser, server):
    a = open_page(studio_browser, server)
    b = open_page(studio_browser, server)
    assert image_id(a) == image_id(b)
    face = image_id(a)
    n = len(server.svc.store.history(face))
    drag(a, 20, 0, -6)
    a.click("#btn-save")
    a.get_by_text("saved by e2e").first.wait_for()
    assert len(server.svc.store.history(face)) == n + 1
    drag(b, 23, 0, -6)
    b.click("#btn-save")
    b.get_by_text("Not saved", exact=False).first.wait_for()
    assert len(server.svc.store.history(face)) == n + 1, "nothing was overwritten"
    a.close()
    b.close()


def test_zoom_keeps_drops_exact_and_keyboard_shortcuts(studio_browser, server):
    page = open_page(studio_browser, server)
    start = page.get_attribute("#landmark-editor", "viewBox")
    w, h = (page.get_attribute("#landmark-editor", a) for a in ("data-width", "data-height"))
    full = f"-0.5 -0.5 {w} {h}"
    assert start != full, "a face opens zoomed to its face box"
    box = page.locator('#landmark-editor circle[data-index="33"]').bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(3):                                   # the wheel zooms about the pointer
        page.mouse.wheel(0, -120)
    page.wait_for_function("v => document.querySelector('#landmark-editor').getAttribute('viewBox') !== v", arg=start)
    page.click("button.lm-zoom[data-zoom=in]")
    zoomed = page.get_attribute("#landmark-editor", "viewBox")
    assert zoomed not in (full, start)
    before = points(page)
    drop = drag(page, 33, 9, 6)
    after = points(page)
    assert np.abs(after[33] - drop).max() <= 1.0, "screen -> image conversion stays exact when zoomed"
    assert page.get_attribute("#landmark-editor", "viewBox") == zoomed, "a redraw keeps the zoom"
    old = version(page)
    page.keyboard.press("Control+z")
    wait_redraw(page, old)
    assert np.allclose(points(page), before, atol=0.01)
    old = version(page)
    page.keyboard.press("Control+y")
    wait_redraw(page, old)
    assert np.allclose(points(page), after, atol=0.01)
    page.click("button.lm-zoom[data-zoom=fit]")
    assert page.get_attribute("#landmark-editor", "viewBox") == full
    page.close()


def test_queue_row_opens_the_face(studio_browser, server):
    page = open_page(studio_browser, server)
    first = image_id(page)
    page.get_by_role("tab", name="Queue").click()
    other = next(r for r in server.svc.store.images() if r.id != first)
    page.locator("#queue-table").get_by_text(other.path.name).first.click()
    page.wait_for_function("id => document.querySelector('#landmark-editor').dataset.imageId === String(id)",
                           arg=other.id)
    assert page.locator("#landmark-editor").is_visible(), "the Annotate tab is shown"
    page.close()


def test_dragging_a_box_corner_reruns_the_model(studio_browser, server):
    page = open_page(studio_browser, server)
    before = points(page)
    handle = page.locator('#landmark-editor circle.lm-handle[data-corner="2"]').bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    corner = to_image(page, x + 25, y + 20)
    old = version(page)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 25, y + 20, steps=8)
    page.mouse.up()
    wait_redraw(page, old)
    rect = page.locator("#landmark-editor rect.lm-box")
    x1 = float(rect.get_attribute("x")) + float(rect.get_attribute("width"))
    y1 = float(rect.get_attribute("y")) + float(rect.get_attribute("height"))
    assert abs(x1 - corner[0]) <= 1.5 and abs(y1 - corner[1]) <= 1.5
    assert np.abs(points(page) - before).max() > 1.0, "the model ran again in the new box"
    click_and_redraw(page, "#btn-undo")
    assert np.allclose(points(page), before, atol=0.01)
    page.close()
