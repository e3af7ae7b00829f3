// "Your classes" in the student's browser: the backbone's features of each capture (onnxruntime-web), the head
// trained here (softmax regression, Adam), the live bars, the captures kept in IndexedDB, and "Download my model".
//
//   const cb = await import('/vd/web/classes_browser.js');
//   const bb = await cb.loadBackbone();                 // {session, size, dim, url, bytes, rt}
//   const f = await cb.features(bb, videoOrImage);      // Float32Array(1280), the picture squashed to 128x128
//   const head = cb.trainHead(feats, labels, nClasses, {seed: 0});   // {W, b, history, train, test, testAcc, ms}
//   cb.predictHead(head, f)                             // [p0, p1, ...]
//
// Step for step what vision_demo/classify/browser_features.py does in numpy (the parity test holds them together):
// mulberry32 random numbers (init, hold-out split, shuffles), float64 arithmetic, torch's Adam update.

import {loadOrt, createSession, describeRuntime, ORT_BASE} from './ort_loader.js';

export const BETAS = [0.9, 0.999], EPS = 1e-8;

export function mulberry32(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t = (t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = n => Math.floor(next() * n);
  const shuffle = items => {
    for (let i = items.length - 1; i > 0; i--) { const j = below(i + 1); [items[i], items[j]] = [items[j], items[i]]; }
    return items;
  };
  return {next, below, shuffle};
}

export function split(labels, nClasses, rng, holdOut = 0.2, minPerClass = 4) {
  const train = [], test = [];
  for (let c = 0; c < nClasses; c++) {
    const idx = rng.shuffle(labels.map((y, i) => [y, i]).filter(([y]) => y === c).map(([, i]) => i));
    const k = idx.length >= minPerClass ? Math.max(1, Math.round(holdOut * idx.length)) : 0;
    test.push(...idx.slice(0, k)); train.push(...idx.slice(k));
  }
  return {train, test};
}

function softmaxRow(z) {
  let m = -Infinity;
  for (const v of z) if (v > m) m = v;
  let s = 0;
  const e = z.map(v => { const x = Math.exp(v - m); s += x; return x; });
  return e.map(v => v / s);
}

function logits(W, b, x, C, D) {
  const z = new Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    const row = c * D;
    for (let d = 0; d < D; d++) s += W[row + d] * x[d];
    z[c] = s + b[c];
  }
  return z;
}

export function trainHead(features, labels, nClasses, opts = {}) {
  // features: an array of Float32Array(D); labels: class indices. Same defaults as the server's frozen run.
  const t0 = performance.now();
  const {seed = 0, epochs = 20, batch = 16, lr = 1e-3, holdOut = 0.2, minPerClass = 4} = opts;
  const C = nClasses, D = features[0].length, rng = mulberry32(seed);
  const bound = 1 / Math.sqrt(D);
  const W = new Float64Array(C * D), b = new Float64Array(C);
  for (let i = 0; i < C * D; i++) W[i] = (2 * rng.next() - 1) * bound;
  for (let c = 0; c < C; c++) b[c] = (2 * rng.next() - 1) * bound;
  const {train, test} = split(labels, C, rng, holdOut, minPerClass);
  const mW = new Float64Array(C * D), vW = new Float64Array(C * D), mB = new Float64Array(C), vB = new Float64Array(C);
  const gW = new Float64Array(C * D), gB = new Float64Array(C);
  const history = [];
  let step = 0;
  const adam = (p, g, m, v, bc1, bc2) => {
    const stepSize = lr / bc1, sq2 = Math.sqrt(bc2);
    for (let i = 0; i < p.length; i++) {
      m[i] = m[i] * BETAS[0] + (1 - BETAS[0]) * g[i];
      v[i] = v[i] * BETAS[1] + (1 - BETAS[1]) * g[i] * g[i];
      p[i] -= stepSize * m[i] / (Math.sqrt(v[i]) / sq2 + EPS);
    }
  };
  for (let e = 0; e < epochs; e++) {
    const order = rng.shuffle([...train]);
    let total = 0;
    for (let start = 0; start < order.length; start += batch) {
      const idx = order.slice(start, start + batch), B = idx.length;
      gW.fill(0); gB.fill(0);
      for (const i of idx) {
        const x = features[i], p = softmaxRow(logits(W, b, x, C, D));
        total += -Math.log(p[labels[i]] + 1e-12);
        p[labels[i]] -= 1;
        for (let c = 0; c < C; c++) {
          const g = p[c] / B, row = c * D;
          gB[c] += g;
          for (let d = 0; d < D; d++) gW[row + d] += g * x[d];
        }
      }
      step += 1;
      const bc1 = 1 - BETAS[0] ** step, bc2 = 1 - BETAS[1] ** step;
      adam(W, gW, mW, vW, bc1, bc2);
      adam(b, gB, mB, vB, bc1, bc2);
    }
    history.push(total / Math.max(train.length, 1));
  }
  const head = {W, b, C, D, history, train, test};
  head.testAcc = test.length ? test.filter(i => argmax(predictHead(head, features[i])) === labels[i]).length / test.length
    : null;
  head.ms = performance.now() - t0;
  return head;
}

export function predictHead(head, x) {
  return softmaxRow(logits(head.W, head.b, x, head.C, head.D));
}

export function argmax(xs) {
  let k = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[k]) k = i;
  return k;
}

export function headToJSON(head, classes) {
  return {classes, dim: head.D, W: Array.from(head.W), b: Array.from(head.b), test_acc: head.testAcc,
          trained: new Date().toISOString(), input: 'RGB 0-255, 1x3xSxS, squashed (not cropped) to S x S'};
}

// ---- the backbone -------------------------------------------------------------------------------------------
let backbone = null;

export function loadBackbone() {
  if (!backbone) backbone = (async () => {
    const info = await (await fetch('/vd/classes/backbone.json')).json();
    const rt = await loadOrt();
    const t0 = performance.now();
    const session = await createSession(rt, await cachedBytes(info.url));
    return {...info, session, rt, runtime: describeRuntime(rt), loadMs: performance.now() - t0,
            canvas: document.createElement('canvas')};
  })().catch(err => { backbone = null; throw err; });
  return backbone;
}

async function cachedBytes(url) {
  // The backbone (13 MB) kept in the page's Cache Storage: the HTTP cache of a private window or a small cache
  // drops a file that big, and a class would download it again at every visit. The URL holds the weights' sha256.
  if (!self.caches) return new Uint8Array(await (await fetch(url)).arrayBuffer());   // not a secure context
  const cache = await caches.open('vision_demo_models');
  let response = await cache.match(url);
  if (!response) {
    response = await fetch(url);
    if (!response.ok) throw new Error('the backbone did not download (' + response.status + ')');
    await cache.put(url, response.clone());
  }
  return new Uint8Array(await response.arrayBuffer());
}

export function pixels(bb, source) {
  // The picture squashed to S x S (the server's Resize((S, S))), as 0-255 floats in NCHW.
  const S = bb.size, canvas = bb.canvas;
  canvas.width = S; canvas.height = S;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(source, 0, 0, S, S);
  const rgba = ctx.getImageData(0, 0, S, S).data, plane = S * S, data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    data[i] = rgba[4 * i]; data[plane + i] = rgba[4 * i + 1]; data[2 * plane + i] = rgba[4 * i + 2];
  }
  return data;
}

export async function features(bb, source) {
  const S = bb.size;
  const out = await bb.session.run({image: new bb.rt.ort.Tensor('float32', pixels(bb, source), [1, 3, S, S])});
  return new Float32Array(out.features.data);
}

// ---- IndexedDB: the captures stay in this browser ---------------------------------------------------------
const DB = 'vision_demo_classes', STORE = 'captures', META = 'meta';

function openDB() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore(STORE, {keyPath: 'id', autoIncrement: true});
      req.result.createObjectStore(META);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function tx(db, store, mode, fn) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode), result = fn(t.objectStore(store));
    t.oncomplete = () => resolve(result && 'result' in result ? result.result : undefined);
    t.onerror = () => reject(t.error);
  });
}

export async function store() {
  const db = await openDB();
  return {
    add: rec => tx(db, STORE, 'readwrite', s => s.add(rec)),
    all: () => tx(db, STORE, 'readonly', s => s.getAll()),
    remove: id => tx(db, STORE, 'readwrite', s => s.delete(id)),
    clear: () => tx(db, STORE, 'readwrite', s => s.clear()),
    get: key => tx(db, META, 'readonly', s => s.get(key)),
    put: (key, value) => tx(db, META, 'readwrite', s => s.put(value, key)),
  };
}

// ---- "Download my model": a zip made in the page ----------------------------------------------------------
const CRC = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1; t[n] = c >>> 0; }
  return t;
})();

function crc32(bytes) {
  let c = 0xFFFFFFFF;
  for (let i = 0; i < bytes.length; i++) c = CRC[(c ^ bytes[i]) & 0xFF] ^ (c >>> 8);
  return (c ^ 0xFFFFFFFF) >>> 0;
}

async function deflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function makeZip(files) {
  // files: [{name, bytes: Uint8Array}] -> a Blob (deflated entries; stored when deflate does not help).
  const parts = [], central = [];
  let offset = 0;
  const enc = new TextEncoder();
  for (const f of files) {
    const name = enc.encode(f.name), crc = crc32(f.bytes), packed = await deflate(f.bytes);
    const method = packed.length < f.bytes.length ? 8 : 0, body = method ? packed : f.bytes;
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true); local.setUint16(4, 20, true); local.setUint16(8, method, true);
    local.setUint32(14, crc, true); local.setUint32(18, body.length, true); local.setUint32(22, f.bytes.length, true);
    local.setUint16(26, name.length, true);
    const dir = new DataView(new ArrayBuffer(46));
    dir.setUint32(0, 0x02014b50, true); dir.setUint16(4, 20, true); dir.setUint16(6, 20, true);
    dir.setUint16(10, method, true); dir.setUint32(16, crc, true); dir.setUint32(20, body.length, true);
    dir.setUint32(24, f.bytes.length, true); dir.setUint16(28, name.length, true); dir.setUint32(42, offset, true);
    parts.push(local, name, body);
    central.push(dir, name);
    offset += 30 + name.length + body.length;
  }
  const size = central.reduce((s, p) => s + p.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true); end.setUint16(8, files.length, true); end.setUint16(10, files.length, true);
  end.setUint32(12, size, true); end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end], {type: 'application/zip'});
}

const bytesOf = async url => new Uint8Array(await (await fetch(url)).arrayBuffer());

export async function modelZip(bb, head, classes) {
  const headJSON = {...headToJSON(head, classes), size: bb.size};
  const files = [
    {name: 'index.html', bytes: new TextEncoder().encode(STANDALONE)},
    {name: 'head.json', bytes: new TextEncoder().encode(JSON.stringify(headJSON))},
    {name: 'backbone.onnx', bytes: await bytesOf(bb.url)},
    {name: 'ort.wasm.min.mjs', bytes: await bytesOf(ORT_BASE + 'ort.wasm.min.mjs')},
    {name: 'ort-wasm-simd-threaded.mjs', bytes: await bytesOf(ORT_BASE + 'ort-wasm-simd-threaded.mjs')},
    {name: 'ort-wasm-simd-threaded.wasm', bytes: await bytesOf(ORT_BASE + 'ort-wasm-simd-threaded.wasm')},
    {name: 'LICENSE-onnxruntime-web.txt', bytes: new TextEncoder().encode(ORT_LICENSE)},
  ];
  return makeZip(files);
}

const ORT_LICENSE = 'onnxruntime-web 1.30.0: MIT License, Copyright (c) Microsoft Corporation. ' +
  'https://github.com/microsoft/onnxruntime/blob/main/LICENSE\n';

// The page in the zip: no server at all. Opened from a file, a browser refuses to let a page read its sibling files,
// so it asks for them once (select every file of the folder); served by any static server it fetches them.
export const STANDALONE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>My classes</title>
<style>
body { font: 16px/1.4 system-ui, sans-serif; max-width: 720px; margin: 1.5em auto; padding: 0 1em; }
video { width: 100%; max-width: 480px; transform: scaleX(-1); background: #111; border-radius: 8px; }
.bar { display: flex; align-items: center; gap: 8px; margin: 4px 0; }
.bar span { width: 9em; } .bar div { height: 18px; background: #f97316; border-radius: 4px; }
button { font-size: 1rem; padding: 6px 14px; }
</style></head><body>
<h1>My classes</h1>
<p id="line">Loading the model…</p>
<p id="pick" hidden>This page was opened from a file: choose <b>every file of its folder</b> (Ctrl+A in the dialog)
so it can read its model: <input type="file" id="files" multiple></p>
<p><button id="start" disabled>Start camera</button></p>
<video id="video" playsinline muted></video>
<div id="bars"></div>
<script type="module">
const line = document.getElementById('line'), bars = document.getElementById('bars');
const picked = {};
async function file(name) {
  if (picked[name]) return picked[name];
  const r = await fetch(name);
  if (!r.ok) throw new Error(name + ': ' + r.status);
  return r.blob();
}
async function start() {
  const head = JSON.parse(await (await file('head.json')).text());
  const js = async name => URL.createObjectURL(new Blob([await (await file(name)).text()], {type: 'text/javascript'}));
  const glue = await js('ort-wasm-simd-threaded.mjs');
  const ort = await import(await js('ort.wasm.min.mjs'));
  ort.env.wasm.wasmPaths = {mjs: glue};
  ort.env.wasm.wasmBinary = await (await file('ort-wasm-simd-threaded.wasm')).arrayBuffer();
  ort.env.wasm.numThreads = 1;
  const model = new Uint8Array(await (await file('backbone.onnx')).arrayBuffer());
  const session = await ort.InferenceSession.create(model, {executionProviders: ['wasm']});
  const S = head.size, C = head.classes.length, D = head.dim;
  const canvas = document.createElement('canvas'); canvas.width = S; canvas.height = S;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  bars.innerHTML = head.classes.map((c, i) => '<div class="bar"><span></span><div id="b' + i + '"></div><em id="p' + i + '"></em></div>').join('');
  head.classes.forEach((c, i) => { bars.children[i].firstChild.textContent = c; });
  async function predict(source) {
    ctx.drawImage(source, 0, 0, S, S);
    const rgba = ctx.getImageData(0, 0, S, S).data, n = S * S, x = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) { x[i] = rgba[4 * i]; x[n + i] = rgba[4 * i + 1]; x[2 * n + i] = rgba[4 * i + 2]; }
    const f = (await session.run({image: new ort.Tensor('float32', x, [1, 3, S, S])})).features.data;
    const z = head.classes.map((_, c) => { let s = head.b[c]; for (let d = 0; d < D; d++) s += head.W[c * D + d] * f[d]; return s; });
    const m = Math.max(...z), e = z.map(v => Math.exp(v - m)), t = e.reduce((a, v) => a + v, 0);
    return e.map(v => v / t);
  }
  window.myClasses = {head, predict};
  const video = document.getElementById('video'), btn = document.getElementById('start');
  btn.disabled = false;
  line.textContent = 'Ready: ' + C + ' classes (' + head.classes.join(', ') + '). Nothing leaves this computer.';
  btn.onclick = async () => {
    video.srcObject = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false});
    await video.play();
    btn.disabled = true;
    for (;;) {
      if (video.readyState >= 2) {
        const p = await predict(video);
        p.forEach((v, i) => { document.getElementById('b' + i).style.width = Math.round(300 * v) + 'px';
                              document.getElementById('p' + i).textContent = Math.round(100 * v) + ' %'; });
        const k = p.indexOf(Math.max(...p));
        line.textContent = 'It sees: ' + head.classes[k] + ' (' + Math.round(100 * p[k]) + ' %)';
        document.body.dataset.top = head.classes[k];
      }
      await new Promise(r => setTimeout(r, 100));
    }
  };
}
const pick = document.getElementById('pick');
document.getElementById('files').onchange = ev => {
  for (const f of ev.target.files) picked[f.name] = f;
  pick.hidden = true;
  start().catch(err => { line.textContent = 'Could not load the model: ' + err; });
};
start().catch(() => { pick.hidden = false; line.textContent = 'Choose the files of this folder to load the model.'; });
</script></body></html>
`;
