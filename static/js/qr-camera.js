// The phone camera and photo decoding of QR labels: the one camera loop of the scan screen,
// the stocktake page and the kiosk. Decodes through decoder.js (BarcodeDetector: the phone's
// own, else the vendored polyfill): 640 px frames every 180 ms; photos tried at three sizes.
//
//   const camera = qrCamera({ decoder, video, onCode(text), onError(kind), onStart(), every: 180 })
//   camera.open() -> true once the video runs (again: nothing new) / camera.close()
//   camera.isOpen() / camera.track() -> the video track (for the torch), or null
//   decodePhoto(file, decoder) -> Promise<text|null>   (throws Error("decoder"|"photo"))
// where decoder = createDecoder({ script, wasm }) from decoder.js. onError gets "insecure" (no
// camera API: plain http) or "denied" (no permission, no camera, or the decoder did not load);
// onStart runs when the stream is there, before the video plays (show the viewfinder then).

export function qrCamera({ decoder, video, onCode, onError, onStart = () => {}, every = 180 }) {
  const state = { stream: null, timer: null, canvas: null, opening: null };
  // A second tap while the phone is still asking for the camera waits for the first instead of
  // asking again (a second stream would stay on, unseen, after the first is closed).
  function open() {
    if (state.stream) return Promise.resolve(true);
    state.opening = state.opening || start().finally(() => { state.opening = null; });
    return state.opening;
  }
  async function start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { onError("insecure"); return false; }
    const asked = navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    try {
      [, state.stream] = await Promise.all([decoder.ready(), asked]);
    } catch (error) {
      // the decoder failed while the camera was granted: turn the camera (and its light) off again
      asked.then((stream) => stream.getTracks().forEach((t) => t.stop()), () => {});
      state.stream = null;
      onError("denied");
      return false;
    }
    video.srcObject = state.stream;
    onStart();
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
          if (text && state.stream) onCode(text);
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
  const isOpen = () => state.stream !== null;
  const track = () => (state.stream ? state.stream.getVideoTracks()[0] || null : null);
  return { open, close, isOpen, track };
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
    const text = await decoder.decode(ctx.getImageData(0, 0, canvas.width, canvas.height)).catch(() => null);
    if (text) return text;
  }
  return null;
}
