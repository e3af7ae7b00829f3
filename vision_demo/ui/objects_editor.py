"""Your objects' picture editor, in the browser: the camera and its capture bursts, and the boxes drawn on each picture.

Gradio 6 has no rectangle tool on an image (see ui/iou_tab.py), so this is a gr.HTML component with its own
JS, as the Detect tab's live webcam is (ui/live_webcam.py). It talks to the server through `server_functions`
(`/gradio_api/component_server`: same server, no queue slot), each call one small JSON payload:

    objects_state({set})                      -> classes, pictures, boxes per class          (on load, after changes)
    objects_picture({set, picture})           -> the JPEG as a data URL, its size, boxes, label assist's proposals
    objects_save({set, picture, boxes})       -> the boxes as stored (checked on the server: one sentence if not)
    objects_capture({set, image, assist})     -> a new picture's name (with proposals when a detector is trained)
    objects_delete({set, picture})
    objects_live({set, image})                -> the set's best trained detector's boxes on one camera frame

Drawing: drag across an object (or click two opposite corners); a click on a box selects it, then drag it to
move it, drag a corner to resize it. Keys (while the mouse is not in a text field): 1-6 class (also of the
selected box), ← → (or A D) previous / next picture, Delete removes the selected box, Ctrl+Z (or Z) undoes,
C copies the previous picture's boxes (a burst barely moves), Enter accepts label assist's proposals, Esc drops
a half-drawn box. Every change is saved at once; the server checks every box (inside the picture, a real size,
a known class, finite numbers) as it would from any script.

The set id comes from the page (window.vdObjectsSet, set by a JS-only event after the page's load event):
the component itself never holds it in its HTML.
"""
from __future__ import annotations

import gradio as gr

from vision_demo.ui.common import WEBCAM_CAPTURE

BURST = 20                # pictures one press of Capture takes
BURST_GAP_MS = 200        # between two of them (~4 s a burst: move the objects a little while it runs)
JPEG_QUALITY = 0.9        # the picture the boxes are drawn on: keep edges sharp
PALETTE = ("#ff3838", "#2c7be5", "#2ca02c", "#ff9d00", "#9467bd", "#17becf")

HTML = """
<div class="vd-obj" id="objects-editor" tabindex="0">
  <div class="vd-obj-bar">
    <button class="vd-obj-cam" id="objects-cam-start">&#9654; Start camera</button>
    <button class="vd-obj-capture" id="objects-capture" disabled>&#9679; Capture @burst</button>
    <label class="vd-obj-assist"><input type="checkbox" id="objects-assist" checked> label assist</label>
    <button class="vd-obj-live" id="objects-live" title="the camera with your trained detector's boxes">&#9673; Live boxes</button>
    <video class="vd-obj-video" playsinline muted></video>
  </div>
  <div class="vd-obj-classes" id="objects-classes"></div>
  <canvas class="vd-obj-canvas" id="objects-canvas" width="640" height="480"></canvas>
  <div class="vd-obj-bar">
    <button id="objects-prev" title="previous picture (←)">&#9664;</button>
    <span class="vd-obj-where" id="objects-where">no pictures yet</span>
    <button id="objects-next" title="next picture (→)">&#9654;</button>
    <button id="objects-undo" title="undo (Ctrl+Z)">&#8630; Undo</button>
    <button id="objects-delete-box" title="delete the selected box (Delete)">Delete box</button>
    <button id="objects-copy" title="copy the previous picture's boxes (C)">Copy previous</button>
    <button id="objects-accept" title="accept the proposed boxes (Enter)">&#10004; Accept</button>
    <button id="objects-delete-picture" title="delete this picture">Delete picture</button>
  </div>
  <div class="vd-obj-line" id="objects-line"><b>Start camera</b>, then <b>Capture</b> (or upload pictures); then drag
    a box around each object. Keys: 1–6 class · ← → picture · Delete · Ctrl+Z · C copy previous · Enter accept.</div>
</div>
"""

CSS = """
.vd-obj:focus { outline: none; }
.vd-obj-bar { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 4px 0; }
.vd-obj-bar button, .vd-obj-classes button { font-size: 1rem; font-weight: 600; padding: 4px 12px; border-radius: 8px;
  border: 1px solid var(--border-color-primary); cursor: pointer; background: var(--button-secondary-background-fill); }
.vd-obj-bar button:disabled { opacity: 0.45; cursor: default; }
.vd-obj-cam, .vd-obj-capture, .vd-obj-live { background: var(--button-primary-background-fill) !important;
  color: var(--button-primary-text-color); }
.vd-obj-video { width: 120px; height: 90px; object-fit: cover; border-radius: 6px; background: #111; transform: scaleX(-1); }
.vd-obj-classes { display: flex; gap: 6px; flex-wrap: wrap; margin: 4px 0; }
.vd-obj-classes button.vd-on { outline: 3px solid currentColor; }
.vd-obj-canvas { display: block; width: 100%; max-height: 440px; object-fit: contain; background: #222;
  border-radius: 8px; cursor: crosshair; touch-action: none; }
.vd-obj-where { min-width: 16em; text-align: center; font-size: 0.95rem; }
.vd-obj-line { font-size: 0.95rem; margin-top: 4px; line-height: 1.35; }
.vd-obj-line.vd-bad { color: #c00; font-weight: 600; }
"""

# `element`, `server` and `props` are given by gr.HTML (js_on_load). Template strings are avoided: the
# component's templates would read them as their own placeholders.
JS = """
const PAL = props.palette;
const canvas = element.querySelector('canvas'), ctx = canvas.getContext('2d');
const video = element.querySelector('video');
const $ = id => element.querySelector('#' + id);
const line = $('objects-line'), where = $('objects-where'), classBar = $('objects-classes');
const grab = document.createElement('canvas'), grabCtx = grab.getContext('2d');
const S = {classes: [], pictures: [], counts: {}, idx: -1, cls: 0, pic: null, img: null, w: 640, h: 480,
           boxes: [], proposed: false, undo: [], sel: -1, drag: null, corner: null, busy: false, saving: Promise.resolve()};
let stream = null, live = false;
window.vdObjects = S;   // tests and the console can read the editor's state

function say(html, bad) { line.innerHTML = html; line.classList.toggle('vd-bad', !!bad); }
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c])); }
const sleep = ms => new Promise(r => setTimeout(r, ms));
function setId() { return window.vdObjectsSet || ''; }
async function call(name, payload) {
  let answer;
  try { answer = await server[name]({set: setId(), ...payload}); }
  catch (err) { answer = {error: 'the server did not answer (' + err + ')'}; }
  if (!answer) answer = {error: 'the server did not answer: is it still running?'};
  if (answer.error) say(esc(answer.error), true);
  return answer;
}
function colour(name) { const i = S.classes.indexOf(name); return PAL[(i < 0 ? 0 : i) % PAL.length]; }

function drawClasses() {
  classBar.innerHTML = '';
  S.classes.forEach((name, i) => {
    const b = document.createElement('button');
    b.textContent = (i + 1) + ' · ' + name + ' (' + (S.counts[name] || 0) + ')';
    b.style.color = PAL[i % PAL.length];
    b.dataset.cls = String(i);
    if (i === S.cls) b.classList.add('vd-on');
    b.addEventListener('click', () => pickClass(i));
    classBar.appendChild(b);
  });
}

function draw() {
  if (live) return;   // the live view owns the canvas
  if (!S.img) { ctx.fillStyle = '#222'; ctx.fillRect(0, 0, canvas.width, canvas.height); return; }
  if (canvas.width !== S.w || canvas.height !== S.h) { canvas.width = S.w; canvas.height = S.h; }
  ctx.drawImage(S.img, 0, 0);
  const lw = Math.max(2, Math.round(Math.max(S.w, S.h) / 240)), size = Math.max(14, Math.round(Math.max(S.w, S.h) / 32));
  ctx.font = '600 ' + size + 'px sans-serif'; ctx.textBaseline = 'top';
  S.boxes.forEach((b, i) => {
    const [x1, y1, x2, y2] = b.xyxy, c = colour(b['class']);
    ctx.setLineDash(S.proposed ? [8, 6] : []);
    ctx.lineWidth = i === S.sel ? lw * 2 : lw; ctx.strokeStyle = c; ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.setLineDash([]);
    const text = b['class'] + (S.proposed && b.conf ? ' ' + b.conf.toFixed(2) + '?' : '');
    const tw = ctx.measureText(text).width + 8, ty = y1 - size - 6 >= 0 ? y1 - size - 6 : y1;
    ctx.fillStyle = c; ctx.fillRect(x1 - lw / 2, ty, tw, size + 6); ctx.fillStyle = '#fff'; ctx.fillText(text, x1 + 4, ty + 3);
    if (i === S.sel) for (const [hx, hy] of corners(b)) { ctx.fillStyle = '#fff'; ctx.fillRect(hx - 5, hy - 5, 10, 10);
                                                        ctx.strokeRect(hx - 5, hy - 5, 10, 10); }
  });
  if (S.drag && S.drag.mode === 'new') {
    const [x1, y1, x2, y2] = norm(S.drag.x0, S.drag.y0, S.drag.x, S.drag.y);
    ctx.lineWidth = lw; ctx.strokeStyle = PAL[S.cls % PAL.length]; ctx.setLineDash([4, 4]);
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1); ctx.setLineDash([]);
  }
  if (S.corner) { ctx.strokeStyle = '#fff'; ctx.lineWidth = 2; const [x, y] = S.corner;
                  ctx.beginPath(); ctx.moveTo(x - 10, y); ctx.lineTo(x + 10, y); ctx.moveTo(x, y - 10); ctx.lineTo(x, y + 10); ctx.stroke(); }
  canvas.dataset.boxes = String(S.boxes.length);
}

function status() {
  const n = S.pictures.length;
  if (S.idx < 0 || !n) { where.textContent = 'no pictures yet'; return; }
  const state = S.proposed ? 'proposed by the model: correct, or Enter to accept' :
                S.labelled ? (S.boxes.length ? S.boxes.length + ' box' + (S.boxes.length > 1 ? 'es' : '') : 'background (no box)') : 'no boxes yet';
  where.textContent = 'picture ' + (S.idx + 1) + ' / ' + n + ' · ' + state;
  where.dataset.picture = S.pic || '';
}
function norm(ax, ay, bx, by) {
  const c = v => Math.round(v * 10) / 10;
  return [c(Math.max(0, Math.min(ax, bx))), c(Math.max(0, Math.min(ay, by))), c(Math.min(S.w, Math.max(ax, bx))), c(Math.min(S.h, Math.max(ay, by)))];
}
function corners(b) { const [x1, y1, x2, y2] = b.xyxy; return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]; }
function at(evt) {
  const r = canvas.getBoundingClientRect();
  // object-fit: contain — the picture fills the width or the height of the element, centred.
  const scale = Math.min(r.width / S.w, r.height / S.h), ox = (r.width - S.w * scale) / 2, oy = (r.height - S.h * scale) / 2;
  return [(evt.clientX - r.left - ox) / scale, (evt.clientY - r.top - oy) / scale, 8 / scale];
}

async function load(state) {
  // state: objects_state's answer; keeps the current picture when it still exists
  if (state.error) return;
  S.classes = state.classes; S.counts = state.counts; S.pictures = state.pictures;
  if (S.cls >= S.classes.length) S.cls = 0;
  drawClasses();
  if (!S.pictures.length) { S.idx = -1; S.pic = null; S.img = null; S.boxes = []; draw(); status(); return; }
  const i = S.pictures.indexOf(S.pic);
  await show(i >= 0 ? i : S.pictures.length - 1);
}
async function refresh() { await load(await call('objects_state', {})); }
window.vdObjectsReload = refresh;

async function show(i) {
  if (!S.pictures.length) return;
  i = Math.max(0, Math.min(S.pictures.length - 1, i));
  await S.saving;
  const name = S.pictures[i];
  const answer = await call('objects_picture', {picture: name});
  if (answer.error) return;
  const img = new Image();
  await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = reject; img.src = answer.image; }).catch(() => {});
  Object.assign(S, {idx: i, pic: name, img, w: answer.w, h: answer.h, labelled: answer.labelled, sel: -1, undo: [],
                    corner: null, drag: null});
  S.proposed = !answer.labelled && answer.proposed.length > 0;
  S.boxes = S.proposed ? answer.proposed : answer.boxes;
  draw(); status();
}

function remember() { S.undo.push(JSON.stringify(S.boxes)); if (S.undo.length > 100) S.undo.shift(); }
function save() {
  // One save at a time, in order; the editor shows what the server stored (it checks every box).
  const picture = S.pic, boxes = S.boxes.map(b => ({'class': b['class'], xyxy: b.xyxy}));
  S.proposed = false; S.labelled = true;
  S.saving = S.saving.then(async () => {
    const answer = await call('objects_save', {picture, boxes});
    if (answer.error) { if (picture === S.pic) { const a = await call('objects_picture', {picture});
                                                 if (!a.error) { S.boxes = a.boxes; S.labelled = a.labelled; draw(); status(); } }
                        return; }
    S.counts = answer.counts; drawClasses();
    if (picture === S.pic) { say('Saved ' + boxes.length + ' box' + (boxes.length === 1 ? '' : 'es') + ' on picture ' + (S.idx + 1) + '.'); }
    trigger('change');   // the panel beside the editor re-reads the counts
  });
  draw(); status();
  return S.saving;
}

function pickClass(i) {
  if (i < 0 || i >= S.classes.length) return;
  S.cls = i; drawClasses();
  if (S.sel >= 0) { remember(); S.boxes[S.sel]['class'] = S.classes[i]; save(); }
}

canvas.addEventListener('pointerdown', evt => {
  if (!S.img || live) return;
  element.focus({preventScroll: true});
  const [x, y, tol] = at(evt);
  canvas.setPointerCapture(evt.pointerId);
  if (S.sel >= 0) {   // a corner of the selected box: resize from the opposite one
    const cs = corners(S.boxes[S.sel]);
    const k = cs.findIndex(([hx, hy]) => Math.abs(hx - x) <= tol && Math.abs(hy - y) <= tol);
    if (k >= 0) { const [ox, oy] = cs[(k + 2) % 4]; remember(); S.drag = {mode: 'resize', x0: ox, y0: oy, x, y}; return; }
  }
  const hit = S.boxes.map((b, i) => [b, i]).filter(([b]) => x >= b.xyxy[0] && x <= b.xyxy[2] && y >= b.xyxy[1] && y <= b.xyxy[3])
                     .sort((a, b) => (a[0].xyxy[2] - a[0].xyxy[0]) * (a[0].xyxy[3] - a[0].xyxy[1]) -
                                     (b[0].xyxy[2] - b[0].xyxy[0]) * (b[0].xyxy[3] - b[0].xyxy[1]));
  if (hit.length && !S.corner) {   // the smallest box under the pointer: select it, drag to move
    S.sel = hit[0][1]; remember(); S.drag = {mode: 'move', x, y, start: [...S.boxes[S.sel].xyxy], moved: false};
    S.cls = Math.max(0, S.classes.indexOf(S.boxes[S.sel]['class'])); drawClasses(); draw(); return;
  }
  S.sel = -1;
  S.drag = {mode: 'new', x0: S.corner ? S.corner[0] : x, y0: S.corner ? S.corner[1] : y, x, y, two: !!S.corner};
  draw();
});
canvas.addEventListener('pointermove', evt => {
  if (!S.drag) return;
  const [x, y] = at(evt);
  if (S.drag.mode === 'move') {
    const b = S.boxes[S.sel], [a1, b1, a2, b2] = S.drag.start;
    const dx = Math.max(-a1, Math.min(S.w - a2, x - S.drag.x)), dy = Math.max(-b1, Math.min(S.h - b2, y - S.drag.y));
    b.xyxy = [a1 + dx, b1 + dy, a2 + dx, b2 + dy].map(v => Math.round(v * 10) / 10);
    S.drag.moved = S.drag.moved || Math.abs(dx) + Math.abs(dy) > 1;
  } else if (S.drag.mode === 'resize') {
    S.boxes[S.sel].xyxy = norm(S.drag.x0, S.drag.y0, x, y);
  } else { S.drag.x = x; S.drag.y = y; }
  draw();
});
canvas.addEventListener('pointerup', evt => {
  const d = S.drag; S.drag = null;
  if (!d) return;
  const [x, y] = at(evt);
  if (d.mode === 'move') { if (d.moved) save(); else { S.undo.pop(); draw(); } return; }
  if (d.mode === 'resize') { save(); return; }
  const [x1, y1, x2, y2] = norm(d.x0, d.y0, x, y);
  if (x2 - x1 < 4 && y2 - y1 < 4) {   // a click, not a drag: first or second corner of a two-click box
    if (!d.two) { S.corner = [x, y]; say('First corner set: click the opposite corner (Esc to cancel).'); }
    else { S.corner = null; }
    draw(); return;
  }
  S.corner = null; remember();
  if (S.proposed) S.proposed = false;   // drawing on a proposal reviews it: its boxes stay, with the new one
  S.boxes.push({'class': S.classes[S.cls], xyxy: [x1, y1, x2, y2]});
  S.sel = -1;   // not selected: the next key picks the class of the next box (click a box to change its own)
  save();
});

function onKey(evt) {
  if (element.offsetParent === null || !S.pictures.length) return;   // the tab is not on screen
  const t = evt.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
  const k = evt.key;
  let done = true;
  if (k >= '1' && k <= '6') pickClass(+k - 1);
  else if (k === 'ArrowRight' || k === 'd' || k === 'D') show(S.idx + 1);
  else if (k === 'ArrowLeft' || k === 'a' || k === 'A') show(S.idx - 1);
  else if ((k === 'Delete' || k === 'Backspace') && S.sel >= 0) { remember(); S.boxes.splice(S.sel, 1); S.sel = -1; save(); }
  else if ((k === 'z' || k === 'Z') && S.undo.length) { S.boxes = JSON.parse(S.undo.pop()); S.sel = -1; save(); }
  else if (k === 'c' || k === 'C') copyPrevious();
  else if (k === 'Enter') accept();
  else if (k === 'Escape') { S.corner = null; S.drag = null; S.sel = -1; draw(); }
  else done = false;
  if (done) evt.preventDefault();
}
document.addEventListener('keydown', onKey);

async function copyPrevious() {
  if (S.idx < 1) { say('No previous picture to copy from.'); return; }
  const prev = await call('objects_picture', {picture: S.pictures[S.idx - 1], meta_only: true});
  if (prev.error) return;
  remember(); S.boxes = prev.boxes.map(b => ({'class': b['class'], xyxy: [...b.xyxy]})); S.sel = -1; save();
}
function accept() { if (S.pic) { remember(); save(); } }

$('objects-prev').addEventListener('click', () => show(S.idx - 1));
$('objects-next').addEventListener('click', () => show(S.idx + 1));
$('objects-undo').addEventListener('click', () => { if (S.undo.length) { S.boxes = JSON.parse(S.undo.pop()); S.sel = -1; save(); } });
$('objects-delete-box').addEventListener('click', () => { if (S.sel >= 0) { remember(); S.boxes.splice(S.sel, 1); S.sel = -1; save(); } });
$('objects-copy').addEventListener('click', copyPrevious);
$('objects-accept').addEventListener('click', accept);
$('objects-delete-picture').addEventListener('click', async () => {
  if (!S.pic) return;
  const answer = await call('objects_delete', {picture: S.pic});
  if (!answer.error) { say('Picture deleted.'); S.pic = null; const i = S.idx; await load(answer.state); if (S.pictures.length) await show(i); }
});

$('objects-cam-start').addEventListener('click', async () => {
  const btn = $('objects-cam-start');
  if (stream) { stream.getTracks().forEach(t => t.stop()); stream = null; video.srcObject = null;
                btn.innerHTML = '&#9654; Start camera'; $('objects-capture').disabled = true; return; }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say('<b>This page cannot use a camera:</b> browsers allow it only on localhost or HTTPS (README).', true); return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {width: {ideal: props.capture_w}, height: {ideal: props.capture_h}}, audio: false});
  } catch (err) { say('<b>No camera:</b> ' + esc(err.name === 'NotAllowedError' ? 'the browser was not allowed to use it' : err.message || err), true); return; }
  video.srcObject = stream; await video.play().catch(() => {});
  btn.innerHTML = '&#9632; Stop camera'; $('objects-capture').disabled = false;
  say('Camera on: put your objects in view and press <b>Capture</b>.');
});

$('objects-capture').addEventListener('click', async () => {
  if (!stream || S.busy) return;
  S.busy = true; $('objects-capture').disabled = true;
  const assist = $('objects-assist').checked;
  let taken = 0, proposed = 0, first = null;
  for (let i = 0; i < props.burst; i++) {
    const t0 = performance.now();
    if (video.readyState < 2) { await sleep(50); continue; }
    grab.width = video.videoWidth; grab.height = video.videoHeight; grabCtx.drawImage(video, 0, 0);
    const blob = await new Promise(r => grab.toBlob(r, 'image/jpeg', props.jpeg_quality));
    const data = await new Promise(r => { const f = new FileReader(); f.onload = () => r(f.result); f.readAsDataURL(blob); });
    const answer = await call('objects_capture', {image: data, assist});
    if (answer.error) break;
    taken++; proposed += answer.proposed || 0; first = first || answer.picture;
    say('&#9679; Capturing: ' + taken + ' of ' + props.burst + '… move your objects a little.');
    const wait = props.gap_ms - (performance.now() - t0);
    if (wait > 0) await sleep(wait);
  }
  S.busy = false; $('objects-capture').disabled = !stream;
  if (taken) {
    const state = await call('objects_state', {});
    await load(state);
    const i = S.pictures.indexOf(first);
    if (i >= 0) await show(i);
    say('&#10004; ' + taken + ' new pictures' + (proposed ? ', with ' + proposed + ' boxes proposed by your detector: check them (Enter accepts)' :
        ': drag a box around each object, → for the next picture') + '.');
    trigger('change');   // the panel beside the editor re-reads the counts
  }
});

function drawLive(frame, answer) {
  // The frame the model saw, with its boxes (the camera's own orientation, as the pictures are stored).
  const w = frame.width, h = frame.height;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  ctx.drawImage(frame, 0, 0);
  const lw = Math.max(2, Math.round(Math.max(w, h) / 240)), size = Math.max(14, Math.round(Math.max(w, h) / 32));
  ctx.font = '600 ' + size + 'px sans-serif'; ctx.textBaseline = 'top';
  for (const b of answer.boxes) {
    const [x1, y1, x2, y2] = b.xyxy, c = colour(b.name), text = b.name + ' ' + b.conf.toFixed(2);
    ctx.lineWidth = lw; ctx.strokeStyle = c; ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const tw = ctx.measureText(text).width + 8, ty = y1 - size - 6 >= 0 ? y1 - size - 6 : y1;
    ctx.fillStyle = c; ctx.fillRect(x1 - lw / 2, ty, tw, size + 6); ctx.fillStyle = '#fff'; ctx.fillText(text, x1 + 4, ty + 3);
  }
  canvas.dataset.live = String((+canvas.dataset.live || 0) + 1);
}
async function liveLoop() {
  const btn = $('objects-live');
  btn.innerHTML = '&#9632; Stop live'; say('Live: your detector reads every frame (editing is paused).');
  while (live && stream && element.offsetParent !== null) {
    if (video.readyState < 2) { await sleep(30); continue; }
    grab.width = video.videoWidth; grab.height = video.videoHeight; grabCtx.drawImage(video, 0, 0);
    const blob = await new Promise(r => grab.toBlob(r, 'image/jpeg', 0.8));
    const image = await new Promise(r => { const f = new FileReader(); f.onload = () => r(f.result); f.readAsDataURL(blob); });
    const answer = await call('objects_live', {image});
    if (answer.error) break;
    if (answer.busy) { await sleep(10); continue; }
    if (!live) break;
    drawLive(grab, answer);
    where.textContent = 'live · ' + answer.summary;
  }
  live = false; btn.innerHTML = '&#9673; Live boxes'; draw(); status();
}
$('objects-live').addEventListener('click', () => {
  if (live) { live = false; return; }
  if (!stream) { say('Start the camera first, then <b>Live boxes</b>.', true); return; }
  live = true; liveLoop();
});

(async () => {   // the set id arrives with the page's load event: wait for it, then show the set
  for (let i = 0; i < 200 && !setId(); i++) await sleep(50);
  await refresh();
})();
"""

# After the page's load event filled the hidden set-id box: the editor reads the id from here.
SET_JS = "(id) => { window.vdObjectsSet = id; if (window.vdObjectsReload) window.vdObjectsReload(); return []; }"
RELOAD_JS = "() => { if (window.vdObjectsReload) window.vdObjectsReload(); return []; }"


def build(server_functions: list) -> gr.HTML:
    """The editor; `server_functions` are the tab's objects_* handlers (their names are the JS's)."""
    return gr.HTML(HTML.replace("@burst", str(BURST)), html_template="${value}", css_template=CSS, js_on_load=JS,
                   elem_id="objects-editor-block", server_functions=server_functions, palette=list(PALETTE),
                   burst=BURST, gap_ms=BURST_GAP_MS, jpeg_quality=JPEG_QUALITY, capture_w=WEBCAM_CAPTURE[0],
                   capture_h=WEBCAM_CAPTURE[1])
