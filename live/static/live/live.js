/* The live page: camera preview with face boxes, crowd gauge (10 s shares), rolling timeline, rates.
 * Frames go over the WebSocket as 8 bytes of Date.now() (float64, little-endian) + a JPEG; results and
 * states come back as JSON. When the socket still holds an unsent frame, the next one is skipped:
 * the newest frame wins here too, nothing queues up behind a slow network. */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("live-data").textContent);
  const $ = (id) => document.getElementById(id);
  const canvas = $("live-canvas");
  const ctx = canvas.getContext("2d");
  const video = $("live-video");
  const blurBox = $("live-blur");
  const csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  const colour = {};
  data.labels.forEach((label, i) => { colour[label] = data.colours[i]; });
  const MAX_POINTS = 900;     // about 15 minutes of the timeline at one point a second
  let state = data.state.state;
  let latest = null;          // the latest result (boxes for the browser camera)
  let preview = null;         // stream sessions: { image, result } of the latest preview
  let ws = null;
  let camera = null;
  let sendTimer = null;
  let skipped = 0;            // frames this page did not send because the previous one was still on its way
  let lastPlotted = -Infinity;

  const finished = () => state === "stopped" || state === "failed";

  // ---------------------------------------------------------------- WebSocket
  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(scheme + "//" + location.host + data.ws_path);
    ws.binaryType = "arraybuffer";
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "result") onResult(message);
      else if (message.type === "state") onState(message);
      else if (message.type === "error") onState({ state: "failed", label: "Not found", message: message.detail });
    };
    ws.onclose = (event) => { if (event.code !== 4404 && !finished()) setTimeout(connect, 1000); };
  }

  // ---------------------------------------------------------------- the camera
  async function startCamera() {
    const button = $("live-camera");
    try {
      camera = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    } catch (error) {
      $("live-message").textContent = "The camera could not be opened: " + error.message;
      return;
    }
    video.srcObject = camera;
    await video.play();
    if (button) button.hidden = true;
    const grab = document.createElement("canvas");
    sendTimer = setInterval(() => sendFrame(grab), 1000 / data.target_fps);
  }

  function stopCamera() {
    if (sendTimer) clearInterval(sendTimer);
    sendTimer = null;
    if (camera) camera.getTracks().forEach((track) => track.stop());
    camera = null;
  }

  function sendFrame(grab) {
    if (!ws || ws.readyState !== WebSocket.OPEN || !video.videoWidth) return;
    if (state !== "starting" && state !== "running") return;
    if (ws.bufferedAmount > 0) { skipped += 1; return; }
    const scale = Math.min(1, 640 / video.videoWidth);
    grab.width = Math.round(video.videoWidth * scale);
    grab.height = Math.round(video.videoHeight * scale);
    grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
    const sentAt = Date.now();
    grab.toBlob((blob) => {
      if (!blob) return;
      blob.arrayBuffer().then((jpeg) => {
        const out = new Uint8Array(8 + jpeg.byteLength);
        new DataView(out.buffer).setFloat64(0, sentAt, true);
        out.set(new Uint8Array(jpeg), 8);
        if (ws.readyState === WebSocket.OPEN) ws.send(out.buffer);
      });
    }, "image/jpeg", 0.75);
  }

  // ---------------------------------------------------------------- drawing
  function blurred() { return !blurBox || blurBox.checked; }

  function drawFaces(result, source, width, height) {
    const sx = width / result.width;
    const sy = height / result.height;
    ctx.lineWidth = Math.max(2, width / 320);
    ctx.font = Math.max(12, Math.round(width / 45)) + "px system-ui, sans-serif";
    for (const face of result.faces) {
      const x = face.box[0] * sx, y = face.box[1] * sy, w = face.box[2] * sx, h = face.box[3] * sy;
      if (blurred() && source) {
        ctx.save();
        ctx.filter = "blur(" + Math.max(6, Math.round(w / 6)) + "px)";
        ctx.drawImage(source, x, y, w, h, x, y, w, h);
        ctx.restore();
      }
      ctx.strokeStyle = colour[face.emotion];
      ctx.fillStyle = colour[face.emotion];
      ctx.strokeRect(x, y, w, h);
      ctx.fillText(face.emotion, x, Math.max(12, y - 4));
    }
  }

  function draw() {
    if (data.source === "browser" && video.videoWidth) {
      if (canvas.width !== video.videoWidth) { canvas.width = video.videoWidth; canvas.height = video.videoHeight; }
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      if (latest) drawFaces(latest, video, canvas.width, canvas.height);
    } else if (preview) {
      const image = preview.image;
      if (canvas.width !== image.naturalWidth) { canvas.width = image.naturalWidth; canvas.height = image.naturalHeight; }
      ctx.drawImage(image, 0, 0);
      drawFaces(preview.result, image, canvas.width, canvas.height);
    }
    requestAnimationFrame(draw);
  }

  // ---------------------------------------------------------------- results
  function onResult(result) {
    latest = result;
    if (result.preview) {
      const image = new Image();
      image.onload = () => { preview = { image: image, result: result }; };
      image.src = result.preview;
    }
    $("face-count").textContent = result.face_count;
    $("live-rate").textContent = result.effective_fps == null ? "–" : result.effective_fps.toFixed(1);
    const latency = result.client_ms ? Date.now() - result.client_ms : result.latency_ms;
    $("live-latency").textContent = Math.round(latency) + " ms";
    $("live-dropped").textContent = result.dropped + (result.refused || 0) + skipped;
    const gauge = $("live-gauge");
    gauge.dataset.faces = result.window_faces;
    for (const label of data.labels) {
      const share = Math.round((result.shares[label] || 0) * 100);
      gauge.querySelector('[data-emotion="' + label + '"]').style.width = share + "%";
      gauge.querySelector('[data-share="' + label + '"]').textContent = share + "%";
    }
    $("gauge-caption").textContent = "Each expression's share of the " + result.window_faces +
      " faces seen in the last " + result.window_s + " s.";
    if (result.t - lastPlotted >= 1) {
      lastPlotted = result.t;
      const traces = data.labels.map((_, i) => i);
      Plotly.extendTraces("live-timeline", {
        x: data.labels.map(() => [result.t]),
        y: data.labels.map((label) => [result.shares[label] || 0]),
      }, traces, MAX_POINTS);
    }
  }

  function onState(message) {
    state = message.state;
    const badge = $("live-state");
    badge.className = "badge " + state;
    badge.textContent = message.label || state;
    $("live-message").textContent = message.message || "";
    $("live-notice").hidden = finished();
    const pause = $("live-pause"), resume = $("live-resume"), stop = $("live-stop");
    if (pause) pause.hidden = state === "paused" || finished();
    if (resume) resume.hidden = state !== "paused";
    if (stop) stop.hidden = finished() || state === "stopping";
    if (state === "stopping" || finished()) stopCamera();
    if (state === "stopped") {
      if (message.report_url) $("live-report-link").href = message.report_url;
      $("live-report").hidden = false;
    }
  }

  function act(event) {
    const action = event.currentTarget.dataset.action;
    fetch(data.actions[action], {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "X-Requested-With": "XMLHttpRequest", "Accept": "application/json" },
    }).then((answer) => answer.json()).then(onState);
  }

  // ---------------------------------------------------------------- start
  const layout = {
    margin: { t: 10, r: 10, b: 40, l: 45 }, height: 300, showlegend: true, legend: { orientation: "h" },
    xaxis: { title: { text: "seconds since the start" } }, yaxis: { title: { text: "share" }, range: [0, 1] },
  };
  Plotly.newPlot("live-timeline", data.labels.map((label, i) => ({
    x: [], y: [], name: label, mode: "lines", line: { color: data.colours[i], width: 2 },
  })), layout, { responsive: true, displaylogo: false });
  document.querySelectorAll("[data-action]").forEach((button) => button.addEventListener("click", act));
  const cameraButton = $("live-camera");
  if (cameraButton) cameraButton.addEventListener("click", startCamera);
  onState(data.state);
  connect();
  requestAnimationFrame(draw);
})();
