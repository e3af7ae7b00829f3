// A YOLO detector in the page: letterbox the frame like Ultralytics, run the ONNX export, decode its output and
// run class-wise NMS — the steps of vision_demo/detect/browser_export.py (its numpy twin, which the parity test
// compares this with, box for box).
//
//   const yolo = await import('/vd/web/yolo_browser.js');
//   const det = await yolo.loadDetector('/vd/model/<key>.onnx', [256, 320], {0: 'Normal', 1: 'Fall'});
//   const {boxes, ms} = await det.detect(canvasOrVideoOrImage, {conf: 0.25, iou: 0.7, classes: null});
//   // boxes: [{class_id, name, conf, xyxy: [x1, y1, x2, y2]}] in the source's pixels, strongest first
//
// The output is (1, 4 + classes, anchors): cx, cy, w, h in input pixels, then one score per class (already a
// sigmoid; YOLOv8 has no objectness score).
import {loadOrt, createSession, describeRuntime} from './ort_loader.js';

const PAD = 114;        // Ultralytics' letterbox grey
const MAX_DET = 300;    // Ultralytics' max_det
const MAX_WH = 7680;    // class offset: boxes of two classes never overlap, so one NMS pass is class-wise

export function letterboxParams(ih, iw, H, W) {
  // Ultralytics' LetterBox(auto=False, center=True): scale to fit, centre, pad with grey.
  const r = Math.min(H / ih, W / iw);
  const newW = Math.max(Math.round(iw * r), 1), newH = Math.max(Math.round(ih * r), 1);
  return {newW, newH, left: Math.round((W - newW) / 2 - 0.1), top: Math.round((H - newH) / 2 - 0.1)};
}

function sourceSize(source) {
  return [source.videoHeight || source.naturalHeight || source.height, source.videoWidth || source.naturalWidth || source.width];
}

function axis(n, newN) {
  // cv2.INTER_LINEAR's sampling along one axis: pixel centres aligned, edges clamped.
  const scale = n / newN, i0 = new Int32Array(newN), i1 = new Int32Array(newN), f = new Float32Array(newN);
  for (let d = 0; d < newN; d++) {
    let s = (d + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    let k = Math.floor(s);
    if (k >= n - 1) { k = n - 1; s = k; }
    i0[d] = k; i1[d] = Math.min(k + 1, n - 1); f[d] = s - k;
  }
  return {i0, i1, f};
}

export function makeInput(source, H, W, canvas) {
  // (1, 3, H, W) float32 in 0..1, channels first (what the export was traced with). The resize is cv2's bilinear
  // (Ultralytics uses cv2.INTER_LINEAR), done here: a canvas's own downscaling filters differently, and an INT8
  // model turns a few grey levels of difference into a few hundredths of confidence.
  const [ih, iw] = sourceSize(source);
  const {newW, newH, left, top} = letterboxParams(ih, iw, H, W);
  if (canvas.width !== iw || canvas.height !== ih) { canvas.width = iw; canvas.height = ih; }
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(source, 0, 0);
  const src = ctx.getImageData(0, 0, iw, ih).data, n = W * H, data = new Float32Array(3 * n).fill(PAD / 255);
  const xs = axis(iw, newW), ys = axis(ih, newH);
  for (let y = 0; y < newH; y++) {
    const r0 = ys.i0[y] * iw, r1 = ys.i1[y] * iw, fy = ys.f[y], row = (top + y) * W + left;
    for (let x = 0; x < newW; x++) {
      const a = 4 * (r0 + xs.i0[x]), b = 4 * (r0 + xs.i1[x]), c = 4 * (r1 + xs.i0[x]), d = 4 * (r1 + xs.i1[x]);
      const fx = xs.f[x], o = row + x;
      for (let ch = 0; ch < 3; ch++) {
        const top_ = src[a + ch] + (src[b + ch] - src[a + ch]) * fx, bot = src[c + ch] + (src[d + ch] - src[c + ch]) * fx;
        data[ch * n + o] = Math.round(top_ + (bot - top_) * fy) / 255;   // rounded to a grey level, as cv2's uint8
      }
    }
  }
  return {data, ih, iw};
}

function iouOf(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9);
}

export function decode(out, dims, ih, iw, H, W, {conf = 0.25, iou = 0.7, classes = null} = {}) {
  const nc = dims[1] - 4, na = dims[2];
  const wanted = classes && classes.length ? new Set(classes) : null;
  const cand = [];
  for (let a = 0; a < na; a++) {
    let best = -1, cls = 0;
    for (let c = 0; c < nc; c++) {
      const s = out[(4 + c) * na + a];
      if (s > best) { best = s; cls = c; }
    }
    if (!(best > conf) || (wanted && !wanted.has(cls))) continue;
    const cx = out[a], cy = out[na + a], w = out[2 * na + a], h = out[3 * na + a];
    const xyxy = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
    cand.push({cls, score: best, xyxy, shifted: xyxy.map(v => v + cls * MAX_WH)});
  }
  cand.sort((p, q) => q.score - p.score);   // stable: ties keep anchor order, as numpy's stable argsort
  const kept = [];
  for (const c of cand) {
    if (kept.length >= MAX_DET) break;
    if (kept.every(k => iouOf(k.shifted, c.shifted) <= iou)) kept.push(c);
  }
  const {newW, newH, left, top} = letterboxParams(ih, iw, H, W);
  const gx = newW / iw, gy = newH / ih, clip = (v, hi) => Math.min(Math.max(v, 0), hi);
  return kept.map(k => ({class_id: k.cls, conf: k.score,
    xyxy: [clip((k.xyxy[0] - left) / gx, iw), clip((k.xyxy[1] - top) / gy, ih),
           clip((k.xyxy[2] - left) / gx, iw), clip((k.xyxy[3] - top) / gy, ih)]}));
}

export async function loadDetector(url, shape, names) {
  const rt = await loadOrt();
  const t0 = performance.now();
  const session = await createSession(rt, url);
  const loadMs = performance.now() - t0;
  const [H, W] = shape, canvas = document.createElement('canvas');
  const inputName = session.inputNames[0], outputName = session.outputNames[0];
  async function detect(source, options = {}) {
    const t = [performance.now()];
    const {data, ih, iw} = makeInput(source, H, W, canvas);
    t.push(performance.now());
    const result = await session.run({[inputName]: new rt.ort.Tensor('float32', data, [1, 3, H, W])});
    t.push(performance.now());
    const out = result[outputName];
    const boxes = decode(out.data, out.dims, ih, iw, H, W, options);
    for (const b of boxes) b.name = names[b.class_id] ?? String(b.class_id);
    t.push(performance.now());
    return {boxes, w: iw, h: ih,
            ms: {preprocess: t[1] - t[0], inference: t[2] - t[1], postprocess: t[3] - t[2], total: t[3] - t[0]}};
  }
  return {detect, session, runtime: rt, loadMs, text: describeRuntime(rt), shape};
}
