"""The landmark editor's browser side: its CSS and the JavaScript attached once to the component's root
(:data:`JS_ON_LOAD`). ``asmnet_studio.annotator.editor`` renders the SVG these act on and builds the component.

The script drags points locally and reports ``drag_end`` / ``select_point`` / ``box_end`` events in image pixels,
keeps the zoom and pan in the page, shows the hovered point's name and maps the keyboard shortcuts
(``editor.SHORTCUTS``) to the page's buttons.
"""

CSS = """
.lm-root { position: relative; user-select: none; -webkit-user-select: none; }
.lm-bar { display: flex; gap: 6px; align-items: center; margin-bottom: 4px; font-size: 13px; min-height: 28px; }
.lm-bar button.lm-zoom { min-width: 30px; height: 26px; border: 1px solid var(--border-color-primary, #ccc);
  border-radius: 4px; background: var(--background-fill-secondary, #f5f5f5); cursor: pointer; font-size: 15px; }
.lm-caption { color: var(--body-text-color-subdued, #666); margin-left: 6px; }
.lm-status { font-size: 13px; min-height: 20px; margin: 0 0 4px 2px; color: var(--body-text-color, #222); }
.lm-status .lm-level { font-weight: 600; }
.lm-status .lm-plausible { color: #1b873f; } .lm-status .lm-unusual { color: #b35900; }
.lm-status .lm-implausible { color: #c62828; }
.lm-status .lm-dirty { color: #b35900; font-weight: 600; } .lm-status .lm-clean { color: #1b873f; }
.lm-hover { margin-left: auto; font-family: ui-monospace, monospace; color: var(--body-text-color, #222); }
#landmark-editor { width: 100%; height: 68vh; background: #1b1b1b; display: block; touch-action: none;
  border-radius: 6px; cursor: grab; }
#landmark-editor.lm-panning { cursor: grabbing; }
#landmark-editor .lm-empty { fill: #bbb; font-size: 20px; }
#landmark-editor .lm-box { fill: none; stroke: #ffd54f; stroke-dasharray: 6 4; stroke-width: 1.5px;
  vector-effect: non-scaling-stroke; pointer-events: none; }
#landmark-editor .lm-handle { r: var(--lm-r, 3px); fill: #ffd54f; fill-opacity: 0.35; stroke: #ffd54f;
  stroke-width: 1.5px; vector-effect: non-scaling-stroke; cursor: nwse-resize; }
#landmark-editor .lm-handle[data-corner="1"], #landmark-editor .lm-handle[data-corner="3"] { cursor: nesw-resize; }
#landmark-editor .lm-edges { fill: none; stroke: rgba(0, 230, 255, 0.55); stroke-width: 1px;
  vector-effect: non-scaling-stroke; pointer-events: none; }
#landmark-editor .lm-pt { r: var(--lm-r, 3px); stroke: #000; stroke-width: 1px; vector-effect: non-scaling-stroke;
  cursor: move; }
#landmark-editor .lm-pred { fill: #00e5ff; }
#landmark-editor .lm-touched { fill: #ff9100; stroke: #fff; }
#landmark-editor .lm-lowconf { stroke: #ff1744; stroke-width: 2px; }
#landmark-editor .lm-occluded { fill-opacity: 0.15; stroke: #00e5ff; stroke-width: 2px; stroke-dasharray: 2 2; }
#landmark-editor .lm-touched.lm-occluded { stroke: #ff9100; }
#landmark-editor .lm-outside { fill: #ff1744; fill-opacity: 0.5; stroke: #ff1744; stroke-dasharray: 1 2; }
#landmark-editor .lm-selected { stroke: #fff; stroke-width: 3px; r: calc(var(--lm-r, 3px) * 1.7); }
#landmark-editor .lm-pt:hover { stroke: #fff; stroke-width: 2px; }
#landmark-editor .lm-dragging { fill: #ffea00; }
#landmark-editor image { filter: var(--lm-filter, none); }
#landmark-editor.lm-hide-overlay .lm-points, #landmark-editor.lm-hide-overlay .lm-edges,
#landmark-editor.lm-hide-overlay .lm-box, #landmark-editor.lm-hide-overlay .lm-handle { display: none; }
.lm-look { color: var(--body-text-color-subdued, #666); font-size: 12px; }
"""

#: Runs once when the component mounts; ``element`` is the component's root (it survives re-renders).
JS_ON_LOAD = r"""
const SCREEN_R = 4.5;       // point radius in screen pixels, whatever the zoom
let view = null;            // [x, y, w, h] of the viewBox while zoomed, or null = fit
let viewImage = null;       // data-image-id the view belongs to
let drag = null;            // {circle, index, id, moved, startX, startY}
let pan = null;
let boxDrag = null;         // {handle, corner, rect, box: [x0, y0, x1, y1], id, moved}
let look = {hide: false, bright: 1, contrast: 1};   // view-only: overlay hidden, image brightness / contrast

function svg() { return element.querySelector('#landmark-editor'); }
function toImage(s, evt) {
  const p = s.createSVGPoint(); p.x = evt.clientX; p.y = evt.clientY;
  return p.matrixTransform(s.getScreenCTM().inverse());
}
function fullBox(s) {
  return [-0.5, -0.5, parseFloat(s.dataset.width), parseFloat(s.dataset.height)];
}
function faceView(s) {        // the face box with a margin, or null = the whole image
  const f = (s.dataset.face || '').split(' ').map(parseFloat);
  if (f.length !== 4 || f.some(isNaN)) return null;
  const cx = (f[0] + f[2]) / 2, cy = (f[1] + f[3]) / 2, side = Math.max(f[2] - f[0], f[3] - f[1]) * 1.8;
  const full = fullBox(s);
  if (side >= 0.8 * Math.max(full[2], full[3])) return null;
  return [cx - side / 2, cy - side / 2, side, side];
}
function applyView() {
  const s = svg(); if (!s) return;
  if (s.dataset.imageId !== viewImage) { viewImage = s.dataset.imageId; view = faceView(s); }
  const b = view || fullBox(s);
  s.setAttribute('viewBox', b.join(' '));
  const ctm = s.getScreenCTM();
  const scale = ctm ? Math.abs(ctm.a) : 1;
  s.style.setProperty('--lm-r', (SCREEN_R / (scale || 1)).toFixed(3) + 'px');
  s.classList.toggle('lm-hide-overlay', look.hide);
  s.style.setProperty('--lm-filter', 'brightness(' + look.bright.toFixed(2) + ') contrast(' + look.contrast.toFixed(2) + ')');
  s.dataset.look = (look.hide ? 'hidden' : 'shown') + ' ' + look.bright.toFixed(2) + ' ' + look.contrast.toFixed(2);
  const out = element.querySelector('.lm-look');
  if (out) out.textContent = (look.hide ? 'points hidden (H) · ' : '') +
    (look.bright !== 1 || look.contrast !== 1 ? 'brightness ' + Math.round(look.bright * 100) + ' %, contrast ' +
     Math.round(look.contrast * 100) + ' %' : '');
}
window.__lmLook = (change) => {
  if (change === 'hide') look.hide = !look.hide;
  else if (change === 'reset') { look.bright = 1; look.contrast = 1; }
  else if (change === 'brighter') look.bright = Math.min(look.bright * 1.15, 4);
  else if (change === 'darker') look.bright = Math.max(look.bright / 1.15, 0.25);
  else if (change === 'contrast+') look.contrast = Math.min(look.contrast * 1.15, 4);
  else if (change === 'contrast-') look.contrast = Math.max(look.contrast / 1.15, 0.25);
  applyView();
};
function zoom(factor, cx, cy) {
  const s = svg(); if (!s) return;
  const b = view || fullBox(s);
  const full = fullBox(s);
  if (cx === undefined) { cx = b[0] + b[2] / 2; cy = b[1] + b[3] / 2; }
  let w = b[2] / factor, h = b[3] / factor;
  if (w >= full[2]) { view = null; applyView(); return; }
  w = Math.max(w, 8); h = Math.max(h, 8 * full[3] / full[2]);
  view = [cx - (cx - b[0]) * w / b[2], cy - (cy - b[1]) * h / b[3], w, h];
  applyView();
}
element.addEventListener('click', (e) => {
  const btn = e.target.closest('button.lm-zoom'); if (!btn) return;
  const z = btn.dataset.zoom;
  if (z === 'in') zoom(1.5); else if (z === 'out') zoom(1 / 1.5);
  else if (z === 'face') { const s = svg(); view = s ? faceView(s) : null; applyView(); }
  else { view = null; applyView(); }
});
element.addEventListener('wheel', (e) => {
  const s = svg(); if (!s || !e.target.closest('#landmark-editor')) return;
  e.preventDefault();
  const p = toImage(s, e);
  zoom(e.deltaY < 0 ? 1.25 : 0.8, p.x, p.y);
}, {passive: false});
element.addEventListener('pointerover', (e) => {
  const c = e.target.closest && e.target.closest('circle[data-index]');
  const out = element.querySelector('.lm-hover'); if (!out) return;
  out.textContent = c ? ('#' + c.dataset.index + '  ' + c.dataset.name) : '';
});
element.addEventListener('pointerdown', (e) => {
  const s = svg(); if (!s || e.button !== 0) return;
  const h = e.target.closest('circle.lm-handle');
  if (h) {
    e.preventDefault();
    const r = s.querySelector('rect.lm-box');
    const b = [parseFloat(r.getAttribute('x')), parseFloat(r.getAttribute('y'))];
    b.push(b[0] + parseFloat(r.getAttribute('width')), b[1] + parseFloat(r.getAttribute('height')));
    boxDrag = {handle: h, corner: parseInt(h.dataset.corner), rect: r, box: b, id: e.pointerId, moved: false};
    element.setPointerCapture(e.pointerId);
    return;
  }
  const c = e.target.closest('circle[data-index]');
  if (c) {
    e.preventDefault();
    drag = {circle: c, index: parseInt(c.dataset.index), moved: false, sx: e.clientX, sy: e.clientY,
            id: e.pointerId};
    c.classList.add('lm-dragging');
    element.setPointerCapture(e.pointerId);
  } else if (e.target.closest('#landmark-editor') && view) {
    pan = {sx: e.clientX, sy: e.clientY, view: view.slice(), scale: Math.abs(s.getScreenCTM().a), id: e.pointerId};
    s.classList.add('lm-panning');
    element.setPointerCapture(e.pointerId);
  }
});
element.addEventListener('pointermove', (e) => {
  if (boxDrag && e.pointerId === boxDrag.id) {
    const p = toImage(svg(), e), b = boxDrag.box, k = boxDrag.corner;
    if (k === 0 || k === 3) b[0] = p.x; else b[2] = p.x;
    if (k === 0 || k === 1) b[1] = p.y; else b[3] = p.y;
    boxDrag.moved = true;
    boxDrag.handle.setAttribute('cx', p.x.toFixed(2)); boxDrag.handle.setAttribute('cy', p.y.toFixed(2));
    const r = boxDrag.rect;
    r.setAttribute('x', Math.min(b[0], b[2]).toFixed(2)); r.setAttribute('y', Math.min(b[1], b[3]).toFixed(2));
    r.setAttribute('width', Math.abs(b[2] - b[0]).toFixed(2)); r.setAttribute('height', Math.abs(b[3] - b[1]).toFixed(2));
    return;
  }
  if (drag && e.pointerId === drag.id) {
    if (Math.hypot(e.clientX - drag.sx, e.clientY - drag.sy) >= 2) drag.moved = true;
    if (!drag.moved) return;
    const p = toImage(svg(), e);
    drag.circle.setAttribute('cx', p.x.toFixed(2)); drag.circle.setAttribute('cy', p.y.toFixed(2));
  } else if (pan && e.pointerId === pan.id) {
    view = [pan.view[0] - (e.clientX - pan.sx) / pan.scale, pan.view[1] - (e.clientY - pan.sy) / pan.scale,
            pan.view[2], pan.view[3]];
    applyView();
  }
});
function endDrag(e, cancelled) {
  if (boxDrag && e.pointerId === boxDrag.id) {
    const d = boxDrag; boxDrag = null;
    if (cancelled || !d.moved) return;
    const b = d.box;
    trigger('box_end', {x0: Math.min(b[0], b[2]), y0: Math.min(b[1], b[3]), x1: Math.max(b[0], b[2]),
                        y1: Math.max(b[1], b[3])});
    return;
  }
  if (pan && e.pointerId === pan.id) { pan = null; const s = svg(); if (s) s.classList.remove('lm-panning'); return; }
  if (!drag || e.pointerId !== drag.id) return;
  const d = drag; drag = null;
  d.circle.classList.remove('lm-dragging');
  if (cancelled) return;
  if (d.moved) {
    const p = toImage(svg(), e);
    window.__lmPointerUp = performance.now(); window.__lmLastUp = window.__lmPointerUp;
    trigger('drag_end', {index: d.index, x: p.x, y: p.y});
  } else {
    trigger('select_point', {index: d.index});
  }
}
element.addEventListener('pointerup', (e) => endDrag(e, false));
element.addEventListener('pointercancel', (e) => endDrag(e, true));
watch('value', applyView);
new ResizeObserver(() => applyView()).observe(element);
applyView();

if (!window.__lmKeys) {
  window.__lmKeys = true;
  const press = (id) => {
    const el = document.getElementById(id);
    if (!el) return false;
    const target = el.matches('button, input') ? el : el.querySelector('button, input');
    if (target) target.click();
    return !!target;
  };
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName)) &&
        !(t.type === 'checkbox' || t.type === 'radio' || t.type === 'range')) return;
    const ctrl = e.ctrlKey || e.metaKey, k = e.key.toLowerCase();
    let id = null;
    if (ctrl && k === 'z' && !e.shiftKey) id = 'btn-undo';
    else if (ctrl && (k === 'y' || (k === 'z' && e.shiftKey))) id = 'btn-redo';
    else if (ctrl && k === 's') id = 'btn-save';
    else if (ctrl || e.altKey) return;
    else if (k === 'n' || k === 'arrowright') id = 'btn-next';
    else if (k === 'p' || k === 'arrowleft') id = 'btn-prev';
    else if (k === 'd') id = 'btn-done';
    else if (k === 'm') id = 'chk-mirror';
    else if (k === 'v') {
      const radios = Array.from(document.querySelectorAll('#radio-visibility input[type=radio]'));
      if (!radios.length) return;
      const i = radios.findIndex(r => r.checked);
      if (i < 0) return;             // no point selected: nothing to toggle
      radios[(i + 1) % radios.length].click(); e.preventDefault(); return;
    }
    else if (k === 'h') { window.__lmLook('hide'); e.preventDefault(); return; }
    else if (k === 'g') {
      const g = document.querySelector('#goto-number input'); if (g) { g.focus(); g.select(); e.preventDefault(); }
      return;
    }
    else if (e.key === ']') { window.__lmLook('brighter'); e.preventDefault(); return; }
    else if (e.key === '[') { window.__lmLook('darker'); e.preventDefault(); return; }
    else if (e.key === '}') { window.__lmLook('contrast+'); e.preventDefault(); return; }
    else if (e.key === '{') { window.__lmLook('contrast-'); e.preventDefault(); return; }
    else if (e.key === '\\') { window.__lmLook('reset'); e.preventDefault(); return; }
    else if (k === '+' || k === '=') { zoom(1.5); e.preventDefault(); return; }
    else if (k === '-') { zoom(1 / 1.5); e.preventDefault(); return; }
    else if (k === '0') { view = null; applyView(); e.preventDefault(); return; }
    else if (k === 'f') { const s = svg(); view = s ? faceView(s) : null; applyView(); e.preventDefault(); return; }
    if (id && press(id)) e.preventDefault();
  });
}
"""
