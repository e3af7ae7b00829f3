"""Your classes, in this browser: capture, train and watch the live bars with no server job, the pictures kept in the
browser (IndexedDB) until the student presses "Send my pictures to the server".

    camera -> <video> -> each capture: its 1280 features (onnxruntime-web, the backbone from /vd/model/...) + a
              256 px JPEG -> IndexedDB (this browser only)
    Train   -> the head (softmax regression, Adam, as the server's frozen run) learns on the stored features in
              the page: milliseconds, no request at all
    live    -> every ~100 ms the frame's features -> the head -> the bars
    Send    -> the pictures go to the server's set (the panel below): fine-tune, from scratch, other tabs
    Download my model -> a zip made in the page: the ONNX backbone, head.json, onnxruntime-web and index.html,
              which runs the model on the webcam with no server at all

The page's code is vision_demo/ui/web/classes_browser.js (held to its numpy replica, classify/browser_features.py,
by tests/test_browser_classes_web.py); this module lays the panel out and receives the pictures a student sends.
"""
from __future__ import annotations

import base64
import binascii

import gradio as gr

from vision_demo import settings
from vision_demo.datasets.captured import DEFAULT_CLASSES, CapturedSet
from vision_demo.errors import VisionDemoError

BURST = 20                  # pictures one press of Capture takes, one every GAP_MS (as the server path)
GAP_MS = 200
PREDICT_EVERY_MS = 100      # the live bars ~10 times a second at most (each is one backbone run)
MAX_PICTURE_BYTES = 2 * 2**20   # a sent picture (a 256 px JPEG is ~15 KB): anything bigger is not ours

HTML = """
<div class="vdc" id="classes-web">
  <div class="vdc-col vdc-cam">
    <video class="vdc-video" playsinline muted></video>
    <div class="vdc-bar">
      <button class="vdc-start vdc-primary">&#9654; Start camera</button>
      <span class="vdc-where">Everything here runs in this browser: pictures stay on this device.</span>
    </div>
  </div>
  <div class="vdc-col">
    <label class="vdc-label">Classes (2–6, commas)
      <input class="vdc-names" type="text" value="@names"></label>
    <div class="vdc-rows"></div>
    <div class="vdc-bar">
      <button class="vdc-train vdc-primary">Train in this browser</button>
      <button class="vdc-clear">Delete my pictures here</button>
    </div>
  </div>
  <div class="vdc-col">
    <div class="vdc-bars" data-top=""></div>
    <div class="vdc-bar">
      <button class="vdc-download">Download my model</button>
      <button class="vdc-send">Send my pictures to the server</button>
    </div>
    <div class="vdc-line">Start the camera, then capture each class.</div>
  </div>
</div>
"""

CSS = """
.vdc { display: grid; grid-template-columns: 4fr 5fr 5fr; gap: 14px; align-items: start; }
.vdc-col { display: flex; flex-direction: column; gap: 8px; min-width: 0; }
.vdc-video { width: 100%; aspect-ratio: 4 / 3; background: #111; border-radius: 8px; transform: scaleX(-1);
  object-fit: cover; }
.vdc-bar { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.vdc button { font-size: 1rem; font-weight: 600; padding: 5px 12px; border-radius: 8px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--button-secondary-background-fill); color: inherit; }
.vdc button.vdc-primary { background: var(--button-primary-background-fill); color: var(--button-primary-text-color); }
.vdc button:disabled { opacity: 0.45; cursor: default; }
.vdc-label { display: flex; flex-direction: column; gap: 4px; font-size: 0.95rem; }
.vdc-names { font-size: 1rem; padding: 4px 8px; border-radius: 6px; border: 1px solid var(--border-color-primary);
  background: var(--input-background-fill); color: inherit; }
.vdc-row { display: flex; gap: 8px; align-items: center; }
.vdc-row b { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.vdc-bars .vdc-p { display: grid; grid-template-columns: 8em 1fr 3.5em; gap: 6px; align-items: center; margin: 3px 0; }
.vdc-p > span { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.vdc-fill { height: 16px; border-radius: 4px; background: var(--color-accent); width: 0; transition: width 0.1s; }
.vdc-where, .vdc-line { font-size: 0.95rem; line-height: 1.35; }
"""

# gr.HTML gives `element`, `props` and `trigger`. No template strings (gr.HTML would read them as its own).
JS = """
const $ = sel => element.querySelector(sel);
const video = $('.vdc-video'), line = $('.vdc-line'), rows = $('.vdc-rows'), bars = $('.vdc-bars');
const startBtn = $('.vdc-start'), trainBtn = $('.vdc-train');
const sleep = ms => new Promise(r => setTimeout(r, ms));
const stats = {featMs: [], trainMs: null, backboneMs: null, captures: 0, sent: 0};
window.vdClasses = {stats};   // what the tests and the bench read
let cb = null, db = null, bb = null, stream = null, head = null, names = [], caps = [], capturing = false;
let chain = Promise.resolve();   // one backbone run at a time (capture and the live bars share it)

function say(text, bold) { line.textContent = ''; const b = document.createElement('b'); b.textContent = bold || '';
  line.append(b, bold ? ' ' : '', text); }
function parseNames(text) { return text.split(/[,;\\n]/).map(s => s.trim()).filter(Boolean); }
function mb(n) { return (n / 2 ** 20).toFixed(1) + ' MB'; }

function render() {
  rows.textContent = '';
  names.forEach((name, i) => {
    const row = document.createElement('div'); row.className = 'vdc-row';
    const b = document.createElement('b'); b.textContent = name;
    const n = document.createElement('span'); n.className = 'vdc-count';
    n.textContent = caps.filter(c => c.cls === name).length + ' pictures';
    const btn = document.createElement('button'); btn.textContent = '● Capture ' + props.burst;
    btn.dataset.cls = name; btn.disabled = capturing;
    btn.addEventListener('click', () => capture(name));
    row.append(b, n, btn); rows.append(row);
  });
  bars.textContent = '';
  if (!head) return;
  head.classes.forEach(name => {
    const p = document.createElement('div'); p.className = 'vdc-p';
    const s = document.createElement('span'); s.textContent = name;
    const fill = document.createElement('div'); fill.className = 'vdc-fill';
    const pct = document.createElement('em'); pct.textContent = '';
    p.append(s, fill, pct); bars.append(p);
  });
}

async function backbone() {
  if (!bb) {
    say('loading the model into this browser (' + 'first visit: ~17 MB, then from the cache)…');
    const t0 = performance.now();
    bb = await cb.loadBackbone();
    stats.backboneMs = performance.now() - t0;
    stats.runtime = bb.runtime;
  }
  return bb;
}

function featuresOf(source) {
  const run = chain.then(async () => {
    const t0 = performance.now();
    const f = await cb.features(bb, source);
    stats.featMs.push(performance.now() - t0);
    return f;
  });
  chain = run.catch(() => {});
  return run;
}

async function startCamera() {
  if (stream) return true;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say('browsers allow a camera only on localhost or HTTPS: for a class on the LAN start the app with ' +
        '--ssl-certfile/--ssl-keyfile (README).', 'No camera:'); return false;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {width: {ideal: 640}, height: {ideal: 480}}, audio: false});
  } catch (err) {
    say(err.name === 'NotAllowedError' ? 'the browser was not allowed to use it (the camera icon in the address bar).'
        : String(err.message || err), 'No camera:'); return false;
  }
  video.srcObject = stream; await video.play().catch(() => {});
  startBtn.textContent = '■ Stop camera';
  await backbone();
  say('camera on. Capture each class, then Train.');
  if (head) live();
  return true;
}

function stopCamera() {
  if (stream) stream.getTracks().forEach(t => t.stop());
  stream = null; video.srcObject = null; startBtn.textContent = '▶ Start camera';
}

async function frameReady() { while (stream && video.readyState < 2) await sleep(30); return !!stream; }

function thumbnail() {
  const side = props.side, k = Math.min(1, side / Math.max(video.videoWidth, video.videoHeight));
  const c = document.createElement('canvas');
  c.width = Math.round(video.videoWidth * k); c.height = Math.round(video.videoHeight * k);
  c.getContext('2d').drawImage(video, 0, 0, c.width, c.height);
  return new Promise(r => c.toBlob(r, 'image/jpeg', 0.85));
}

async function capture(name) {
  if (capturing) return;
  if (!await startCamera()) return;
  capturing = true; render();
  try {
    for (let k = 0; k < props.burst; k++) {
      const t0 = performance.now();
      if (!await frameReady()) break;
      const [feat, jpeg] = await Promise.all([featuresOf(video), thumbnail()]);
      const rec = {cls: name, jpeg, feat, at: Date.now()};
      rec.id = await db.add(rec);
      caps.push(rec); stats.captures += 1;
      say((props.burst - k - 1) + ' more to take… (move a little)', '● ' + name + ':');
      element.querySelectorAll('.vdc-count').forEach((n, i) => {
        n.textContent = caps.filter(c => c.cls === names[i]).length + ' pictures'; });
      await sleep(Math.max(0, props.gap_ms - (performance.now() - t0)));
    }
  } finally { capturing = false; render(); }
  say(caps.filter(c => c.cls === name).length + ' pictures, in this browser only. Capture more, or another class.',
      '✔ ' + name + ':');
}

function train() {
  const classes = names.slice(), X = [], y = [];
  for (const c of caps) { const i = classes.indexOf(c.cls); if (i >= 0) { X.push(c.feat); y.push(i); } }
  const few = classes.filter(n => y.filter(v => v === classes.indexOf(n)).length < props.min_per_class);
  if (few.length) { say('capture at least ' + props.min_per_class + ' pictures of ' + few.join(', ') + '.', 'Not yet:'); return; }
  head = cb.trainHead(X, y, classes.length, {seed: 0, epochs: props.epochs, batch: props.batch, lr: props.lr});
  head.classes = classes;
  stats.trainMs = head.ms;
  db.put('head', cb.headToJSON(head, classes));
  render();
  const acc = head.testAcc === null ? '' : ', ' + Math.round(100 * head.testAcc) + ' % right on the ' +
    head.test.length + ' pictures held out';
  say('in ' + Math.round(head.ms) + ' ms on ' + head.train.length + ' pictures' + acc + '. No server job: ' +
      'this browser did it.', 'Trained in this browser');
  element.dataset.trained = String((+element.dataset.trained || 0) + 1);
  if (stream) live(); else say('Start the camera to see it read the webcam.', 'Trained.');
}

let living = false;
async function live() {
  if (living) return;
  living = true;
  try {
    while (stream && head) {
      const t0 = performance.now();
      if (!capturing && await frameReady()) {
        const p = cb.predictHead(head, await featuresOf(video));
        const k = cb.argmax(p);
        bars.querySelectorAll('.vdc-p').forEach((row, i) => {
          row.querySelector('.vdc-fill').style.width = Math.round(100 * p[i]) + '%';
          row.querySelector('em').textContent = Math.round(100 * p[i]) + ' %';
        });
        bars.dataset.top = head.classes[k];
        bars.dataset.frames = String((+bars.dataset.frames || 0) + 1);
      }
      await sleep(Math.max(0, props.predict_every_ms - (performance.now() - t0)));
    }
  } finally { living = false; }
}

function dataURL(blob) {
  return new Promise((resolve, reject) => { const r = new FileReader(); r.onload = () => resolve(r.result);
    r.onerror = reject; r.readAsDataURL(blob); });
}

async function send() {
  const mine = caps.filter(c => names.includes(c.cls));
  if (!mine.length) { say('capture some pictures first.', 'Nothing to send:'); return; }
  // One event for all of them (a second one sent while the first is on its way would be dropped).
  const pictures = await Promise.all(mine.map(async c => [c.cls, await dataURL(c.jpeg)]));
  trigger('send', {classes: names, pictures});
  stats.sent += pictures.length;
  say('they are in your set on the server now (the panel below): fine-tune, train from scratch, or use them on ' +
      'other tabs.', 'Sent ' + mine.length + ' pictures.');
}

async function download() {
  if (!head) { say('train first: the model is the backbone plus the head trained here.', 'Nothing to download:'); return; }
  say('making the zip in this browser…');
  const blob = await cb.modelZip(await backbone(), head, head.classes);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob); a.download = 'my-classes-model.zip';
  a.textContent = 'my-classes-model.zip (' + mb(blob.size) + ')';
  stats.zipBytes = blob.size;
  line.textContent = ''; line.append('Your model: ', a, ' — unzip it and open index.html: it reads the webcam ' +
    'with no server at all.');
  a.click();
}

async function clearAll() {
  await db.clear(); await db.put('head', null);
  caps = []; head = null; render();
  say('every picture this browser kept is deleted.', 'Deleted.');
}

(async () => {
  cb = await import('/vd/web/classes_browser.js');
  db = await cb.store();
  names = (await db.get('names')) || parseNames(props.default_names);
  $('.vdc-names').value = names.join(', ');
  caps = await db.all();
  const saved = await db.get('head');
  if (saved && saved.classes.join('\\n') === names.join('\\n')) {
    head = {W: Float64Array.from(saved.W), b: Float64Array.from(saved.b), C: saved.classes.length, D: saved.dim,
            classes: saved.classes, testAcc: saved.test_acc, train: [], test: []};
  }
  render();
  if (caps.length) say(caps.length + ' pictures kept in this browser from last time.');
  element.dataset.ready = '1';
})().catch(err => say(String(err), 'Could not start:'));

$('.vdc-names').addEventListener('change', ev => {
  const next = parseNames(ev.target.value);
  if (next.length < 2 || next.length > props.max_classes) {
    say('name 2 to ' + props.max_classes + ' classes, separated by commas.', 'Classes:'); return; }
  names = next; db.put('names', names);
  if (head && head.classes.join('\\n') !== names.join('\\n')) head = null;
  render(); say(names.join(', ') + '.', 'Classes:');
});
startBtn.addEventListener('click', () => stream ? stopCamera() : startCamera());
trainBtn.addEventListener('click', train);
$('.vdc-send').addEventListener('click', send);
$('.vdc-download').addEventListener('click', () => download().catch(err => say(String(err), 'Download failed:')));
$('.vdc-clear').addEventListener('click', clearAll);
"""


def build() -> gr.HTML:
    """The panel; its 'send' event (the pictures a student sends) is wired by `wire`."""
    names = ", ".join(DEFAULT_CLASSES)
    return gr.HTML(HTML.replace("@names", names), html_template="${value}", css_template=CSS, js_on_load=JS,
                   elem_id="classes-web-block", default_names=names, burst=BURST, gap_ms=GAP_MS,
                   predict_every_ms=PREDICT_EVERY_MS, side=settings.CAPTURED_SIDE,
                   max_classes=settings.CAPTURED_MAX_CLASSES, **_training_props())


def _training_props() -> dict:
    from vision_demo.classify.captured import FROZEN, MIN_PER_CLASS
    from vision_demo.classify.catalog import DEFAULT_LR

    return dict(epochs=FROZEN[1], batch=FROZEN[2], lr=DEFAULT_LR["frozen"], min_per_class=MIN_PER_CLASS)


def decode_picture(data_url) -> bytes:
    """A data URL the page sent -> its bytes; VisionDemoError for anything but a small base64 image."""
    text = str(data_url or "")
    head, _, body = text.partition(",")
    if not head.startswith("data:image/") or ";base64" not in head or len(body) > MAX_PICTURE_BYTES * 4 // 3 + 4:
        raise VisionDemoError("a sent picture must be a JPEG data URL of at most 2 MB")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise VisionDemoError("a sent picture was not valid base64") from None


def receive(set_id, data: dict) -> str:
    """The pictures from the page ([[class, data URL], ...]) into the browser's server set; the status line."""
    s = CapturedSet.for_id(set_id)
    if not isinstance(data, dict) or not isinstance(data.get("pictures"), list):
        raise VisionDemoError("nothing was sent: press Send my pictures again")
    for name in data.get("classes") or []:   # the page's classes join the set (add_class keeps those it has)
        if isinstance(name, str) and name.strip():
            s.add_class(name)
    added: dict[str, int] = {}
    for item in data["pictures"][: settings.CAPTURED_MAX_PER_CLASS * settings.CAPTURED_MAX_CLASSES]:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise VisionDemoError("a sent picture must come with its class")
        cls, picture = item
        s.add(cls, decode_picture(picture), label="a sent picture")
        added[cls] = added.get(cls, 0) + 1
    return "Received " + ", ".join(f"{n} picture{'s' * (n != 1)} of **{c}**" for c, n in added.items()) + \
        " from your browser."


def wire(panel: gr.HTML, set_box, outputs, set_view) -> None:
    """panel.send -> the server set: `outputs` are what set_view redraws (counts, picker, ..., status)."""

    def on_send(set_id, evt: gr.EventData):
        try:
            status = receive(set_id, getattr(evt, "_data", None) or {})
            s = CapturedSet.for_id(set_id)
            return set_view(s, None, status)
        except VisionDemoError as err:
            return (*[gr.skip()] * (len(outputs) - 1), f"Not sent: {err}")

    panel.send(on_send, set_box, outputs, api_visibility="private", concurrency_limit=4)
