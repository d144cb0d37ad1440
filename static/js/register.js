// Register: a username, then the head-turn challenge through the camera (or, with liveness
// off, 3 pictures, or 1-5 uploaded photos).
"use strict";

(function () {
  const page = document.getElementById("register-page");
  const withLiveness = page.dataset.liveness === "true";
  const camera = new FaceCamera();
  const result = document.getElementById("result");
  const capture = document.getElementById("capture");
  const username = document.getElementById("username");
  const shots = document.getElementById("shots");
  const tell = (text, kind, code) => say(result, text, kind, code);
  const cameraOn = camera.start(); // resolves to whether the camera runs

  function checkName() {
    if (!username.value.trim() || !username.checkValidity()) {
      tell(MESSAGES.invalid_username, "error");
      username.focus();
      return false;
    }
    return true;
  }

  function done(status, data) {
    if (status === 201) {
      camera.finish();
      camera.tell("Registered.", "ok");
      tell("Welcome, " + data.username + "! Your account is ready.", "ok");
      setTimeout(() => { window.location.href = "/account"; }, 800);
      return true;
    }
    tell(explain(data), "error", data.error);
    return false;
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
    if (!(await cameraOn)) {
      tell("The camera is not on: see the message under the picture.", "error");
      capture.disabled = false;
      return;
    }
    tell("");
    if (!camera.guidance().ready) tell("Waiting for one face, centred and close enough…");
    await camera.whenReady();
    const { status, data, images } = await captureAndSend(
      camera, "/api/register", { username: username.value.trim() }, withLiveness, tell);
    if (images && !withLiveness) showShots(images);
    if (!done(status, data)) {
      camera.showGuidance();
      capture.textContent = "Try again";
      capture.disabled = false;
    }
  });
  enterRuns(document.getElementById("register-form"), capture);

  const upload = document.getElementById("upload");
  if (upload) {
    upload.addEventListener("click", async () => {
      if (!checkName()) return;
      const files = Array.from(document.getElementById("files").files);
      if (!files.length) { tell(MESSAGES.no_image, "error"); return; }
      if (files.length > 5) { tell(MESSAGES.too_many_images, "error"); return; }
      const body = new FormData();
      body.append("username", username.value.trim());
      files.forEach((f) => body.append("image", f));
      tell("Creating your account…");
      const { status, data } = await api("POST", "/api/register", { body });
      done(status, data);
    });
  }
})();
