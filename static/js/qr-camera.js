// The phone camera and photo decoding of QR labels, for pages other than the scan screen
// (the stocktake page). Decodes through decoder.js, the scan screen's one decoder
// (BarcodeDetector: the phone's own, else the vendored polyfill), with the same settings
// (640 px frames every 180 ms; photos tried at three sizes).
//
//   const camera = qrCamera({ decoder, video, onCode(text), onError(kind), every: 180 })
//   camera.open() -> true once the video runs (again: nothing new) / camera.close()
//   decodePhoto(file, decoder) -> Promise<text|null>   (throws Error("decoder"|"photo"))
// where decoder = createDecoder({ script, wasm }) from decoder.js.

export function qrCamera({ decoder, video, onCode, onError, every = 180 }) {
  const state = { stream: null, timer: null, canvas: null };
  async function open() {
    if (state.stream) return true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { onError("insecure"); return false; }
    try {
      [, state.stream] = await Promise.all([
        decoder.ready(),
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
    const tick = async () => {
      if (!state.stream) return;
      if (video.readyState >= 2 && video.videoWidth) {
        const scale = Math.min(1, 640 / video.videoWidth);
        const w = Math.round(video.videoWidth * scale);
        const h = Math.round(video.videoHeight * scale);
        state.canvas.width = w;
        state.canvas.height = h;
        ctx.drawImage(video, 0, 0, w, h);
        try {
          const text = await decoder.decode(ctx.getImageData(0, 0, w, h));
          if (text) onCode(text);
        } catch (error) { /* a frame that cannot be read: try the next one */ }
      }
      if (state.stream) state.timer = setTimeout(tick, every);
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

export async function decodePhoto(file, decoder) {
  try {
    await decoder.ready();
  } catch (error) {
    throw new Error("decoder");
  }
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
    const text = await decoder.decode(ctx.getImageData(0, 0, canvas.width, canvas.height));
    if (text) return text;
  }
  return null;
}
