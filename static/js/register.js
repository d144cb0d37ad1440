// Register: username + 3 webcam pictures (or 1-5 uploaded photos).
"use strict";

(function () {
  const camera = pageCamera();
  const result = document.getElementById("result");
  const capture = document.getElementById("capture");
  const username = document.getElementById("username");
  const shots = document.getElementById("shots");
  let cameraOk = false;

  function checkName() {
    if (!username.value.trim() || !username.checkValidity()) {
      say(result, MESSAGES.invalid_username, "error");
      username.focus();
      return false;
    }
    return true;
  }

  async function send(images) {
    const body = new FormData();
    body.append("username", username.value.trim());
    images.forEach((blob, i) => body.append("image", blob, "face" + i + ".jpg"));
    say(result, "Creating your account…");
    const { status, data } = await api("POST", "/api/register", { body });
    capture.disabled = false;
    if (status === 201) {
      say(result, "Welcome, " + data.username + "! Your account is ready.", "ok");
      setTimeout(() => { window.location.href = "/account"; }, 800);
      return;
    }
    say(result, explain(data), "error");
  }

  function showShots(blobs) {
    shots.replaceChildren();
    for (const blob of blobs) {
      const img = document.createElement("img");
      img.src = URL.createObjectURL(blob);
      img.alt = "captured picture";
      shots.appendChild(img);
    }
  }

  capture.addEventListener("click", async () => {
    if (!checkName()) return;
    capture.disabled = true;
    if (!cameraOk) cameraOk = await camera.start();
    if (!cameraOk) { capture.disabled = false; return; }
    say(result, "Look at the camera…");
    if (!(await camera.waitForCentredFace())) {
      const n = camera.last ? camera.last.faces.length : 0;
      say(result, n > 1 ? MESSAGES.multiple_faces : MESSAGES.no_face, "error");
      capture.disabled = false;
      return;
    }
    const blobs = await camera.frames(3, 400);
    showShots(blobs);
    await send(blobs);
  });

  document.getElementById("upload").addEventListener("click", () => {
    if (!checkName()) return;
    const files = Array.from(document.getElementById("files").files);
    if (!files.length) { say(result, MESSAGES.no_image, "error"); return; }
    if (files.length > 5) { say(result, MESSAGES.too_many_images, "error"); return; }
    send(files);
  });
  camera.start().then((ok) => { cameraOk = ok; });
})();
