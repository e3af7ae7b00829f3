"""The Detect tab's live webcam: the camera, the loop that sends frames, and the boxes drawn — in the browser.

Gradio's own streaming webcam (`gr.Image(streaming=True)`) tops out here at ~9 frames/s and ~230 ms
behind the camera with a 20 ms model, because every frame makes four trips: the browser encodes a data URL
on its main thread, the server writes the answer to a file, the page is told its URL, then fetches
and decodes it. This component keeps the picture in the browser instead:

    camera -> <video> -> capture a frame (a canvas) -> JPEG -> server.webcam_frame(...) -> boxes (JSON)
                                    \\____________ kept ____________________________________/
                                                   draw the *same* frame + its boxes on a <canvas>

One frame is in flight at a time and a new one is captured as soon as the answer is back (latest frame
wins: a slow model means fewer frames, never older ones). The call is Gradio's `server_functions` route
(`/gradio_api/component_server`): same server, same login, no queue slot held for the stream's life.

The model settings (model, thresholds, runtime) live in Gradio components; a JS-only event copies
them into `window.vdLiveSettings` whenever one changes, and each frame carries them (the server checks
them every time, as for any request).

Or the frame never leaves the page: the same detector, exported to ONNX for browsers (INT8, checked against
torch: vision_demo/detect/browser_export.py), runs in onnxruntime-web (vision_demo/ui/web/yolo_browser.js)
with the same thresholds and class filter, and the server's only work is a `webcam_plan` call every 2.5 s.
Where frames run: `?live=browser` / `?live=server` in the address force one (a link the teacher hands out);
`auto` (the default) starts on the server, times the browser model on the current frame, and moves to the
path that comes back faster: this page's own fps on the server against the server's share (its frames a
second in all over the pages streaming now, which `webcam_plan` reports) and the browser's. One student on
the teacher's laptop stays on the fast server; a class of 30 moves to its browsers. The line under the
picture says where, the fps, and why.
"""
from __future__ import annotations

import gradio as gr

from vision_demo.ui.common import WEBCAM_CAPTURE

STREAM_SECONDS = 300     # the camera stops itself after 5 minutes (a forgotten tab must not keep a core busy)
MAX_FPS = 30             # never ask faster than a camera gives frames
JPEG_QUALITY = 0.8       # ~40 KB a 640x480 frame: light on a classroom's wifi, sharp enough for the model
PLAN_MS = 1000           # the page asks the server's load and the browser model's state once a second,
PLAN_BROWSER_MS = 2500   # every 2.5 s once its frames run in the browser (the server's only cost then: ~5 ms each)
PROBE_MS = 15_000        # on the server path, auto times the browser model again every 15 s (3 runs, ~0.3 s)
SWITCH_MARGIN = 1.25     # auto moves only to a path 25 % faster: noise must not flip a page back and forth

HTML = """
<div class="vd-live" id="webcam-live">
  <div class="vd-live-bar">
    <button class="vd-live-start" id="webcam-start">&#9654; Start camera</button>
    <button class="vd-live-stop" id="webcam-stop" disabled>&#9632; Stop</button>
    <label class="vd-live-mirror"><input type="checkbox" checked> mirror</label>
    <label class="vd-live-size">model input <select id="webcam-size">@sizes</select> px
      <span class="vd-live-hint">(320 is ~3× faster than 640)</span></label>
  </div>
  <video class="vd-live-video" playsinline muted></video>
  <canvas class="vd-live-canvas" id="webcam-canvas" width="640" height="480"></canvas>
  <div class="vd-live-line" id="webcam-latency"><b>Start camera</b>: each frame goes to the model and comes back
    with its boxes, the next one as soon as the answer is back (a slower model means fewer frames, never older
    ones). A class on the LAN needs HTTPS for the camera (README).</div>
</div>
"""

CSS = """
.vd-live-bar { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 6px; }
.vd-live-bar button { font-size: 1.05rem; font-weight: 600; padding: 6px 16px; border-radius: 8px;
  border: 1px solid var(--border-color-primary); cursor: pointer; }
.vd-live-start { background: var(--button-primary-background-fill); color: var(--button-primary-text-color); }
.vd-live-bar button:disabled { opacity: 0.45; cursor: default; }
.vd-live-video { position: absolute; width: 1px; height: 1px; opacity: 0; pointer-events: none; }
.vd-live-size select { font-size: 1rem; padding: 2px 4px; border-radius: 6px; min-width: 4.5em; appearance: auto;
  border: 1px solid var(--border-color-primary); background: var(--input-background-fill); color: inherit; }
.vd-live-hint { opacity: 0.7; }
.vd-live-canvas { display: block; width: 100%; max-height: 360px; object-fit: contain; background: #111;
  border-radius: 8px; aspect-ratio: 4 / 3; }
.vd-live-line { font-size: 0.95rem; margin-top: 6px; line-height: 1.35; }
"""

# `element`, `server` and `props` are given by gr.HTML (js_on_load). Template strings are avoided: the
# component's templates would read them as its own placeholders.
JS = """
const W = props.capture_w, H = props.capture_h;
const video = element.querySelector('video'), canvas = element.querySelector('canvas');
const ctx = canvas.getContext('2d');
const line = element.querySelector('.vd-live-line');
const startBtn = element.querySelector('.vd-live-start'), stopBtn = element.querySelector('.vd-live-stop');
const mirrorBox = element.querySelector('.vd-live-mirror input'), sizePick = element.querySelector('.vd-live-size select');
const grab = document.createElement('canvas');
const grabCtx = grab.getContext('2d');
let stream = null, running = false, startedAt = 0;
let shown = [], stale = [];   // when frames were drawn (for fps) and how old each was then (ms)
// Where frames run: ?live=browser or ?live=server in the address forces one; auto (the default) picks the faster.
const asked = (new URLSearchParams(location.search).get('live') || 'auto').toLowerCase();
const mode = ['auto', 'browser', 'server'].includes(asked) ? asked : 'auto';
const viewer = 'v' + Math.random().toString(36).slice(2, 12) + Date.now().toString(36);   // this page, for the count
const live = window.vdLive = {mode, where: 'server', why: '', plan: null, serverFps: 0, browserFps: 0, probeMs: 0};
let planAt = -1e9, planBusy = false, planError = '';
let det = null, detLoading = false, detError = '', probedAt = -1e9;

function say(html) { line.innerHTML = html; }
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c])); }
function median(xs) { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : 0; }
const sleep = ms => new Promise(r => setTimeout(r, ms));
const settings = () => window.vdLiveSettings || {};

function toDataURL(blob) {
  return new Promise((resolve, reject) => {
    const r = new FileReader(); r.onload = () => resolve(r.result); r.onerror = reject; r.readAsDataURL(blob);
  });
}

function wantExport() {
  // The browser export (a minute of the server's CPU, once per model and size) is started for ?live=browser, or
  // in auto once another page streams too: one viewer alone stays on the server, whose own export comes first.
  return mode === 'browser' || (mode === 'auto' && !!live.plan && live.plan.viewers > 1);
}

async function refreshPlan() {
  // About once a second: the browser model's state, the class names, how many pages stream, the server's speed.
  const every = live.where === 'browser' && modelReady() ? props.plan_browser_ms : props.plan_ms;
  if (planBusy || performance.now() - planAt < every) return;
  planBusy = true;
  try {
    const p = await server.webcam_plan({viewer, weights: settings().weights, size: sizePick.value, path: live.where,
                                        streaming: running, prepare: wantExport()});
    if (p && p.error) planError = p.error; else if (p) { live.plan = p; planError = ''; }
  } catch (err) { planError = 'the server did not answer (' + err + ')'; }
  planAt = performance.now(); planBusy = false;
}

function modelReady() {
  const m = live.plan && live.plan.model;
  return det && m && m.state === 'ready' && det.url === m.url ? det : null;
}

function loadModel() {
  // The detector for this browser, once its export is ready: fetched once (then from the browser's cache).
  const plan = live.plan, m = plan && plan.model;
  if (mode === 'server' || detLoading || !m || m.state !== 'ready' || (det && det.url === m.url) || detError === m.url) return;
  detLoading = true;
  (async () => {
    try {
      const yolo = await import(new URL('/vd/web/yolo_browser.js', location.href).href);
      const d = await yolo.loadDetector(m.url, m.shape, plan.names);
      Object.assign(d, {url: m.url, variant: m.variant, bytes: m.bytes, colours: plan.colours, names: plan.names,
                        labels: plan.labels || {}});
      det = d; live.probeMs = 0; probedAt = -1e9;
    } catch (err) { detError = m.url; live.why = 'this browser could not load the model: ' + (err.message || err); }
    detLoading = false;
  })();
}

function modelState() {
  const m = live.plan && live.plan.model;
  if (planError) return planError;
  if (!m) return 'asking the server for the browser model';
  if (m.state === 'exporting') return 'the server is exporting the model for browsers (' + Math.round(100 * m.progress) + ' %)';
  if (m.state === 'failed') return 'no browser model: ' + m.message;
  if (m.state === 'missing') return 'one page streaming: the server is the fast path (no browser model needed yet)';
  return detLoading ? 'loading the model into this browser (' + (m.bytes / 1e6).toFixed(1) + ' MB, once)' : 'model loaded';
}

function decide() {
  if (mode !== 'auto') {
    live.where = mode;
    live.why = 'asked for in the address (?live=' + mode + ')';
    return;
  }
  const d = modelReady(), plan = live.plan;
  if (!d) { live.where = 'server'; live.why = 'auto: ' + modelState(); return; }
  const mine = live.where === 'browser' && live.browserFps ? live.browserFps : (live.probeMs ? 1000 / live.probeMs : 0);
  if (!mine) { live.why = 'auto: measuring this browser'; return; }
  const n = Math.max(1, plan.viewers || 1), share = plan.capacity_fps ? plan.capacity_fps / n : Infinity;
  // On the server path its fps is measured; on the browser path that figure is as old as the switch (the crowd
  // it was measured in may have left), so the server's share of its capacity now is what it would give this page.
  const serverFps = live.where === 'browser' ? share : Math.min(live.serverFps || Infinity, share);
  if (!isFinite(serverFps)) { live.where = 'server'; live.why = 'auto: measuring the server'; return; }
  // A margin either way: a page does not flip between the two on noise.
  if (live.where === 'server' && mine > serverFps * props.switch_margin) live.where = 'browser';
  else if (live.where === 'browser' && serverFps > mine * props.switch_margin) { live.where = 'server'; live.serverFps = 0; }
  const theirs = 'the server ~' + serverFps.toFixed(1) + ' fps' + (plan.capacity_fps ? ' (' + Math.round(plan.capacity_fps) +
      ' fps in all, ' + n + (n === 1 ? ' page' : ' pages') + ' streaming)' : '');
  live.why = 'auto: this browser ~' + mine.toFixed(1) + ' fps, ' + theirs;
}

async function probe() {
  // While on the server, time the browser model on the current frame now and then (the first run warms it up).
  if (mode !== 'auto' || live.where !== 'server' || !modelReady() || performance.now() - probedAt < props.probe_ms) return;
  probedAt = performance.now();
  const s = settings(), times = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await det.detect(grab, {conf: +s.conf || 0.25, iou: +s.iou || 0.7});
    times.push(performance.now() - t);
  }
  live.probeMs = Math.min(times[1], times[2]) * 1.1;   // + capturing and drawing, ~10 %
  // The server path's fps is measured again from here: the frames it held back while the probe ran (and the probe's
  // own use of the cores) are not the server's speed. Until 4 new frames are back, auto reads the server's share.
  shown = []; stale = []; live.serverFps = 0;
}

function draw(frame, answer) {
  // The frame the model saw, mirrored if asked like the camera preview; boxes mirrored with it, labels not.
  const w = frame.width, h = frame.height, mirror = mirrorBox.checked;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  ctx.save();
  if (mirror) { ctx.translate(w, 0); ctx.scale(-1, 1); }
  ctx.drawImage(frame, 0, 0);
  ctx.restore();
  const lw = Math.max(2, Math.round(Math.max(w, h) / 240)), size = Math.max(14, Math.round(Math.max(w, h) / 30));
  ctx.font = '600 ' + size + 'px sans-serif';
  ctx.textBaseline = 'top';
  const drawn = [];
  for (const b of answer.boxes) {
    let [x1, y1, x2, y2] = b.xyxy;
    if (mirror) [x1, x2] = [w - x2, w - x1];
    ctx.lineWidth = lw; ctx.strokeStyle = b.colour; ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    // The server's words for the class ("person · upright 0.68"), whichever path found the box.
    const text = b.label || b.name + ' ' + b.conf.toFixed(2), tw = ctx.measureText(text).width + 8;
    drawn.push(text);
    const ty = y1 - size - 6 >= 0 ? y1 - size - 6 : y1;   // above the box, or inside at its top
    ctx.fillStyle = b.colour; ctx.fillRect(x1 - lw / 2, ty, tw, size + 6);
    ctx.fillStyle = '#fff'; ctx.fillText(text, x1 + 4, ty + 3);
  }
  canvas.dataset.labels = JSON.stringify(drawn);   // what is written on the picture now (a canvas has no text)
}

function report(answer, capturedAt, where) {
  const now = performance.now();
  if (canvas.dataset.where !== where) { shown = []; stale = []; }   // fps of the path the frames take now
  canvas.dataset.where = where;
  shown.push(now); stale.push(now - capturedAt);
  while (shown.length && now - shown[0] > 2000) { shown.shift(); stale.shift(); }
  canvas.dataset.frames = String((+canvas.dataset.frames || 0) + 1);   // one more frame on screen
  const fps = shown.length > 1 ? (shown.length - 1) / ((shown[shown.length - 1] - shown[0]) / 1000) : 0;
  if (shown.length > 3) live[where === 'browser' ? 'browserFps' : 'serverFps'] = fps;
  if (now - (report.last || 0) < 500) return;   // the text twice a second: the picture is what must be fast
  report.last = now;
  const ms = answer.ms, head = 'live: <b>' + (shown.length > 1 ? fps.toFixed(1) + ' fps' : 'first frames') + '</b> · <b>' +
      Math.round(median(stale)) + ' ms</b> from capture to boxes on screen · ';
  let body;
  if (where === 'browser') {
    const [mh, mw] = det.shape;
    body = '<b>in this browser</b>, ' + esc(det.text) + ': frame → boxes ' + Math.round(ms.total) + ' ms (model ' +
        Math.round(ms.inference) + ') · ' + esc(det.variant === 'int8' ? 'INT8' : 'float') + ' model, ' +
        (det.bytes / 1e6).toFixed(1) + ' MB · model input ' + mw + '×' + mh + ' px · image ' + answer.w + '×' + answer.h + ' px';
  } else {
    const note = answer.note ? ' · torch for now: ' + esc(answer.note) : '';
    body = '<b>on the server</b>, runtime <b>' + esc(answer.runtime) + '</b> (' + esc(answer.precision || 'f32') + ')' + note + ': frame → boxes ' +
        Math.round(ms.total) + ' ms (decode ' + Math.round(ms.decode) + ', model ' +
        Math.round(ms.preprocess + ms.inference + ms.postprocess) + ') · model input ' + esc(answer.size) +
        ' px · image ' + answer.w + '×' + answer.h + ' px';
  }
  say(head + body + '<br><span class="vd-live-why">' + esc(live.why) + '</span><br><b>' + esc(answer.summary) + '</b>');
}

function classIds(names, wanted) {
  if (!wanted || !wanted.length) return null;
  return Object.keys(names).filter(k => wanted.includes(names[k])).map(Number);
}

function summary(boxes, ms) {
  const counts = {};
  for (const b of boxes) counts[b.name] = (counts[b.name] || 0) + 1;
  const what = Object.entries(counts).map(([k, v]) => v + ' ' + k).join(', ') || 'nothing';
  return boxes.length + ' boxes (' + what + ') in ' + Math.round(ms.total) + ' ms (this browser)';
}

async function inBrowser(t0) {
  const s = settings(), d = det;
  const r = await d.detect(grab, {conf: +s.conf || 0.25, iou: +s.iou || 0.7, classes: classIds(d.names, s.classes)});
  const boxes = r.boxes.map(b => ({...b, colour: d.colours[b.class_id] || '#ff3838',
                                   label: (d.labels[b.class_id] ?? b.name) + ' ' + b.conf.toFixed(2)}));
  return {boxes, ms: r.ms, w: r.w, h: r.h, summary: summary(boxes, r.ms)};
}

async function loop() {
  while (running) {
    if (Date.now() - startedAt > props.stream_seconds * 1000) {
      stop('Stopped after ' + Math.round(props.stream_seconds / 60) + ' minutes so a forgotten tab does not keep ' +
           'the server busy: press <b>Start camera</b> again.');
      return;
    }
    if (element.offsetParent === null) { stop('Stopped: the tab was left. Press <b>Start camera</b> again.'); return; }
    const t0 = performance.now();
    if (video.readyState < 2) { await sleep(30); continue; }
    // auto asks the plan once the first frame came back from the server: the first frame (which may load the
    // model) is not held up behind it.
    if (mode === 'browser' || +canvas.dataset.frames > 0) refreshPlan();
    loadModel(); decide();
    const where = live.where;
    if (where === 'browser' && !modelReady()) {   // forced by ?live=browser: wait for the model, never the server
      say('<b>in this browser</b> (asked for in the address): ' + esc(detError ? live.why : modelState()) + '…');
      await sleep(250); continue;
    }
    // The frame stays in `grab` until it is drawn with its boxes: the next one is captured after that.
    grab.width = video.videoWidth; grab.height = video.videoHeight;
    grabCtx.drawImage(video, 0, 0);
    let answer = null;
    if (where === 'browser') {
      try { answer = await inBrowser(t0); }
      catch (err) { answer = {error: 'the model failed in this browser (' + esc(err.message || err) + ')'}; }
    } else {
      const blob = await new Promise(r => grab.toBlob(r, 'image/jpeg', props.jpeg_quality));
      try {
        answer = await server.webcam_frame({image: await toDataURL(blob), ...settings(), size: sizePick.value, viewer});
      } catch (err) { answer = {error: 'the server did not answer (' + esc(err) + ')'}; }
    }
    if (!running) return;
    if (!answer) answer = {error: 'the server did not answer: is it still running?'};
    if (answer.error) { stop('<b>' + esc(answer.error) + '</b>'); return; }
    if (answer.busy) { await sleep(10); continue; }   // the model is on another frame: send a newer one
    draw(grab, answer);
    report(answer, t0, where);
    await probe();
    const wait = 1000 / props.max_fps - (performance.now() - t0);
    // In the browser the model's run resolves without the page ever getting a turn: always give it one
    // (clicks, the settings, repainting the camera), or the page freezes while the model keeps up.
    if (wait > 0 || where === 'browser') await sleep(Math.max(wait, 0));
  }
}

function stop(message) {
  running = false;
  if (stream) stream.getTracks().forEach(t => t.stop());
  stream = null; video.srcObject = null;
  startBtn.disabled = false; stopBtn.disabled = true;
  if (message) say(message);
}

startBtn.addEventListener('click', async () => {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say('<b>This page cannot use a camera:</b> browsers allow it only on localhost or HTTPS. For a class on the ' +
        'LAN start the app with --ssl-certfile/--ssl-keyfile (README).');
    return;
  }
  startBtn.disabled = true;
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {width: {ideal: W}, height: {ideal: H}}, audio: false});
  } catch (err) {
    startBtn.disabled = false;
    say('<b>No camera:</b> ' + esc(err.name === 'NotAllowedError' ? 'the browser was not allowed to use it (see the ' +
        'camera icon in the address bar)' : err.name === 'NotFoundError' ? 'none is connected' : err.message || err));
    return;
  }
  video.srcObject = stream;
  await video.play().catch(() => {});
  running = true; startedAt = Date.now(); stopBtn.disabled = false; planAt = -1e9;
  say('Camera on: the first frame goes to the model…');
  loop();
});
stopBtn.addEventListener('click', () => stop('Stopped.'));
"""

# Copies the model settings into the page (no server round trip) whenever one of them changes.
SETTINGS_JS = """(weights, conf, iou, classes, runtime) => {
  window.vdLiveSettings = {weights, conf, iou, classes, runtime};
  return [];
}"""


def build(webcam_frame, sizes: tuple[int, ...], webcam_plan=None) -> gr.HTML:
    """The camera view; `webcam_frame(payload, request)` answers each frame sent to the server and
    `webcam_plan(payload, request)` tells the page about the browser model and the server's load (their names
    are the JS's); `sizes`: the model input sizes offered, the first chosen."""
    options = "".join(f'<option value="{s}">{s}</option>' for s in sizes)
    return gr.HTML(HTML.replace("@sizes", options), html_template="${value}", css_template=CSS, js_on_load=JS, elem_id="webcam-live-block",
                   server_functions=[webcam_frame, *([webcam_plan] if webcam_plan else [])],
                   capture_w=WEBCAM_CAPTURE[0], capture_h=WEBCAM_CAPTURE[1], stream_seconds=STREAM_SECONDS,
                   max_fps=MAX_FPS, jpeg_quality=JPEG_QUALITY, plan_ms=PLAN_MS, plan_browser_ms=PLAN_BROWSER_MS, probe_ms=PROBE_MS,
                   switch_margin=SWITCH_MARGIN)


def follow_settings(demo: gr.Blocks, settings: list[gr.components.Component]) -> None:
    """window.vdLiveSettings follows the controls: on load and on every change, in the browser only."""
    io = dict(fn=None, inputs=settings, outputs=None, js=SETTINGS_JS, queue=False, api_visibility="private")
    demo.load(**io)
    for control in settings:
        control.change(**io)

