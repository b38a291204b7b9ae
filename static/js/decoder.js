// One decoder for every code the scan screen reads (camera frames and photos): the standard
// BarcodeDetector API, the phone's own where it has one (Android Chrome), else the vendored
// polyfill (barcode-detector + zxing-wasm, served from this site, never a CDN). The polyfill
// and its wasm are fetched on first use; the service worker keeps them after the scan screen's
// first load (scan.html names them in <link rel="prefetch">), so the first camera open on a
// slow line does not wait.
//
//   const decoder = createDecoder({ script, wasm })   // URLs of the polyfill and its wasm
//   await decoder.ready()                             // loads what is missing; throws if it cannot
//   await decoder.decode(source) -> "text" | null      // ImageData, canvas, ImageBitmap, video…

const FORMATS = ["qr_code"];

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = () => resolve();
    s.onerror = () => { s.remove(); reject(new Error(`decoder not loaded: ${src}`)); };
    document.head.append(s);
  });
}

async function nativeReadsQr() {
  if (!("BarcodeDetector" in window)) return false;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code");
  } catch (error) {
    return false;
  }
}

export function createDecoder({ script, wasm }) {
  let loading = null;
  let detector = null;

  function ready() {
    loading = loading || (async () => {
      if (!(await nativeReadsQr())) {
        if (!window.BarcodeDetectionAPI) await loadScript(script);
        const api = window.BarcodeDetectionAPI;
        if (api && api.setZXingModuleOverrides && wasm) {
          api.setZXingModuleOverrides({ locateFile: (path, prefix) => (path.endsWith(".wasm") ? wasm : prefix + path) });
        }
        if (api && api.prepareZXingModule) await api.prepareZXingModule({ fireImmediately: true });
      }
      if (!("BarcodeDetector" in window)) throw new Error("no BarcodeDetector");
      detector = new window.BarcodeDetector({ formats: FORMATS });
      return detector;
    })().catch((error) => { loading = null; throw error; });
    return loading;
  }

  async function decode(source) {
    const d = detector || await ready();
    const found = await d.detect(source);
    const hit = found.find((code) => code.rawValue);
    return hit ? hit.rawValue : null;
  }

  return { ready, decode };
}
