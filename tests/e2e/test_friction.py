"""Issue 15's friction fixes, as a person sees them in the browser: leaving a face with unsaved edits asks
first, Mark done moves on, Reset then Undo is clean again, keyboard shortcuts for visibility, overlay,
brightness and go-to, and the Evaluate tab's defaults."""
from __future__ import annotations

import numpy as np
import pytest

from tests.e2e.test_annotator import click_and_redraw, drag, image_id, open_page, points, version, wait_redraw

pytestmark = pytest.mark.e2e


def status_line(page) -> str:
    return page.inner_text(".lm-status")


def test_leaving_unsaved_edits_asks_and_done_moves_on(studio_browser, server):
    page = open_page(studio_browser, server)
    first = image_id(page)
    drag(page, 30, 5, 4)
    assert "unsaved changes" in status_line(page)
    page.click("#btn-next")
    page.locator("#btn-leave-save").wait_for()
    assert image_id(page) == first, "nothing moves before the answer"
    page.click("#btn-leave-stay")
    page.locator("#btn-leave-stay").wait_for(state="hidden")
    assert image_id(page) == first and "unsaved changes" in status_line(page)
    page.click("#btn-next")
    page.locator("#btn-leave-discard").wait_for()
    old = version(page)
    page.click("#btn-leave-discard")
    wait_redraw(page, old)
    assert image_id(page) != first and server.svc.store.latest(first) is None, "discarded: nothing saved"
    second = image_id(page)
    old = version(page)
    page.keyboard.press("d")                                   # Mark done: saved, and the next face opens
    page.get_by_text("marked done").first.wait_for()
    wait_redraw(page, old)
    assert image_id(page) not in (second,) and server.svc.store.latest(second).status == "done"
    page.close()


def test_reset_then_undo_is_clean_and_shortcuts(studio_browser, server):
    page = open_page(studio_browser, server)
    drag(page, 8, 6, 6)
    page.click("#btn-save")
    page.get_by_text("✓ saved").first.wait_for()
    saved = points(page)
    click_and_redraw(page, "#btn-reset")
    assert "unsaved changes" in status_line(page)
    click_and_redraw(page, "#btn-undo")
    assert np.allclose(points(page), saved, atol=0.01) and "✓ saved" in status_line(page)

    svg = "#landmark-editor"
    page.keyboard.press("h")
    assert page.eval_on_selector(svg, "s => s.dataset.look").startswith("hidden")
    assert not page.locator(f'{svg} circle[data-index="0"]').is_visible()
    page.keyboard.press("h")
    page.keyboard.press("]")
    page.keyboard.press("}")
    look = page.eval_on_selector(svg, "s => s.dataset.look").split()
    assert look[0] == "shown" and float(look[1]) > 1.1 and float(look[2]) > 1.1
    assert "brightness" in page.eval_on_selector(f"{svg} image", "i => getComputedStyle(i).filter")
    page.keyboard.press("\\")
    assert page.eval_on_selector(svg, "s => s.dataset.look") == "shown 1.00 1.00"

    page.locator(f'{svg} circle[data-index="36"]').click()     # select, then V: visible -> occluded
    page.locator("#radio-visibility input[value='visible']:checked").wait_for()
    old = version(page)
    page.keyboard.press("v")
    wait_redraw(page, old)
    assert page.locator(f'{svg} circle[data-index="36"].lm-occluded').count() == 1

    target = server.svc.store.queue()
    old = version(page)
    page.keyboard.press("g")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    page.locator("#btn-leave-save").wait_for()   # the visibility change
    page.click("#btn-leave-save")
    wait_redraw(page, old)
    assert len(target) >= 2
    page.close()


def test_evaluate_defaults_fit_the_data(studio_browser, server):
    from asmnet_studio.annotator import evaluation_view

    page = open_page(studio_browser, server)
    page.get_by_role("tab", name="Evaluate").click()
    ref, norm = evaluation_view.default_choices(server.svc.store, server.svc.schema)
    page.locator("#eval-reference input:checked").wait_for()
    assert page.eval_on_selector("#eval-reference input:checked", "i => i.value") == ref
    assert page.eval_on_selector("#eval-normaliser input", "i => i.value") == norm
    page.close()
