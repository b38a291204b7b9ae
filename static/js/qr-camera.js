// The phone camera and photo decoding of QR labels, for pages other than the scan screen
// (the stocktake page). Uses the same vendored decoder as scan.js (jsQR, loaded only when
// needed) and the same settings (640 px frames every 180 ms; photos tried at three sizes).
//
//   const camera = qrCamera({ jsqrUrl, video, onCode(text), onError(kind) })
//   camera.open() / camera.close()
//   decodePhoto(file, jsqrUrl) -> Promise<text|null>   (throws Error("decoder"|"photo"))

let jsqrLoading = null;
export function loadDecoder(url) {
  if (window.jsQR) return Promise.resolve(window.jsQR);
  jsqrLoading = jsqrLoading || new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = url;
    s.onload = () => resolve(window.jsQR);
    s.onerror = () => { jsqrLoading = null; reject(new Error("decoder")); };
    document.head.append(s);
  });
  return jsqrLoading;
}

export function qrCamera({ jsqrUrl, video, onCode, onError }) {
  const state = { stream: null, timer: null, canvas: null };
  async function open() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { onError("insecure"); return false; }
    let decode;
    try {
      [decode, state.stream] = await Promise.all([
        loadDecoder(jsqrUrl),
        navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }),
      ]);
    } catch (error) {
      onError("denied");
      return false;
    }
    video.srcObject = state.stream;
    await video.play().catch(() => {});
    state.canvas = state.canvas || document.createElement("canvas");
    const ctx = state.canvas.getContext("2d", { willReadFrequently: true });
    const tick = () => {
      if (!state.stream) return;
      if (video.readyState >= 2 && video.videoWidth) {
        const scale = Math.min(1, 640 / video.videoWidth);
        const w = Math.round(video.videoWidth * scale);
        const h = Math.round(video.videoHeight * scale);
        state.canvas.width = w;
        state.canvas.height = h;
        ctx.drawImage(video, 0, 0, w, h);
        const found = decode(ctx.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: "dontInvert" });
        if (found && found.data) onCode(found.data);
      }
      state.timer = setTimeout(tick, 180);
    };
    tick();
    return true;
  }
  function close() {
    clearTimeout(state.timer);
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    state.stream = null;
  }
  return { open, close };
}

export async function decodePhoto(file, jsqrUrl) {
  const decode = await loadDecoder(jsqrUrl);
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (error) {
    throw new Error("photo");
  }
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  for (const size of [1000, 1600, 640]) {
    const scale = Math.min(1, size / Math.max(bitmap.width, bitmap.height));
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const found = decode(ctx.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height);
    if (found && found.data) return found.data;
  }
  return null;
}
