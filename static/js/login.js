// Log in: wait for one centred face, send 3 frames, show who was recognised.
"use strict";

(function () {
  const camera = pageCamera();
  const result = document.getElementById("result");
  const start = document.getElementById("start");
  const retry = document.getElementById("retry");
  const username = document.getElementById("username");
  let cameraOk = false;

  async function send(images) {
    const body = new FormData();
    images.forEach((blob, i) => body.append("image", blob, "frame" + i + ".jpg"));
    if (username.value.trim()) body.append("username", username.value.trim());
    say(result, "Checking…");
    const { status, data } = await api("POST", "/api/login", { body });
    if (status === 200 && data.ok) {
      say(result, "Welcome, " + data.username + "!", "ok");
      setTimeout(() => { window.location.href = "/account"; }, 800);
      return;
    }
    say(result, explain(data), "error");
    retry.hidden = false;
    start.disabled = false;
  }

  async function loginWithCamera() {
    start.disabled = true;
    retry.hidden = true;
    if (!cameraOk) cameraOk = await camera.start();
    if (!cameraOk) { start.disabled = false; return; }
    say(result, "Look at the camera…");
    const ready = await camera.waitForCentredFace();
    if (!ready) {
      const n = camera.last ? camera.last.faces.length : 0;
      say(result, n > 1 ? MESSAGES.multiple_faces : MESSAGES.no_face, "error");
      retry.hidden = false;
      start.disabled = false;
      return;
    }
    await send(await camera.frames(3));
  }

  start.addEventListener("click", loginWithCamera);
  retry.addEventListener("click", loginWithCamera);
  document.getElementById("upload").addEventListener("click", () => {
    const files = Array.from(document.getElementById("files").files);
    if (!files.length) { say(result, MESSAGES.no_image, "error"); return; }
    send(files.slice(0, 5));
  });
  camera.start().then((ok) => { cameraOk = ok; });
})();
