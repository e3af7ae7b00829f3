// onnxruntime-web, loaded once per page from the app's own routes (never a CDN), for any tab that runs a model
// in the student's browser.
//
//   const {loadOrt, createSession, describeRuntime} = await import('/vd/web/ort_loader.js');
//   const rt = await loadOrt();                  // {ort, backend: 'wasm', threads, isolated, why}
//   const session = await createSession(rt, '/vd/model/<key>.onnx');
//   const out = await session.run({images: new rt.ort.Tensor('float32', data, [1, 3, h, w])});
//   describeRuntime(rt)                          // "WASM, 1 thread (not cross-origin isolated)"
//
// Threads: onnxruntime-web uses them only when the page is cross-origin isolated (the app sends COOP/COEP unless
// started with --no-isolation), then min(4, ceil(cores / 2)) of them: a 2-core laptop gets one either way.
// `?threads=N` in the page's address asks for N (to measure single- against multi-threaded speed).
// WebGPU is not vendored (its binary is 6.6 MB gzipped, over the repository's 5 MB a file): every model runs
// on the WASM backend, with SIMD (every current Chrome, Edge, Firefox; Safari from 16.4).

export const ORT_VERSION = '1.30.0';
// Absolute (onnxruntime-web resolves a relative prefix against its own folder, not the page).
export const ORT_BASE = new URL('../ort/' + ORT_VERSION + '/', import.meta.url).href;

let loading = null;

function askedThreads() {
  const n = parseInt(new URLSearchParams(location.search).get('threads') || '', 10);
  return Number.isFinite(n) && n > 0 ? Math.min(n, 16) : 0;
}

export function loadOrt() {
  if (!loading) loading = (async () => {
    const ort = await import(ORT_BASE + 'ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = ORT_BASE;      // the .mjs glue and the .wasm (sent gzipped, unpacked by the browser)
    ort.env.wasm.proxy = false;             // inference on the page's thread: the loop awaits it anyway
    const isolated = self.crossOriginIsolated === true;
    const cores = navigator.hardwareConcurrency || 1;
    const asked = askedThreads();
    const threads = !isolated ? 1 : (asked || Math.min(4, Math.ceil(cores / 2)));
    ort.env.wasm.numThreads = threads;
    const why = !isolated ? 'not cross-origin isolated'
      : asked ? 'asked for in the address' : 'cross-origin isolated, ' + cores + ' cores';
    return {ort, backend: 'wasm', threads, isolated, cores, why};
  })();
  return loading;
}

async function fetchOnce(url) {
  // The app sends models as immutable, but a browser's HTTP cache may still drop an 11-44 MB file (a private
  // window keeps only a small one in memory): keep them in the page's Cache Storage too, where it exists
  // (secure pages only: localhost or HTTPS). Their URLs hold the weights' hash: an entry never goes stale.
  const store = self.caches ? await caches.open('vd-models-v1').catch(() => null) : null;
  const hit = store && await store.match(url);
  if (hit) return new Uint8Array(await hit.arrayBuffer());
  const response = await fetch(url);
  if (!response.ok) throw new Error(url + ': HTTP ' + response.status);
  if (store) await store.put(url, response.clone()).catch(() => {});   // full (quota): the HTTP cache still helps
  return new Uint8Array(await response.arrayBuffer());
}

export async function createSession(rt, model, options = {}) {
  // model: a URL (fetched once, then from the page's cache) or the model's bytes.
  const bytes = typeof model === 'string' ? await fetchOnce(model) : model;
  return rt.ort.InferenceSession.create(bytes, {executionProviders: ['wasm'], graphOptimizationLevel: 'all',
                                               ...options});
}

export function describeRuntime(rt) {
  return 'WASM, ' + rt.threads + (rt.threads === 1 ? ' thread' : ' threads') + ' (' + rt.why + ')';
}
